"""tensorir: a symbolic tensor compiler for Python in the line of Theano.

    import tensorir as tr
    import tensorir.tensor as T
"""

# Before anything loads SciPy's OpenBLAS, which reads its environment once (see the module).
from tensorir.openblas_environment import choose_openblas_environment

choose_openblas_environment()

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
