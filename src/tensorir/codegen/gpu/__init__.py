"""Code generation for NVIDIA GPUs: kernels as MLIR ``gpu.func`` text, lowered to PTX by MLIR.

The scalar bodies are the CPU's (``codegen/cpu``: ``ElementwiseBody``, ``scalar_ops``,
``approx``); this package adds the GPU shapes of the kernel families (grid-stride elementwise,
block reductions with warp shuffles, row kernels), the step table of the GPU, the MLIR pipeline
to PTX and the module lowering behind ``tensorir-opt --emit=ptx``. Nothing here needs a GPU or a
driver: PTX is text, and ``ptxas`` checks it where the CUDA toolkit is installed.
"""
