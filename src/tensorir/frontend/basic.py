"""``T.*`` elementwise math and reductions (Theano's names and semantics)."""

from __future__ import annotations

import builtins
from typing import Any

from tensorir.dialects.opdef import IRError
from tensorir.dialects.tir.reduction import normalize_axis
from tensorir.dialects.types import DISCRETE_DTYPES, normalize_dtype
from tensorir.frontend.config import config
from tensorir.frontend.variable import (
    GraphError,
    TensorVariable,
    apply_values,
    as_tensor_variable,
    elemwise,
)


def _unary(op: str) -> Any:
    def f(x: Any) -> TensorVariable:
        return elemwise(op, x)

    f.__name__ = op.split(".")[1]
    f.__doc__ = f"Elementwise ``{f.__name__}`` (``{op}``)."
    return f


def _binary(op: str) -> Any:
    def f(x: Any, y: Any) -> TensorVariable:
        return elemwise(op, x, y)

    f.__name__ = op.split(".")[1]
    f.__doc__ = f"Elementwise ``{f.__name__}`` with broadcasting (``{op}``)."
    return f


neg = _unary("tir.neg")
abs = _unary("tir.abs")  # noqa: A001 - Theano's name
abs_ = abs
sgn = _unary("tir.sign")
sign = sgn
inv = _unary("tir.reciprocal")
reciprocal = inv
sqr = _unary("tir.sqr")
sqrt = _unary("tir.sqrt")
exp = _unary("tir.exp")
exp2 = _unary("tir.exp2")
expm1 = _unary("tir.expm1")
_plain_log = _unary("tir.log")


def log(x: Any) -> TensorVariable:
    """Natural logarithm, built in a stable form where the argument makes that exact.

    The gradient is taken of the graph as built, before any rewrite, so the forms whose naive
    gradient divides by an underflowing value are built stable here:
    ``log(softmax(x)) = log_softmax(x)``, ``log(sigmoid(x)) = -softplus(-x)``,
    ``log(exp(x)) = x``. (The ``stabilize`` rewrite handles the same forms in IR text.)
    """
    v = as_tensor_variable(x)
    op = v.value.owner
    if op is not None:
        if op.name == "tir.softmax":
            return apply_values("tir.log_softmax", [op.operands[0]], dict(op.attributes))
        if op.name == "tir.sigmoid" and v.dtype == op.operands[0].type.dtype:
            inner = apply_values("tir.neg", [op.operands[0]], {})
            return -apply_values("tir.softplus", [inner.value], {})
        if op.name == "tir.exp" and v.dtype == op.operands[0].type.dtype:
            from tensorir.frontend.variable import wrap

            return wrap(op.operands[0])
    return _plain_log(v)
log2 = _unary("tir.log2")
log10 = _unary("tir.log10")
log1p = _unary("tir.log1p")
sin = _unary("tir.sin")
cos = _unary("tir.cos")
tan = _unary("tir.tan")
arcsin = _unary("tir.arcsin")
arccos = _unary("tir.arccos")
arctan = _unary("tir.arctan")
sinh = _unary("tir.sinh")
cosh = _unary("tir.cosh")
tanh = _unary("tir.tanh")
arcsinh = _unary("tir.arcsinh")
arccosh = _unary("tir.arccosh")
arctanh = _unary("tir.arctanh")
erf = _unary("tir.erf")
erfc = _unary("tir.erfc")
sigmoid = _unary("tir.sigmoid")
softplus = _unary("tir.softplus")
floor = _unary("tir.floor")
ceil = _unary("tir.ceil")
trunc = _unary("tir.trunc")
isnan = _unary("tir.isnan")
isinf = _unary("tir.isinf")
invert = _unary("tir.invert")
bitwise_not = invert

add_pair = _binary("tir.add")
sub = _binary("tir.sub")
mul_pair = _binary("tir.mul")
int_div = _binary("tir.int_div")
floor_div = int_div
mod = _binary("tir.mod")
pow = _binary("tir.pow")  # noqa: A001 - Theano's name
power = pow
maximum = _binary("tir.maximum")
minimum = _binary("tir.minimum")
arctan2 = _binary("tir.arctan2")
lt = _binary("tir.lt")
gt = _binary("tir.gt")
le = _binary("tir.le")
ge = _binary("tir.ge")
eq = _binary("tir.eq")
neq = _binary("tir.neq")
and_ = _binary("tir.and")
or_ = _binary("tir.or")
xor = _binary("tir.xor")
bitwise_and, bitwise_or, bitwise_xor = and_, or_, xor
less, greater, less_equal, greater_equal, equal, not_equal = lt, gt, le, ge, eq, neq


def add(*xs: Any) -> TensorVariable:
    """Sum of any number of tensors (Theano's variadic ``add``)."""
    if not xs:
        raise TypeError("add needs at least one operand")
    out = as_tensor_variable(xs[0]) if len(xs) == 1 else add_pair(xs[0], xs[1])
    for x in xs[2:]:
        out = add_pair(out, x)
    return out


def mul(*xs: Any) -> TensorVariable:
    """Product of any number of tensors (Theano's variadic ``mul``)."""
    if not xs:
        raise TypeError("mul needs at least one operand")
    out = as_tensor_variable(xs[0]) if len(xs) == 1 else mul_pair(xs[0], xs[1])
    for x in xs[2:]:
        out = mul_pair(out, x)
    return out


def true_div(x: Any, y: Any) -> TensorVariable:
    """``x / y``; two integer operands follow ``config.int_division`` (floatX by default)."""
    xv, yv = (as_tensor_variable(v) if isinstance(v, TensorVariable) else v for v in (x, y))
    dtypes = [v.dtype for v in (xv, yv) if isinstance(v, TensorVariable)]
    others = [v for v in (xv, yv) if not isinstance(v, TensorVariable)]
    all_int = builtins.all(d in DISCRETE_DTYPES for d in dtypes) and builtins.all(
        isinstance(o, int) for o in others
    )
    if all_int:
        if config.int_division == "int":
            return int_div(x, y)
        if config.int_division == "raise":
            raise GraphError("integer division with '/': use // or set int_division=floatX")
        x, y = (cast(as_tensor_variable(v), config.floatX) for v in (x, y))
    return elemwise("tir.true_div", x, y)


div = true_div


def clip(x: Any, a_min: Any, a_max: Any) -> TensorVariable:
    return elemwise("tir.clip", x, a_min, a_max)


def switch(cond: Any, ift: Any, iff: Any) -> TensorVariable:
    """Elementwise ``where(cond, ift, iff)`` (both branches are computed; see ``ifelse``)."""
    c = as_tensor_variable(cond)
    from tensorir.frontend.variable import weak_operands

    a, b = weak_operands(ift, iff)
    return apply_values("tir.switch", [c.value, a.value, b.value], {})


where = switch


def cast(x: Any, dtype: Any) -> TensorVariable:
    """``x.astype(dtype)``; ``'floatX'`` means ``config.floatX``."""
    if dtype == "floatX":
        dtype = config.floatX
    dtype = normalize_dtype(dtype)
    v = as_tensor_variable(x)
    if v.dtype == dtype:
        return v
    return apply_values("tir.cast", [v.value], {"dtype": dtype})


def round(x: Any, mode: str | None = None) -> TensorVariable:  # noqa: A001 - Theano's name
    """Round half away from zero (Theano's default) or ``mode='half_to_even'`` (NumPy's)."""
    mode = mode or "half_away_from_zero"
    if mode not in ("half_away_from_zero", "half_to_even"):
        raise ValueError(f"round: mode must be 'half_away_from_zero' or 'half_to_even', not {mode!r}")
    return apply_values("tir.round", [as_tensor_variable(x).value], {"mode": mode})


def iround(x: Any, mode: str | None = None) -> TensorVariable:
    return cast(round(x, mode), "int64")


def deg2rad(x: Any) -> TensorVariable:
    return as_tensor_variable(x) * (3.141592653589793 / 180.0)


def rad2deg(x: Any) -> TensorVariable:
    return as_tensor_variable(x) * (180.0 / 3.141592653589793)


def isclose(a: Any, b: Any, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> TensorVariable:
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    close = le(abs(a - b), atol + rtol * abs(b))
    if equal_nan:
        close = or_(close, and_(isnan(a), isnan(b)))
    return close


def allclose(a: Any, b: Any, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> TensorVariable:
    return all(isclose(a, b, rtol, atol, equal_nan))


# -- reductions --------------------------------------------------------------------------------------
def _reduce(op: str, x: Any, axis: Any, keepdims: bool, **attrs: Any) -> TensorVariable:
    v = as_tensor_variable(x)
    try:
        ax = normalize_axis(axis, v.ndim)
    except IRError as exc:
        raise GraphError(f"{op}: {exc}") from None
    return apply_values(op, [v.value], {"axis": ax, "keepdims": keepdims, **attrs})


def sum(x: Any, axis: Any = None, dtype: Any = None, keepdims: bool = False, acc_dtype: Any = None) -> TensorVariable:  # noqa: A001
    out = _reduce("tir.sum", x, axis, keepdims)
    return cast(out, dtype) if dtype is not None else out


def prod(x: Any, axis: Any = None, dtype: Any = None, keepdims: bool = False, acc_dtype: Any = None,
         no_zeros_in_input: bool = False) -> TensorVariable:
    out = _reduce("tir.prod", x, axis, keepdims)
    return cast(out, dtype) if dtype is not None else out


def mean(x: Any, axis: Any = None, dtype: Any = None, op: bool = False, keepdims: bool = False,
         acc_dtype: Any = None) -> TensorVariable:
    out = _reduce("tir.mean", x, axis, keepdims)
    return cast(out, dtype) if dtype is not None else out


def max(x: Any, axis: Any = None, keepdims: bool = False) -> TensorVariable:  # noqa: A001
    return _reduce("tir.max", x, axis, keepdims)


def min(x: Any, axis: Any = None, keepdims: bool = False) -> TensorVariable:  # noqa: A001
    return _reduce("tir.min", x, axis, keepdims)


def argmax(x: Any, axis: Any = None, keepdims: bool = False) -> TensorVariable:
    return _reduce("tir.argmax", x, axis, keepdims)


def argmin(x: Any, axis: Any = None, keepdims: bool = False) -> TensorVariable:
    return _reduce("tir.argmin", x, axis, keepdims)


def max_and_argmax(x: Any, axis: Any = None, keepdims: bool = False) -> tuple[TensorVariable, TensorVariable]:
    return max(x, axis, keepdims), argmax(x, axis, keepdims)


def var(x: Any, axis: Any = None, ddof: int = 0, keepdims: bool = False, corrected: bool = False) -> TensorVariable:
    return _reduce("tir.var", x, axis, keepdims, ddof=1 if corrected and not ddof else ddof)


def std(x: Any, axis: Any = None, ddof: int = 0, keepdims: bool = False, corrected: bool = False) -> TensorVariable:
    return _reduce("tir.std", x, axis, keepdims, ddof=1 if corrected and not ddof else ddof)


def all(x: Any, axis: Any = None, keepdims: bool = False) -> TensorVariable:  # noqa: A001
    return _reduce("tir.all", x, axis, keepdims)


def any(x: Any, axis: Any = None, keepdims: bool = False) -> TensorVariable:  # noqa: A001
    return _reduce("tir.any", x, axis, keepdims)


def ptp(x: Any, axis: Any = None, keepdims: bool = False) -> TensorVariable:
    return max(x, axis, keepdims) - min(x, axis, keepdims)
