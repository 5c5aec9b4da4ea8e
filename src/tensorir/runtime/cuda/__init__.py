"""The CUDA side of the runtime: ``device=cuda`` functions and shared variables on NVIDIA GPUs.

- ``driver.py``: cuda-python's driver (is there one, what is missing), devices, module loads;
- ``device_flag.py``: the ``device`` flag (``cpu``, ``cuda``, ``cudaN``) and what lives on the GPU;
- ``allocator.py``: the caching device allocator; ``context.py``: a device's runtime, one stream
  per function, pinned staging; ``device_array.py`` and ``dlpack.py``: device arrays and their
  ``__cuda_array_interface__`` / ``__dlpack__``;
- ``steps.py``, ``row_steps.py``, ``view_steps.py``: the GPU's step implementations behind the
  native executor's plan; ``cublas.py``: products; ``launch.py`` and ``parameters.py``: launch
  configurations and preallocated parameter blocks; ``modules.py``: kernel modules, cubin cache;
- ``executor.py``: a ``device=cuda`` function's call; ``prepare.py``: PTX bundles, compiled
  without a GPU for a device run.

Only ``driver.py`` (and what calls it) needs cuda-python, and only when it is called. Nothing
of it has run on a GPU yet: the device tests (``pytest -m gpu``) wait for one.
"""
