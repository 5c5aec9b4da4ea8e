"""Stable derivatives of unstable composite expressions, as a table read by both modes of autodiff.

The ``stabilize`` pass rewrites the forward graph (``log(1 + exp(x)) -> softplus(x)``), but the
gradient is built earlier, from the graph as the user wrote it: ``T.grad`` expands at once, and the
``autodiff`` pass runs before any rewrite. Differentiated op by op, the naive forms give ``0 * inf``
or ``inf / inf`` where the stable forms are finite (``log(1 + exp(x))`` at x = 100 in float32:
``exp(x) / (1 + exp(x)) = inf / inf``).

So reverse mode asks this table first: when an op is the root of one of the patterns below, the
cotangents of the pattern's inputs are those of the *stable form* of the pattern (built from the
same inputs and differentiated with its own, stable ``vjp`` rules), and the values inside the
pattern get no cotangent from this path. That is the chain rule summed over the same paths, so
the gradient is unchanged wherever the naive one is finite (Theano rewrote the gradient graph the
same way: ``log1pexp_to_softplus``, the sigmoid rewrites, ``crossentropy_softmax_1hot``'s grad op).

The table is read by the walks of ``passes.autodiff`` over a function and by those over loop and
conditional bodies beside ``tir.scan``'s own rules (so it lives with the ops: the IR may not import
a pass); forward mode takes tangents through the same stable forms. Its few questions about
values are asked here, on static types only.

A rule never applies when a value inside its pattern is itself differentiated with respect to, or
held constant (``consider_constant``): then that value's own cotangent is needed. A stable form
is built from the inputs themselves (never looking through them, e.g. ``-(-y)`` stays so), since
its gradient is taken with respect to exactly those values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tensorir.dialects.builder import Builder
from tensorir.dialects.builtin import constant_value
from tensorir.dialects.ir import Operation, Value
from tensorir.dialects.types import INT_DTYPES


@dataclass(frozen=True)
class StableForm:
    """A matched pattern: its inputs, the values strictly inside it, and how to build its stable form."""

    inputs: tuple[Value, ...]
    inside: tuple[Value, ...]
    build: Callable[[Builder], Value]


Rule = Callable[[Operation], StableForm | None]


# -- questions about values (static and conservative: a dynamic dim may be anything) --------------
def defining(v: Value | None, name: str) -> Operation | None:
    op = v.owner if v is not None else None
    return op if op is not None and op.name == name else None


def is_constant(v: Value, value: float) -> bool:
    """Whether ``v`` is a constant with every element equal to ``value``."""
    arr = constant_value(v)
    return arr is not None and arr.size > 0 and arr.dtype.kind in "biuf" and bool(np.all(arr == value))


def absorbs(x: Value, c: Value) -> bool:
    """Whether broadcasting ``c`` against ``x`` provably leaves ``x``'s shape (every dim of ``c`` is 1
    or equal to ``x``'s)."""
    lead = x.type.ndim - c.type.ndim
    return lead >= 0 and all(d == 1 or (d is not None and d == x.type.shape[lead + k])
                             for k, d in enumerate(c.type.shape))


def shapes_may_agree(a: Value, b: Value) -> bool:
    return a.type.ndim == b.type.ndim and all(p is None or q is None or p == q
                                              for p, q in zip(a.type.shape, b.type.shape))


def cast_to(b: Builder, v: Value, dtype: str) -> Value:
    return v if v.type.dtype == dtype else b.op("tir.cast", v, dtype=dtype)


def plus_constant(v: Value, value: float) -> Value | None:
    """``x`` when ``v = x + c`` (either order) with ``c`` all ``value`` and broadcasting into ``x``."""
    op = defining(v, "tir.add")
    if op is None:
        return None
    for x, c in (op.operands, reversed(op.operands)):
        if is_constant(c, value) and absorbs(x, c):
            return x
    return None


def constant_minus(v: Value, value: float) -> Value | None:
    """``x`` when ``v = c - x`` with ``c`` all ``value`` (and broadcasting into ``x``)."""
    op = defining(v, "tir.sub")
    if op is None or not is_constant(op.operands[0], value) or not absorbs(op.operands[1], op.operands[0]):
        return None
    return op.operands[1]


def sum_axis_of(den: Value, e: Value) -> int | None:
    """The axis ``a`` when ``den`` is ``sum(e, axis=a)`` kept as size 1 (``keepdims`` or a dimshuffle)."""
    ndim = e.type.ndim
    shuffle = defining(den, "tir.dimshuffle")
    total = defining(shuffle.operands[0] if shuffle is not None else den, "tir.sum")
    if total is None or total.operands[0] is not e:
        return None
    axes = total.attributes["axis"]
    if axes is None and ndim == 1:
        axes = (0,)
    if axes is None or len(axes) != 1:
        return None
    a = axes[0] % ndim
    if shuffle is None:
        return a if total.attributes["keepdims"] else None
    expected = tuple(range(a)) + (-1,) + tuple(range(a, ndim - 1))
    return a if not total.attributes["keepdims"] and shuffle.attributes["pattern"] == expected else None


def _sigmoid_arg(v: Value) -> Value | None:
    sig = defining(v, "tir.sigmoid")
    return sig.operands[0] if sig is not None else None


def _exp_arg(v: Value) -> Value | None:
    exp = defining(v, "tir.exp")
    return exp.operands[0] if exp is not None else None


def _softmax_of(p: Value) -> tuple[Value, int, tuple[Value, ...]] | None:
    """``(z, axis, inside)`` when ``p`` is ``softmax(z, axis)``: the op, or ``exp(z) / sum(exp(z))``."""
    sm = defining(p, "tir.softmax")
    if sm is not None:
        return sm.operands[0], sm.attributes["axis"] % p.type.ndim, ()
    div = defining(p, "tir.true_div")
    if div is None:
        return None
    num, den = div.operands
    z = _exp_arg(num)
    if z is None or num.type != p.type:
        return None
    axis = sum_axis_of(den, num)
    return (z, axis, (num, den)) if axis is not None else None


def _same_dtype(op: Operation, inputs: Sequence[Value]) -> bool:
    dtype = op.results[0].type.dtype
    return all(v.type.dtype == dtype for v in inputs)


def log_of_one_plus_exp(op: Operation) -> StableForm | None:
    """``log(1 + exp(x))`` and ``log1p(exp(x))`` -> ``softplus(x)``: gradient ``sigmoid(x)``."""
    arg = op.operands[0]
    inner = plus_constant(arg, 1) if op.name == "tir.log" else arg
    x = _exp_arg(inner) if inner is not None else None
    if x is None or not _same_dtype(op, [x]) or x.type.shape != op.results[0].type.shape:
        return None
    inside = (arg, inner) if inner is not arg else (arg,)
    return StableForm((x,), inside, lambda b: b.op("tir.softplus", x))


def log_sigmoid(op: Operation) -> StableForm | None:
    """``log(sigmoid(x)) -> -softplus(-x)``; ``log(1 - sigmoid(x))``, ``log1p(-sigmoid(x)) -> -softplus(x)``."""
    arg = op.operands[0]
    if op.name == "tir.log":
        x = _sigmoid_arg(arg)
        if x is not None and _same_dtype(op, [x]):
            return StableForm((x,), (arg,), lambda b: b.op("tir.neg", b.op("tir.softplus", b.op("tir.neg", x))))
        s = constant_minus(arg, 1)
    else:
        neg = defining(arg, "tir.neg")
        s = neg.operands[0] if neg is not None else None
    x = _sigmoid_arg(s) if s is not None else None
    if x is None or not _same_dtype(op, [x]) or x.type.shape != op.results[0].type.shape:
        return None
    return StableForm((x,), (arg, s), lambda b: b.op("tir.neg", b.op("tir.softplus", x)))


def log_softmax(op: Operation) -> StableForm | None:
    """``log(softmax(z)) -> log_softmax(z)`` (softmax as the op or written out)."""
    arg = op.operands[0]
    found = _softmax_of(arg)
    if found is None or not _same_dtype(op, [found[0]]):
        return None
    z, axis, inside = found
    return StableForm((z,), (arg, *inside), lambda b: b.op("tir.log_softmax", z, axis=axis))


def log_sum_exp(op: Operation) -> StableForm | None:
    """``log(sum(exp(x), axis)) -> logsumexp(x, axis)``."""
    total = defining(op.operands[0], "tir.sum")
    x = _exp_arg(total.operands[0]) if total is not None else None
    if x is None or not _same_dtype(op, [x]):
        return None
    attrs = dict(total.attributes)  # type: ignore[union-attr]
    return StableForm(
        (x,), (op.operands[0], total.operands[0]), lambda b: b.op("tir.logsumexp", x, **attrs)  # type: ignore[union-attr]
    )


def sigmoid_from_exp(op: Operation) -> StableForm | None:
    """``1 / (1 + exp(y)) -> sigmoid(-y)``; ``exp(y) / (1 + exp(y)) -> sigmoid(y)``."""
    num, den = (None, op.operands[0]) if op.name == "tir.reciprocal" else op.operands
    inner = plus_constant(den, 1)
    y = _exp_arg(inner) if inner is not None else None
    if y is None or not _same_dtype(op, [y]) or y.type.shape != op.results[0].type.shape:
        return None
    if num is None or (is_constant(num, 1) and absorbs(den, num)):
        return StableForm((y,), (den, inner), lambda b: b.op("tir.sigmoid", b.op("tir.neg", y)))  # type: ignore[arg-type]
    if _exp_arg(num) is y:
        return StableForm((y,), (num, den, inner), lambda b: b.op("tir.sigmoid", y))  # type: ignore[arg-type]
    return None


def softmax_written_out(op: Operation) -> StableForm | None:
    """``exp(z) / sum(exp(z), axis, keepdims) -> softmax(z, axis)`` (its vjp never divides by inf)."""
    if defining(op.results[0], "tir.true_div") is None:
        return None
    found = _softmax_of(op.results[0])
    if found is None or not _same_dtype(op, [found[0]]):
        return None
    z, axis, inside = found
    return StableForm((z,), inside, lambda b: b.op("tir.softmax", z, axis=axis))


def softmax_crossentropy(op: Operation) -> StableForm | None:
    """``crossentropy_categorical(softmax(z), y) -> softmax_crossentropy(z, y) = logsumexp(z) - z[y]``.

    With a distribution ``t``: ``-sum(t * log_softmax(z), -1)``. Only for the class axis last.
    """
    p, t = op.operands
    found = _softmax_of(p)
    if found is None or found[1] != p.type.ndim - 1:
        return None
    z, _, inside = found
    dtype = op.results[0].type.dtype
    if t.type.ndim == p.type.ndim - 1:
        if t.type.dtype not in INT_DTYPES:
            return None
        return StableForm((z, t), (p, *inside), lambda b: cast_to(b, b.op("tir.softmax_crossentropy", z, t), dtype))
    if not shapes_may_agree(t, p):
        return None

    def build(b: Builder) -> Value:
        logp = cast_to(b, b.op("tir.log_softmax", z, axis=-1), dtype)
        prod = b.op("tir.mul", cast_to(b, t, dtype), logp)
        return b.op("tir.neg", b.op("tir.sum", prod, axis=(p.type.ndim - 1,), keepdims=False))

    return StableForm((z, t), (p, *inside), build)


# Root op name -> the rules tried on it, in order. The forward rewrites of ``stabilize`` with a
# gradient that the op-by-op rules get wrong; those whose naive gradient is already finite
# (``log1p``, ``expm1``) are not listed.
STABLE_VJP_RULES: dict[str, tuple[Rule, ...]] = {
    "tir.log": (log_of_one_plus_exp, log_sigmoid, log_softmax, log_sum_exp),
    "tir.log1p": (log_of_one_plus_exp, log_sigmoid),
    "tir.true_div": (sigmoid_from_exp, softmax_written_out),
    "tir.reciprocal": (sigmoid_from_exp,),
    "tir.crossentropy_categorical": (softmax_crossentropy,),
}


def stable_form(op: Operation, blocked: set[int]) -> StableForm | None:
    """The stable form of the pattern rooted at ``op``, unless a value inside it is in ``blocked``
    (ids of values differentiated with respect to or held constant), or the ops it needs are missing."""
    for rule in STABLE_VJP_RULES.get(op.name, ()):
        form = rule(op)
        if form is not None and not any(id(v) in blocked for v in form.inside):
            return form
    return None
