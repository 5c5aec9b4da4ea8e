"""Code generation for NVIDIA GPUs: kernels as MLIR ``gpu.func`` text, lowered to PTX by MLIR.

The scalar bodies are the CPU's (``codegen/cpu``: ``ElementwiseBody``, ``scalar_ops``,
``approx``) and the device-neutral ``codegen/philox.py``; this package adds the GPU shapes of
the kernel families and what turns them into PTX:

- ``kernel_builder.py``: a ``gpu.func`` written like a CPU kernel (typed parameters, thread and
  block indices, workgroup buffers); ``block_reduce.py``: warp shuffles and block reductions;
- ``lower_elementwise.py`` (flat, vector, strided grid-stride kernels), ``lower_reduction.py``
  (rows and columns), ``lower_nn.py`` (the softmax family), ``lower_argmax.py``,
  ``lower_random.py`` (Philox uniforms), ``lower_scatter.py`` (gathers, atomic ``inc_subtensor``),
  ``lower_pool.py`` (pooling, its gradient and select), ``lower_conv.py`` (im2col, col2im and the
  channels-first copy around cuBLAS or cuDNN; ``conv_pool_kernels.py`` names them per op),
  ``lower_batchnorm.py`` and ``lower_dropout.py`` (fused kernels); ``kernel_text.py`` writes
  their loop nests;
- ``step_table.py``: which ops run as GPU kernels, cuBLAS calls, views or transfers (the others
  on the host, with the reason);
- ``ptx.py``: the MLIR pipeline to PTX per chip; ``ptxas.py``: NVIDIA's assembler as a checker;
- ``module_lowering.py``: ``tensorir-opt --emit=ptx``.

Nothing here needs a GPU or a driver: PTX is text, and ``ptxas`` checks it. The argmax, random
and scatter kernels are not in the step table yet (the CPU runs those ops as their reference,
and the step table gives an op the same kind on both devices or the host); the runtime's steps
are in ``runtime/cuda``.
"""
