"""tensorir: a symbolic tensor compiler for Python in the line of Theano.

    import tensorir as tr
    import tensorir.tensor as T
"""

import os

# OpenBLAS's idle worker threads spin for about 0.1 s after each multi-threaded product
# (2**28 cycles) and take a core from tensorir's own kernel threads; on 2 cores that halved
# every kernel after a dense gemm (LeNet step 128 ms -> 73 ms with the fix). This must be set
# before SciPy's OpenBLAS is loaded, which tensorir does lazily at its first product; a value
# the user set stays.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from tensorir import gradient, ifelse, scan_module, tensor
from tensorir.frontend import printing
from tensorir.frontend.config import change_flags, config
from tensorir.frontend.debug_modes import DebugMode, NanGuardMode
from tensorir.frontend.function import Function, In, Param, clone, clone_replace, function
from tensorir.frontend.gradient import Lop, Rop, grad, hessian, jacobian
from tensorir.frontend.intermediate_values import eval_intermediate
from tensorir.frontend.modes import Mode
from tensorir.frontend.printing import pp
from tensorir.frontend.scan import OrderedUpdates, foldl, foldr, map, reduce, scan  # noqa: A004 - Theano's names
from tensorir.frontend.shared import SharedVariable, shared

__version__ = "0.1.0"

__all__ = [
    "OrderedUpdates",
    "foldl",
    "foldr",
    "ifelse",
    "map",
    "reduce",
    "scan",
    "scan_module",
    "Lop",
    "Rop",
    "grad",
    "gradient",
    "hessian",
    "jacobian",
    "DebugMode",
    "Function",
    "NanGuardMode",
    "eval_intermediate",
    "In",
    "Mode",
    "Param",
    "SharedVariable",
    "change_flags",
    "clone",
    "clone_replace",
    "config",
    "function",
    "pp",
    "printing",
    "shared",
    "tensor",
]
