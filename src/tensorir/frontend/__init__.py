"""The symbolic frontend: variables, ``T.*`` functions, shared variables, ``function``."""
