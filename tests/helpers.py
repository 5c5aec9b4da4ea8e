"""Test helpers: random inputs for op types and a module wrapper for round-trip checks."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pytest

from tensorir.dialects import Module, parse_module, print_module
from tensorir.dialects.types import TensorType


def random_array(rng: np.random.Generator, dtype: str, shape: Sequence[int], positive: bool = False,
                 low: float = -3.0, high: float = 3.0) -> np.ndarray:
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype.startswith(("int", "uint")):
        lo = 1 if positive else (-5 if dtype.startswith("int") else 0)
        return rng.integers(lo, 6, size=shape).astype(dtype)
    if positive:
        return rng.uniform(0.2, high, size=shape).astype(dtype)
    return rng.uniform(low, high, size=shape).astype(dtype)


def assert_round_trip(func) -> str:  # noqa: ANN001
    """Print, parse and print again a function; both texts must be identical."""
    text = print_module(Module([func]))
    again = print_module(parse_module(text))
    assert again == text, f"round trip differs:\n--- printed\n{text}\n--- reprinted\n{again}"
    return text


def check_reference_type(types: Sequence[TensorType], outputs: Sequence[np.ndarray]) -> None:
    for t, out in zip(types, outputs):
        assert isinstance(out, np.ndarray), f"reference returned {type(out).__name__}, not an ndarray"
        assert out.dtype.name == t.dtype, f"inferred dtype {t.dtype}, reference gave {out.dtype}"
        assert t.accepts_shape(out.shape), f"inferred type {t} does not accept the reference shape {out.shape}"


def lstm_step(xt, h, c, W, U, b):  # noqa: ANN001, ANN201
    """One LSTM step (gates i, f, o, g sliced from one product) for scan tests."""
    import tensorir.tensor as T

    z = T.dot(xt, W) + T.dot(h, U) + b
    n = h.shape[1]
    i, f, o, g = T.sigmoid(z[:, :n]), T.sigmoid(z[:, n:2 * n]), T.sigmoid(z[:, 2 * n:3 * n]), T.tanh(z[:, 3 * n:])
    c2 = f * c + i * g
    return o * T.tanh(c2), c2


def misaligned(x: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of ``x`` whose data is not aligned to its element size."""
    raw = np.zeros(x.nbytes + 1, np.uint8)
    out = np.frombuffer(raw.data, dtype=x.dtype, count=x.size, offset=1).reshape(x.shape)
    out[...] = x
    return out


def private_compile_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Body of an autouse fixture: compile into a fresh cache directory, never the user's cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("TENSORIR_COMPILEDIR", str(tmp_path_factory.mktemp("compiledir")))
    yield
    mp.undo()
