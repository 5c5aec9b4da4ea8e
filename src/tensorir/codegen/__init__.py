"""Code generation: lowering of kernels to native code (``cpu``) and PTX (``gpu``)."""
