"""Counter-based random draws: pure functions ``(state, shape, ...) -> (new_state, values)``.

Every op is built on Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
SC 2011), so the same state gives the same numbers in every executor and on every machine.

Bit layout (what a native backend must reproduce):

- **State**: a ``uint32`` vector of 4 words ``[k0, k1, lo, hi]``: the Philox key ``(k0, k1)`` and
  the 64-bit index ``pos = hi * 2**32 + lo`` of the next unused counter block.
- **Blocks**: block ``b`` of a draw (``b = 0, 1, ...``) is ``philox4x32_10(counter, key)`` with
  counter words ``(c0, c1, c2, c3) = (lo32(pos + b), hi32(pos + b), 0, 0)`` (mod 2**64); it gives
  four words ``x0..x3``. The draw's word stream is ``x0, x1, x2, x3`` of block 0, then block 1, ...
- A draw consuming ``m`` words uses ``ceil(m / 4)`` blocks; leftover words of the last block are
  dropped and the new state is ``[k0, k1, lo32(pos'), hi32(pos')]`` with ``pos' = pos + ceil(m/4)``.
- **Seeding** (``seed_state``): the key of stream ``s`` under seed ``S`` (an unsigned 64-bit
  integer) is words ``x0, x1`` of ``philox4x32_10((lo32(s), hi32(s), 0x5EED, 0), (lo32(S), hi32(S)))``;
  the position starts at 0.

Conversions from words (``w`` a word, elements taken in C order of the result):

- uniform on (0, 1) with ``p`` significand bits (24 float32, 11 float16: one word per value;
  53 float64: two words ``hi, lo`` per value): ``m`` = the top ``p - 1`` bits (``w >> (33 - p)``,
  or ``(hi >> 12) * 2**32 + lo`` for float64), ``u = (2*m + 1) * 2**-p``: exact, never 0 or 1.
- normal: Box-Muller on uniform pairs ``(u1, u2)`` of the dtype's precision, computed in float64:
  values ``2j, 2j+1`` are ``r*cos(2*pi*u2), r*sin(2*pi*u2)`` with ``r = sqrt(-2*log(u1))``.
- binomial(n, p): trial ``t`` of value ``i`` uses word ``n*i + t``; success iff ``w * 2**-32 < p``.
- choice with replacement: index ``(w * a) >> 32`` (one word); with ``p``: a float64 uniform ``u``
  (two words) and the first index whose cumulative probability exceeds ``u * sum(p)``.
- choice without replacement and permutations: a 64-bit key per element (two words ``hi, lo``,
  ``key = hi * 2**32 + lo``) and a stable sort of the keys; with ``p``, the ``k`` largest
  ``log(u) / p`` (Efraimidis-Spirakis weighted sampling without replacement).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tensorir.dialects.opdef import REQUIRED, IRError, OpDef, cast_result
from tensorir.dialects.types import FLOAT_DTYPES, INT_DTYPES, TensorType, broadcast_shapes, normalize_dtype

PHILOX_M0 = 0xD2511F53
PHILOX_M1 = 0xCD9E8D57
PHILOX_W0 = 0x9E3779B9  # golden ratio
PHILOX_W1 = 0xBB67AE85  # sqrt(3) - 1
SEED_TAG = 0x5EED
_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)


def philox4x32_10(counter: Sequence[np.ndarray], key: tuple[int, int]) -> np.ndarray:
    """Philox4x32 with 10 rounds on arrays of counters: 4 uint32 arrays in, ``(4, n)`` uint32 out.

    One round, with ``mulhilo(a, b) = (a*b >> 32, a*b mod 2**32)``::

        hi0, lo0 = mulhilo(M0, c0); hi1, lo1 = mulhilo(M1, c2)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0

    and the key is bumped by ``(W0, W1)`` (mod 2**32) between rounds.
    """
    c0, c1, c2, c3 = (np.asarray(c, dtype=np.uint64) for c in counter)
    k0, k1 = int(key[0]) & 0xFFFFFFFF, int(key[1]) & 0xFFFFFFFF
    m0, m1 = np.uint64(PHILOX_M0), np.uint64(PHILOX_M1)
    for r in range(10):
        if r:
            k0 = (k0 + PHILOX_W0) & 0xFFFFFFFF
            k1 = (k1 + PHILOX_W1) & 0xFFFFFFFF
        p0 = c0 * m0  # 32 x 32 -> 64 bits, exact in uint64
        p1 = c2 * m1
        c0, c1, c2, c3 = (
            (p1 >> _SHIFT32) ^ c1 ^ np.uint64(k0),
            p1 & _MASK32,
            (p0 >> _SHIFT32) ^ c3 ^ np.uint64(k1),
            p0 & _MASK32,
        )
    return np.stack([c0, c1, c2, c3]).astype(np.uint32)


def seed_state(seed: int, stream: int = 0) -> np.ndarray:
    """The initial state of stream ``stream`` under ``seed`` (both taken mod 2**64)."""
    seed &= (1 << 64) - 1
    stream &= (1 << 64) - 1
    counter = [np.uint32(stream & 0xFFFFFFFF), np.uint32(stream >> 32), np.uint32(SEED_TAG), np.uint32(0)]
    block = philox4x32_10(counter, (seed & 0xFFFFFFFF, seed >> 32))
    return np.array([block[0], block[1], 0, 0], dtype=np.uint32)


def random_words(state: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` words of the stream at ``state`` (uint32) and the advanced state."""
    state = np.asarray(state)
    if state.shape != (4,) or state.dtype != np.uint32:
        raise ValueError(f"a random state is a uint32 vector of 4 words, got {state.dtype} "
                         f"of shape {state.shape}")
    k0, k1, lo, hi = (int(w) for w in state)
    pos = (hi << 32) | lo
    nblocks = -(-count // 4)
    blocks = np.arange(nblocks, dtype=np.uint64) + np.uint64(pos)  # wraps mod 2**64
    zeros = np.zeros(nblocks, dtype=np.uint64)
    out = philox4x32_10([blocks & _MASK32, blocks >> _SHIFT32, zeros, zeros], (k0, k1))
    words = out.T.reshape(-1)[:count]
    new_pos = (pos + nblocks) & ((1 << 64) - 1)
    return words, np.array([k0, k1, new_pos & 0xFFFFFFFF, new_pos >> 32], dtype=np.uint32)


_SIGNIFICAND_BITS = {"float16": 11, "float32": 24, "float64": 53}


def words_per_uniform(dtype: str) -> int:
    return 2 if dtype == "float64" else 1


def uniform_from_words(words: np.ndarray, dtype: str) -> np.ndarray:
    """Uniforms on the open interval (0, 1), exact in ``dtype`` (see the module docstring)."""
    if dtype == "float64":
        hi = words[0::2].astype(np.uint64)
        lo = words[1::2].astype(np.uint64)
        m = ((hi >> np.uint64(12)) << _SHIFT32) | lo
        return (m * 2 + 1).astype(np.float64) * 2.0**-53
    p = _SIGNIFICAND_BITS[dtype]
    m = (words >> np.uint32(33 - p)).astype(np.float64)
    return ((2 * m + 1) * 2.0**-p).astype(dtype)


def keys64_from_words(words: np.ndarray) -> np.ndarray:
    return (words[0::2].astype(np.uint64) << _SHIFT32) | words[1::2].astype(np.uint64)


def _size(shape: Sequence[int]) -> int:
    return int(np.prod(shape, dtype=np.int64)) if len(shape) else 1


# -- op declarations -------------------------------------------------------------------------------
class RandomOp(OpDef):
    """A draw: operands ``(state, shape, params...)``, results ``(new_state, values)``.

    ``static_shape`` is the build-time shape of the values (-1 for dims given only at run time
    by the int vector ``shape``).
    """

    fusion = "opaque"
    differentiable = False
    n_params: tuple[int, ...] = (0,)

    def check_arity(self, n: int) -> None:
        allowed = tuple(2 + k for k in self.n_params)
        if n not in allowed:
            raise IRError(f"{self.name} takes {' or '.join(map(str, allowed))} operands, got {n}")

    def normalize_attributes(self, attrs: Mapping[str, Any]) -> dict[str, Any]:
        out = super().normalize_attributes(attrs)
        static = tuple(int(d) for d in out["static_shape"])
        if any(d < -1 for d in static):
            raise IRError(f"{self.name}: static_shape dims are >= 0 or -1 (dynamic), got {static}")
        out["static_shape"] = static
        if "dtype" in out:
            out["dtype"] = normalize_dtype(out["dtype"])
        return out

    def check_state_and_shape(self, types: Sequence[TensorType],
                              attrs: Mapping[str, Any]) -> tuple[int | None, ...]:
        state, shape = types[0], types[1]
        if state.dtype != "uint32" or state.ndim != 1 or state.shape[0] not in (None, 4):
            raise IRError(f"{self.name}: the state must be a uint32 vector of 4 words, got {state}")
        rank = len(attrs["static_shape"])
        if shape.ndim != 1 or shape.dtype not in INT_DTYPES or shape.shape[0] not in (None, rank):
            raise IRError(f"{self.name}: the shape operand must be an int vector of length {rank}, "
                          f"got {shape}")
        return tuple(None if d < 0 else d for d in attrs["static_shape"])

    def run_shape(self, shape: np.ndarray, attrs: Mapping[str, Any]) -> tuple[int, ...]:
        dims = tuple(int(d) for d in np.asarray(shape).reshape(-1))
        static = attrs["static_shape"]
        if len(dims) != len(static) or any(d < 0 for d in dims) or any(
            s >= 0 and d != s for d, s in zip(dims, static)
        ):
            raise ValueError(f"{self.name}: run-time shape {dims} does not match the static shape {static}")
        return dims

    def vjp(self, b, op, grads):  # noqa: ANN001, ANN201
        return [None] * len(op.operands)


class RandomUniform(RandomOp):
    """``random_uniform(state, shape)``: uniforms on (0, 1) of ``dtype``."""

    name = "tir.random_uniform"
    attributes = {"static_shape": REQUIRED, "dtype": "float64"}

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        dims = self.check_state_and_shape(types, attrs)
        if attrs["dtype"] not in FLOAT_DTYPES:
            raise IRError(f"{self.name}: dtype must be a float type, got {attrs['dtype']}")
        return [types[0], TensorType(attrs["dtype"], dims)]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        dims = self.run_shape(inputs[1], attrs)
        dtype = attrs["dtype"]
        words, new_state = random_words(inputs[0], _size(dims) * words_per_uniform(dtype))
        return [new_state, cast_result(uniform_from_words(words, dtype).reshape(dims), types[1])]


class RandomNormal(RandomOp):
    """``random_normal(state, shape)``: standard normals of ``dtype`` (Box-Muller)."""

    name = "tir.random_normal"
    attributes = {"static_shape": REQUIRED, "dtype": "float64"}

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        dims = self.check_state_and_shape(types, attrs)
        if attrs["dtype"] not in FLOAT_DTYPES:
            raise IRError(f"{self.name}: dtype must be a float type, got {attrs['dtype']}")
        return [types[0], TensorType(attrs["dtype"], dims)]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        dims = self.run_shape(inputs[1], attrs)
        dtype = attrs["dtype"]
        n = _size(dims)
        pairs = -(-n // 2)
        words, new_state = random_words(inputs[0], 2 * pairs * words_per_uniform(dtype))
        u = uniform_from_words(words, dtype).astype(np.float64)
        r = np.sqrt(-2.0 * np.log(u[0::2]))
        theta = 2.0 * np.pi * u[1::2]
        z = np.empty(2 * pairs, dtype=np.float64)
        z[0::2] = r * np.cos(theta)
        z[1::2] = r * np.sin(theta)
        return [new_state, cast_result(z[:n].reshape(dims), types[1])]


class RandomBinomial(RandomOp):
    """``random_binomial(state, shape, p)``: successes in ``n`` trials of probability ``p``."""

    name = "tir.random_binomial"
    attributes = {"static_shape": REQUIRED, "n": 1, "dtype": "int64"}
    n_params = (1,)

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        dims = self.check_state_and_shape(types, attrs)
        p = types[2]
        if p.dtype not in FLOAT_DTYPES:
            raise IRError(f"{self.name}: p must be a float tensor, got {p}")
        if int(attrs["n"]) < 0:
            raise IRError(f"{self.name}: n must be >= 0, got {attrs['n']}")
        _check_broadcasts_to(self.name, p, dims)
        return [types[0], TensorType(attrs["dtype"], dims)]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        dims = self.run_shape(inputs[1], attrs)
        trials = int(attrs["n"])
        p = np.broadcast_to(np.asarray(inputs[2], dtype=np.float64), dims).reshape(-1)
        words, new_state = random_words(inputs[0], _size(dims) * trials)
        success = words.reshape(-1, trials).astype(np.float64) * 2.0**-32 < p[:, None]
        return [new_state, cast_result(success.sum(axis=1).reshape(dims), types[1])]


class RandomChoice(RandomOp):
    """``random_choice(state, shape, population[, p])``: elements of a 1-d ``population``."""

    name = "tir.random_choice"
    attributes = {"static_shape": REQUIRED, "replace": True}
    n_params = (1, 2)

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        dims = self.check_state_and_shape(types, attrs)
        population = types[2]
        if population.ndim != 1:
            raise IRError(f"{self.name}: the population must be a vector, got {population}")
        if len(types) == 4:
            p = types[3]
            if p.ndim != 1 or p.dtype not in FLOAT_DTYPES:
                raise IRError(f"{self.name}: p must be a float vector, got {p}")
            if None not in (p.shape[0], population.shape[0]) and p.shape[0] != population.shape[0]:
                raise IRError(f"{self.name}: p has {p.shape[0]} entries for a population "
                              f"of {population.shape[0]}")
        a = population.shape[0]
        if not attrs["replace"] and a is not None and None not in dims and _size(dims) > a:  # type: ignore[arg-type]
            raise IRError(f"{self.name}: cannot take {_size(dims)} samples without replacement from {a}")  # type: ignore[arg-type]
        return [types[0], TensorType(population.dtype, dims)]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        dims = self.run_shape(inputs[1], attrs)
        population = np.asarray(inputs[2])
        a = population.shape[0]
        k = _size(dims)
        p = None if len(inputs) < 4 else _probabilities(inputs[3], a)
        if k and a == 0:
            raise ValueError(f"{self.name}: cannot sample from an empty population")
        if attrs["replace"]:
            if p is None:
                words, new_state = random_words(inputs[0], k)
                idx = (words.astype(np.uint64) * np.uint64(a)) >> _SHIFT32
            else:
                words, new_state = random_words(inputs[0], 2 * k)
                cdf = np.cumsum(p)
                idx = np.searchsorted(cdf, uniform_from_words(words, "float64") * cdf[-1], side="right")
                idx = np.minimum(idx, np.flatnonzero(p)[-1])
        else:
            if k > a:
                raise ValueError(f"{self.name}: cannot take {k} samples without replacement from {a}")
            words, new_state = random_words(inputs[0], 2 * a)
            if p is None:
                idx = np.argsort(keys64_from_words(words), kind="stable")[:k]
            else:
                if k > np.count_nonzero(p):
                    raise ValueError(f"{self.name}: fewer non-zero probabilities than samples ({k})")
                with np.errstate(divide="ignore"):
                    score = np.log(uniform_from_words(words, "float64")) / p
                idx = np.argsort(-score, kind="stable")[:k]
        return [new_state, cast_result(population[np.asarray(idx, dtype=np.int64)].reshape(dims), types[1])]


class RandomPermutation(RandomOp):
    """``random_permutation(state, shape, n)``: ``shape`` independent permutations of ``range(n)``."""

    name = "tir.random_permutation"
    attributes = {"static_shape": REQUIRED}
    n_params = (1,)

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        dims = self.check_state_and_shape(types, attrs)
        n = types[2]
        if n.ndim != 0 or n.dtype not in INT_DTYPES:
            raise IRError(f"{self.name}: n must be an int scalar, got {n}")
        return [types[0], TensorType("int64", (*dims, None))]

    def reference(self, inputs, attrs, types):  # noqa: ANN001, ANN201
        dims = self.run_shape(inputs[1], attrs)
        n = int(inputs[2])
        if n < 0:
            raise ValueError(f"{self.name}: n must be >= 0, got {n}")
        words, new_state = random_words(inputs[0], 2 * _size(dims) * n)
        keys = keys64_from_words(words).reshape(*dims, n)
        return [new_state, np.argsort(keys, axis=-1, kind="stable").astype(np.int64)]


def _check_broadcasts_to(name: str, p: TensorType, dims: Sequence[int | None]) -> None:
    if p.ndim > len(dims):
        raise IRError(f"{name}: parameter {p} has more dims than the draw's shape {tuple(dims)}")
    try:
        out = broadcast_shapes(p.shape, dims, what=f"{name} parameter and size")
    except ValueError as exc:
        raise IRError(str(exc)) from None
    tail = dims[len(dims) - p.ndim:] if p.ndim else ()
    for d, s in zip(p.shape, tail):
        if d not in (None, 1) and s is not None and d != s:
            raise IRError(f"{name}: parameter {p} does not broadcast to shape {tuple(dims)} ({out})")


def _probabilities(p: np.ndarray, a: int) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    if p.shape != (a,):
        raise ValueError(f"p has shape {p.shape} for a population of {a}")
    if (p < 0).any() or not np.isfinite(p).all() or p.sum() <= 0:
        raise ValueError("probabilities must be finite, non-negative and not all zero")
    return p


OPS: list[OpDef] = [RandomUniform(), RandomNormal(), RandomBinomial(), RandomChoice(), RandomPermutation()]

__all__ = [
    "OPS",
    "RandomOp",
    "keys64_from_words",
    "philox4x32_10",
    "random_words",
    "seed_state",
    "uniform_from_words",
]
