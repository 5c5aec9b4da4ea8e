"""``RandomStreams``: symbolic random draws whose state lives in shared variables.

Each draw owns a shared ``uint32[4]`` Philox state (see ``dialects/tir/random.py`` for the bit
layout). The draw is a pure op ``(state, shape, params) -> (new_state, values)``; the new state
is the state variable's ``default_update``, so ``tensorir.function`` advances it at every call
(unless ``no_default_updates=True``). Stream ``i`` of a ``RandomStreams(seed)`` starts from
``seed_state(seed, i)``: the same seed gives the same numbers in every executor and process.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from tensorir.dialects.builtin import constant_value
from tensorir.dialects.tir.random import seed_state
from tensorir.dialects.types import FLOAT_DTYPES, INT_DTYPES, normalize_dtype
from tensorir.frontend.config import config
from tensorir.frontend.shared import SharedVariable, shared
from tensorir.frontend.variable import GraphError, TensorVariable, apply_values, as_tensor_variable


def _seed_int(seed: Any) -> int:
    """A seed as an unsigned 64-bit int (None: fresh entropy from the OS)."""
    if seed is None:
        return int.from_bytes(os.urandom(8), "little")
    if isinstance(seed, int | np.integer):
        return int(seed) & ((1 << 64) - 1)
    words = [int(s) & 0xFFFFFFFF for s in np.asarray(seed).reshape(-1)]
    folded = 0
    for w in words:  # a sequence of ints (MRG's 6-int seeds) folded into 64 bits
        folded = (folded * 0x100000001B3 ^ w) & ((1 << 64) - 1)
    return folded


def _int64(v: TensorVariable) -> TensorVariable:
    if v.dtype not in INT_DTYPES:
        raise GraphError(f"a size must be made of integers, got {v.ir_type}")
    return v if v.dtype == "int64" else apply_values("tir.cast", [v.value], {"dtype": "int64"})


def size_operand(size: Any, ndim: int | None = None) -> tuple[TensorVariable, tuple[int, ...]]:
    """A draw's ``size`` as an int64 vector and its static shape (-1 for run-time dims).

    ``size`` is an int, a tuple of ints and int scalar variables, or an int vector variable of
    static length (``x.shape``, whose static dims are kept).
    """
    if isinstance(size, TensorVariable) and size.ndim == 1:
        n = size.static_shape[0]
        if n is None:
            raise GraphError("a symbolic size vector needs a static length (use x.shape or a tuple)")
        known = constant_value(size.value)
        owner = size.value.owner
        if known is not None:
            static = tuple(int(d) for d in known)
        elif owner is not None and owner.name == "tir.shape":
            static = tuple(-1 if d is None else d for d in owner.operands[0].type.shape)
        else:
            static = (-1,) * n
        vec = _int64(size)
    else:
        dims = [size] if isinstance(size, int | np.integer | TensorVariable) else list(size)
        if all(isinstance(d, int | np.integer) for d in dims):
            static = tuple(int(d) for d in dims)
            if any(d < 0 for d in static):
                raise ValueError(f"size must not be negative, got {tuple(static)}")
            vec = as_tensor_variable(np.asarray(static, dtype=np.int64))
        else:
            parts = []
            codes = []
            for d in dims:
                v = as_tensor_variable(np.int64(d) if isinstance(d, int | np.integer) else d)
                if v.ndim != 0:
                    raise GraphError(f"each entry of size must be a scalar, got {v.ir_type}")
                known = constant_value(v.value)
                codes.append(int(known) if known is not None else -1)
                parts.append(_int64(v))
            static = tuple(codes)
            vec = apply_values("tir.make_vector", [p.value for p in parts], {"dtype": "int64"})
    if ndim is not None and ndim != len(static):
        raise ValueError(f"ndim={ndim} does not match the size {size!r} of length {len(static)}")
    return vec, static


class RandomStreams:
    """Theano's ``RandomStreams(seed)``: a factory of random variables sharing one seed.

    Methods return symbolic samples; each call creates a new stream (its own shared state).
    ``seed(s)`` reseeds every stream; ``updates()`` lists the ``(state, new_state)`` pairs.
    """

    default_seed: int | None = None

    def __init__(self, seed: Any = None) -> None:
        self._seed = _seed_int(seed if seed is not None else self.default_seed)
        self.state_updates: list[tuple[SharedVariable, TensorVariable]] = []

    # -- state ---------------------------------------------------------------------------------------
    def seed(self, seed: Any = None) -> None:
        """Reinitialize every stream from ``seed`` (fresh OS entropy when None)."""
        self._seed = _seed_int(seed)
        for index, (state, _) in enumerate(self.state_updates):
            state.set_value(seed_state(self._seed, index), borrow=True)

    def updates(self) -> list[tuple[SharedVariable, TensorVariable]]:
        """The ``(state, new_state)`` pairs of all draws (to pass as ``updates`` explicitly)."""
        return list(self.state_updates)

    def _draw(self, op: str, size: Any, ndim: int | None, params: Sequence[TensorVariable],
              attrs: dict[str, Any]) -> TensorVariable:
        shape, static = size_operand(size, ndim)
        index = len(self.state_updates)
        state = shared(seed_state(self._seed, index), name=f"random_state_{index}")
        new_state, sample = apply_values(
            op, [state.value, shape.value, *[p.value for p in params]], {"static_shape": static, **attrs}
        )
        state.default_update = new_state
        self.state_updates.append((state, new_state))
        return sample

    def _implicit_size(self, size: Any, params: Sequence[Any]) -> Any:
        """``size=None``: the broadcast shape of the tensor parameters (a scalar if there are none)."""
        if size is not None:
            return size
        tensors = [p for p in params if isinstance(p, TensorVariable)]
        if not tensors:
            return ()
        total = tensors[0]
        for t in tensors[1:]:
            total = total + t
        if total.ndim == 0:
            return ()
        return total.shape

    # -- distributions ---------------------------------------------------------------------------------
    def uniform(self, size: Any = None, low: Any = 0.0, high: Any = 1.0, ndim: int | None = None,
                dtype: Any = None) -> TensorVariable:
        """Uniform samples on ``(low, high)`` of ``dtype`` (default ``config.floatX``)."""
        dtype = _float_dtype(dtype)
        size = self._implicit_size(size, [low, high])
        u = self._draw("tir.random_uniform", size, ndim, [], {"dtype": dtype})
        out = u if _is_number(low, 0) and _is_number(high, 1) else low + (as_tensor_variable(high) - low) * u
        return _cast(out, dtype)

    def normal(self, size: Any = None, avg: Any = 0.0, std: Any = 1.0, ndim: int | None = None,
               dtype: Any = None) -> TensorVariable:
        """Normal samples of mean ``avg`` and standard deviation ``std`` (default dtype floatX)."""
        dtype = _float_dtype(dtype)
        z = self._draw("tir.random_normal", self._implicit_size(size, [avg, std]), ndim, [], {"dtype": dtype})
        out = z if _is_number(avg, 0) and _is_number(std, 1) else z * std + avg
        return _cast(out, dtype)

    def binomial(self, size: Any = None, n: int = 1, p: Any = 0.5, ndim: int | None = None,
                 dtype: Any = "int64") -> TensorVariable:
        """Number of successes in ``n`` trials of probability ``p`` (broadcast to ``size``)."""
        if not isinstance(n, int | np.integer) or isinstance(n, bool):
            raise NotImplementedError("binomial: n must be a Python int")
        pv = as_tensor_variable(p)
        if pv.dtype not in FLOAT_DTYPES:
            pv = apply_values("tir.cast", [pv.value], {"dtype": "float64"})
        return self._draw("tir.random_binomial", self._implicit_size(size, [pv]), ndim, [pv],
                          {"n": int(n), "dtype": normalize_dtype(dtype)})

    def choice(self, size: Any = 1, a: Any = 2, replace: bool = True, p: Any = None,
               ndim: int | None = None, dtype: Any = "int64") -> TensorVariable:
        """Samples of ``range(a)`` (an int) or of a vector ``a``, with probabilities ``p`` (or uniform)."""
        if isinstance(a, int | np.integer):
            if a < 0:
                raise ValueError(f"choice: a must be >= 0, got {a}")
            population = as_tensor_variable(np.arange(int(a), dtype=normalize_dtype(dtype)))
        else:
            population = as_tensor_variable(a)
            if population.ndim != 1:
                raise ValueError(f"choice: a must be an int or a vector, got {population.ir_type}")
        params = [population]
        if p is not None:
            pv = as_tensor_variable(p)
            if pv.dtype not in FLOAT_DTYPES:
                pv = apply_values("tir.cast", [pv.value], {"dtype": "float64"})
            params.append(pv)
        return self._draw("tir.random_choice", () if size is None else size, ndim, params,
                          {"replace": bool(replace)})

    def permutation(self, size: Any = None, n: Any = 1, ndim: int | None = None,
                    dtype: Any = "int64") -> TensorVariable:
        """Permutations of ``range(n)``: shape ``size + (n,)`` (one permutation when size is None)."""
        nv = _int64(as_tensor_variable(np.int64(n) if isinstance(n, int | np.integer) else n))
        if nv.ndim != 0:
            raise GraphError(f"permutation: n must be a scalar, got {nv.ir_type}")
        out = self._draw("tir.random_permutation", () if size is None else size, ndim, [nv], {})
        return _cast(out, normalize_dtype(dtype))


class MRG_RandomStreams(RandomStreams):  # noqa: N801 - Theano's name
    """Theano's ``MRG_RandomStreams(seed=12345)``: the same streams, with Theano's default seed."""

    default_seed = 12345


def stream_state_of(sample: TensorVariable) -> SharedVariable:
    """The shared state of the one random stream ``sample`` was drawn from (Theano's ``sample.rng``).

    The state is tensorir's (a Philox counter, not a NumPy ``RandomState``): ``get_value`` and
    ``set_value`` save and restore a stream, and ``RandomStreams.seed`` reseeds it.
    """
    from tensorir.dialects.ir import ancestors_topological

    states = {
        id(op.operands[0].handle): op.operands[0].handle
        for op in ancestors_topological([sample.value])
        if op.name.startswith("tir.random_") and isinstance(op.operands[0].handle, SharedVariable)
    }
    if len(states) != 1:
        what = "no random stream" if not states else f"{len(states)} random streams"
        raise AttributeError(f"rng: {sample} is drawn from {what}; .rng belongs to a sample of one stream")
    return next(iter(states.values()))


def _float_dtype(dtype: Any) -> str:
    if dtype is None or dtype == "floatX":
        return config.floatX
    name = normalize_dtype(dtype)
    if name not in FLOAT_DTYPES:
        raise ValueError(f"a float dtype is needed, got {name}")
    return name


def _is_number(x: Any, value: float) -> bool:
    return isinstance(x, int | float | np.number) and not isinstance(x, bool) and x == value


def _cast(v: Any, dtype: str) -> TensorVariable:
    v = as_tensor_variable(v)
    return v if v.dtype == dtype else apply_values("tir.cast", [v.value], {"dtype": dtype})


__all__ = ["MRG_RandomStreams", "RandomStreams", "size_operand", "stream_state_of"]
