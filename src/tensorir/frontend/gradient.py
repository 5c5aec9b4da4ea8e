"""``tensorir.grad`` and friends: Theano's gradient API on top of the ``autodiff`` transformation."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from tensorir.dialects.builder import Builder
from tensorir.dialects.types import FLOAT_DTYPES
from tensorir.frontend.config import config
from tensorir.frontend.shape_ops import specify_shape
from tensorir.frontend.variable import TensorVariable, apply_values, as_tensor_variable, wrap
from tensorir.passes.autodiff import jvp_graph, vjp_graph


class DisconnectedInputError(ValueError):
    """A variable to differentiate with respect to is not part of the cost's graph."""


class GradientError(AssertionError):
    """``verify_grad`` found the symbolic gradient differs from finite differences."""

    def __init__(
        self,
        arg: int,
        analytic: np.ndarray,
        numeric: np.ndarray,
        abs_err: float,
        rel_err: float,
        abs_tol: float,
        rel_tol: float,
    ) -> None:
        super().__init__(
            f"gradient of input {arg} does not match finite differences: max abs error {abs_err:.3g} "
            f"(tol {abs_tol:.3g}), max rel error {rel_err:.3g} (tol {rel_tol:.3g})\n"
            f"symbolic: {np.array2string(np.asarray(analytic), threshold=20)}\n"
            f"numeric:  {np.array2string(np.asarray(numeric), threshold=20)}"
        )
        self.arg = arg
        self.analytic = analytic
        self.numeric = numeric
        self.abs_err = abs_err
        self.rel_err = rel_err


def _builder() -> Builder:
    return Builder(track_location=True)


def _as_list(x: Any) -> tuple[list[Any], bool]:
    if isinstance(x, list | tuple):
        return list(x), True
    return [x], False


def _zeros_like(x: TensorVariable, dtype: str | None = None) -> TensorVariable:
    zero = as_tensor_variable(np.asarray(0, dtype=dtype or x.dtype))
    return apply_values("tir.broadcast_like", [zero.value, x.value], {})


def grad(
    cost: Any,
    wrt: Any,
    consider_constant: Sequence[Any] | None = None,
    disconnected_inputs: str = "raise",
    add_names: bool = True,
    known_grads: Mapping[Any, Any] | None = None,
    return_disconnected: str = "zero",
    null_gradients: str = "raise",
) -> Any:
    """Gradients of a scalar ``cost`` with respect to ``wrt`` (a variable or a list of them).

    ``known_grads`` gives cotangents of intermediate variables (then ``cost`` may be None or
    non-scalar). ``consider_constant`` variables are treated as constants. Integer variables get
    zero gradients; a ``wrt`` the cost does not depend on raises ``DisconnectedInputError``
    unless ``disconnected_inputs`` is 'warn' or 'ignore'.
    """
    if disconnected_inputs not in ("raise", "warn", "ignore"):
        raise ValueError(f"disconnected_inputs must be 'raise', 'warn' or 'ignore', not {disconnected_inputs!r}")
    if return_disconnected not in ("zero", "None", "Disconnected"):
        raise ValueError(f"return_disconnected must be 'zero', 'None' or 'Disconnected', not {return_disconnected!r}")
    wrt_list, is_list = _as_list(wrt)
    wrt_vars = [as_tensor_variable(w) for w in wrt_list]
    b = _builder()
    outputs: list[Any] = []
    cotangents: list[Any] = []
    if cost is not None:
        c = as_tensor_variable(cost)
        if c.ndim != 0 and not known_grads:
            raise TypeError(
                f"grad: the cost must be a scalar, got a tensor of type {c.ir_type} (use .sum() or known_grads)"
            )
        if c.dtype not in FLOAT_DTYPES:
            # An integer or boolean cost is piecewise constant: its gradient is no information.
            raise TypeError(
                f"grad: the cost must be a float, got dtype {c.dtype} (cast it, e.g. T.cast(cost, "
                f"{config.floatX!r}), if a gradient through it is meant)"
            )
        outputs.append(c.value)
        cotangents.append(b.constant(np.ones(c.static_shape if c.ndim == 0 else (), dtype=c.dtype)))
    for var, g in (known_grads or {}).items():
        v = as_tensor_variable(var)
        gv = as_tensor_variable(g, like=v.dtype)
        outputs.append(v.value)
        cotangents.append(gv.value)
    if not outputs and cost is None:
        raise TypeError("grad: give a cost or known_grads")
    constants = [as_tensor_variable(x).value for x in (consider_constant or [])]
    grads, connected = vjp_graph(b, outputs, cotangents, [w.value for w in wrt_vars], constants)
    results: list[Any] = []
    for w, g, conn in zip(wrt_vars, grads, connected):
        if not conn:
            msg = (
                f"grad: the cost does not depend on {w.name or w} (its gradient is disconnected). "
                "Pass disconnected_inputs='ignore' or 'warn' to allow it."
            )
            if disconnected_inputs == "raise":
                raise DisconnectedInputError(msg)
            if disconnected_inputs == "warn":
                warnings.warn(msg, stacklevel=2)
            if return_disconnected == "None":
                results.append(None)
                continue
        if g is None:
            dtype = w.dtype if w.dtype in FLOAT_DTYPES else config.floatX
            results.append(_zeros_like(w, dtype))
        else:
            results.append(wrap(g))
    return results if is_list else results[0]


def Lop(
    f: Any,
    wrt: Any,
    eval_points: Any,
    consider_constant: Sequence[Any] | None = None,
    disconnected_inputs: str = "raise",
) -> Any:  # noqa: N802 - Theano's name
    """Left product ``v^T (df/dwrt)``: reverse mode with ``eval_points`` as the cotangents of ``f``."""
    fs, _ = _as_list(f)
    vs, _ = _as_list(eval_points)
    if len(fs) != len(vs):
        raise ValueError(f"Lop: {len(fs)} outputs but {len(vs)} eval points")
    known = {fi: vi for fi, vi in zip(fs, vs)}
    return grad(
        None, wrt, consider_constant=consider_constant, disconnected_inputs=disconnected_inputs, known_grads=known
    )


def Rop(
    f: Any, wrt: Any, eval_points: Any, disconnected_outputs: str = "raise", return_disconnected: str = "zero"
) -> Any:  # noqa: N802 - Theano's name
    """Right product ``(df/dwrt) v``: forward mode through the ops' jvp rules."""
    fs, f_list = _as_list(f)
    ws, _ = _as_list(wrt)
    vs, _ = _as_list(eval_points)
    if len(ws) != len(vs):
        raise ValueError(f"Rop: {len(ws)} variables but {len(vs)} eval points")
    wv = [as_tensor_variable(w) for w in ws]
    tv = [as_tensor_variable(v, like=w.dtype) for v, w in zip(vs, wv)]
    for w, t in zip(wv, tv):
        if w.ndim != t.ndim:
            raise ValueError(f"Rop: eval point of rank {t.ndim} for a variable of rank {w.ndim}")
    # An eval point must have its variable's shape (Theano's contract). Checking it at run time
    # also makes the variable an input of the result, as in Theano, where the tutorial's
    # ``function([W, V, x], Rop(dot(x, W), W, V))`` is valid although ``dot(x, V)`` never reads W.
    tv = [specify_shape(t, w.shape) if t.ndim else t for w, t in zip(wv, tv)]
    fv = [as_tensor_variable(x) for x in fs]
    tangents = jvp_graph(_builder(), [x.value for x in fv], [w.value for w in wv], [t.value for t in tv])
    out = []
    for x, t in zip(fv, tangents):
        if t is None:
            if disconnected_outputs == "raise" and not _depends(x, wv):
                raise DisconnectedInputError(f"Rop: output {x} does not depend on the variables")
            out.append(_zeros_like(x))
        else:
            out.append(wrap(t))
    return out if f_list else out[0]


def _depends(x: TensorVariable, ws: Sequence[TensorVariable]) -> bool:
    from tensorir.dialects.ir import graph_inputs

    ids = {id(w.value) for w in ws}
    return any(id(v) in ids for v in graph_inputs([x.value], stop=[w.value for w in ws]))


def jacobian(
    expression: Any, wrt: Any, consider_constant: Sequence[Any] | None = None, disconnected_inputs: str = "raise"
) -> Any:
    """The Jacobian of a vector (or scalar) ``expression``: one gradient per element, stacked.

    A static-length expression is unrolled; a dynamic length loops with ``scan``.
    """
    from tensorir.frontend import shape_ops

    e = as_tensor_variable(expression)
    wrt_list, is_list = _as_list(wrt)
    if e.ndim == 0:
        out = grad(e, wrt_list, consider_constant=consider_constant, disconnected_inputs=disconnected_inputs)
        return out if is_list else out[0]
    flat = shape_ops.flatten(e) if e.ndim > 1 else e
    n = flat.static_shape[0]
    if n is not None:
        rows = [
            grad(flat[i], wrt_list, consider_constant=consider_constant, disconnected_inputs=disconnected_inputs)
            for i in range(n)
        ]
        out = []
        for k, w in enumerate(wrt_list):
            wv = as_tensor_variable(w)
            stacked = _stack_rows([r[k] for r in rows], wv) if rows else _empty_jacobian(wv)
            out.append(shape_ops.reshape(stacked, (*_dims(e), *_dims(wv))) if e.ndim > 1 else stacked)
        return out if is_list else out[0]
    from tensorir.frontend.scan import scan

    def row(i: Any, *_: Any) -> list[Any]:
        return grad(flat[i], wrt_list, consider_constant=consider_constant, disconnected_inputs=disconnected_inputs)

    jac, _updates = scan(row, sequences=shape_ops.arange(flat.shape[0]), non_sequences=[flat, *wrt_list])
    jac_list = jac if isinstance(jac, list) else [jac]
    if e.ndim > 1:
        jac_list = [
            shape_ops.reshape(j, (*_dims(e), *_dims(as_tensor_variable(w)))) for j, w in zip(jac_list, wrt_list)
        ]
    return jac_list if is_list else jac_list[0]


def _dims(v: TensorVariable) -> list[Any]:
    return [d if d is not None else v.shape[i] for i, d in enumerate(v.static_shape)]


def _stack_rows(rows: Sequence[TensorVariable], w: TensorVariable) -> TensorVariable:
    from tensorir.frontend import shape_ops

    padded = [shape_ops.shape_padleft(r) for r in rows]
    return shape_ops.concatenate(padded, axis=0)


def _empty_jacobian(w: TensorVariable) -> TensorVariable:
    raise ValueError("jacobian of an empty expression")


def hessian(
    cost: Any, wrt: Any, consider_constant: Sequence[Any] | None = None, disconnected_inputs: str = "raise"
) -> Any:
    """The Hessian of a scalar ``cost``: the Jacobian of its gradient, for each vector ``wrt``."""
    wrt_list, is_list = _as_list(wrt)
    out = []
    for w in wrt_list:
        wv = as_tensor_variable(w)
        if wv.ndim != 1:
            raise TypeError(f"hessian: wrt must be vectors, got {wv.ir_type}")
        g = grad(cost, wv, consider_constant=consider_constant, disconnected_inputs=disconnected_inputs)
        out.append(jacobian(g, wv, consider_constant=consider_constant, disconnected_inputs=disconnected_inputs))
    return out if is_list else out[0]


def _stop(name: str, x: Any, **attrs: Any) -> TensorVariable:
    return apply_values(name, [as_tensor_variable(x).value], attrs)


def zero_grad(x: Any) -> TensorVariable:
    """Identity whose gradient is zero (the variable stays connected)."""
    return _stop("tir.zero_grad", x)


def disconnected_grad(x: Any) -> TensorVariable:
    """Identity the gradient does not flow through (as if ``x`` were a constant)."""
    return _stop("tir.disconnected_grad", x)


consider_constant = disconnected_grad


def grad_clip(x: Any, lower_bound: float, upper_bound: float) -> TensorVariable:
    """Identity whose gradient is clipped to ``[lower_bound, upper_bound]``."""
    return _stop("tir.grad_clip", x, lower=float(lower_bound), upper=float(upper_bound))


def grad_scale(x: Any, multiplier: float) -> TensorVariable:
    """Identity whose gradient is multiplied by ``multiplier``."""
    return _stop("tir.grad_scale", x, multiplier=float(multiplier))


# -- numeric checking -----------------------------------------------------------------------------------
def numeric_grad(f: Callable[..., float], points: Sequence[np.ndarray], eps: float) -> list[np.ndarray]:
    """Central finite differences of a scalar function of several arrays."""
    grads = []
    for p in points:
        g = np.zeros(p.shape, dtype=np.float64)
        flat = p.reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + eps
            plus = f(*points)
            flat[i] = old - eps
            minus = f(*points)
            flat[i] = old
            g.reshape(-1)[i] = (plus - minus) / (2 * eps)
        grads.append(g)
    return grads


_DEFAULT_EPS = {"float64": 1e-6, "float32": 1e-3, "float16": 1e-1}
_DEFAULT_TOL = {"float64": 1e-4, "float32": 1e-2, "float16": 5e-2}


def verify_grad(
    fun: Callable[..., Any],
    pt: Sequence[Any],
    n_tests: int = 2,
    rng: Any = None,
    eps: float | None = None,
    out_type: Any = None,
    abs_tol: float | None = None,
    rel_tol: float | None = None,
    mode: Any = None,
    cast_to_output_type: bool = False,
    no_debug_ref: bool = True,
) -> None:
    """Check ``tensorir.grad`` of ``fun`` at ``pt`` against finite differences (Theano's method).

    The output is projected on a random tensor to make a scalar cost; the symbolic gradient of
    that cost is compared with central differences. Raises ``GradientError`` with both values.
    """
    from tensorir.frontend.function import function
    from tensorir.frontend.types import TensorType

    if rng is None:
        rng = np.random.default_rng(42)
    points = [np.array(p, copy=True) for p in pt]
    for p in points:
        if p.dtype.name not in FLOAT_DTYPES:
            raise TypeError(f"verify_grad: points must be float arrays, got {p.dtype}")
    inputs = [TensorType(p.dtype.name, shape=(None,) * p.ndim)(f"input{i}") for i, p in enumerate(points)]
    out = as_tensor_variable(fun(*inputs))
    dtype = np.result_type(*[p.dtype for p in points]).name
    eps = eps if eps is not None else _DEFAULT_EPS.get(dtype, 1e-6)
    abs_tol = abs_tol if abs_tol is not None else _DEFAULT_TOL.get(dtype, 1e-4)
    rel_tol = rel_tol if rel_tol is not None else _DEFAULT_TOL.get(dtype, 1e-4)
    for _ in range(n_tests):
        out_value = function(inputs, out, mode=mode, on_unused_input="ignore")(*points)
        projection = _random_like(rng, np.asarray(out_value))
        proj = as_tensor_variable(projection)
        cost = (out * proj).sum() if out.ndim else out * proj
        cost_fn = function(inputs, cost, mode=mode, on_unused_input="ignore")
        grads = grad(cost, inputs, disconnected_inputs="ignore")
        grad_fn = function(inputs, grads, mode=mode, on_unused_input="ignore")
        analytic = grad_fn(*points)
        numeric = numeric_grad(lambda *xs, fn=cost_fn: float(fn(*xs)), points, eps)
        for k, (a, n) in enumerate(zip(analytic, numeric)):
            a64 = np.asarray(a, dtype=np.float64)
            abs_err = np.abs(a64 - n)
            rel_err = abs_err / np.maximum(np.abs(a64) + np.abs(n), 1e-8)
            max_abs = float(abs_err.max()) if abs_err.size else 0.0
            max_rel = float(rel_err.max()) if rel_err.size else 0.0
            # An element fails only if both its absolute and relative errors are too big.
            bad = (abs_err > abs_tol) & (rel_err > rel_tol)
            if bad.any():
                raise GradientError(k, a64, n, max_abs, max_rel, abs_tol, rel_tol)


def _random_like(rng: Any, value: np.ndarray) -> np.ndarray:
    dtype = value.dtype if value.dtype.name in FLOAT_DTYPES else np.float64
    return (rng.random(value.shape) + 0.5).astype(dtype)
