"""The CUDA side of the runtime: the driver (through cuda-python), launch configurations and
launch parameter blocks. Only :mod:`.driver` needs cuda-python, and only when it is called.

Nothing of it has run on a GPU yet: the device tests (``pytest -m gpu``) wait for one.
"""
