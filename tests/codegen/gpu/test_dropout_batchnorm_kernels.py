"""The GPU's fused dropout and batch-normalization kernels: PTX that ``ptxas`` accepts for sm_80 and
sm_90 in float32 and float64; the dropout kernel's numbers, run as one thread on the CPU
(``single_thread.py``), equal to the CPU's draw (``tir.random_binomial`` with ``n = 1`` from the
same state) times the input over the retain probability, bit for bit. The batch-normalization
kernels reduce across a block's threads, which one CPU thread cannot stand for: their numbers
are checked on a device (``pytest -m gpu``)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tensorir.codegen.cpu.scalar_ops import NotLowerable
from tensorir.codegen.gpu.lower_batchnorm import BATCHNORM_KINDS, batchnorm_kernel
from tensorir.codegen.gpu.lower_dropout import WORDS_PER_BLOCK, dropout_kernel
from tensorir.dialects.registry import _build
from tensorir.dialects.tir.random import seed_state
from tensorir.dialects.types import TensorType

from .ptxas_check import CHIPS, FLOATS, assembled_ptx, entries, needs_ptxas
from .single_thread import run_one_thread

REGISTRY = _build()


@needs_ptxas
@pytest.mark.parametrize("chip", CHIPS)
def test_dropout_and_batchnorm_kernels_assemble(chip: str) -> None:
    kernels, names = [], []
    for dtype in FLOATS:
        for kind in BATCHNORM_KINDS:
            names.append(f"batchnorm_{kind}_{dtype}")
            kernels.append(batchnorm_kernel(names[-1], kind, dtype))
        names += [f"dropout_{dtype}", f"bernoulli_{dtype}"]
        kernels += [dropout_kernel(names[-2], dtype), dropout_kernel(names[-1], dtype, with_input=False)]
    ptx = assembled_ptx(kernels, chip)
    assert entries(ptx) == names
    train = ptx.split(".entry batchnorm_train_float32(", 1)[1].split(".entry", 1)[0]
    # Two block reductions (the mean, then the squared deviations), each two butterflies.
    assert train.count("shfl.sync.bfly.b32") == 20 and "sqrt.approx.f32" in train
    grad = ptx.split(".entry batchnorm_grad_float64(", 1)[1].split(".entry", 1)[0]
    assert grad.count("shfl.sync.bfly.b32") == 40  # a pair of float64 sums, two 32-bit halves each


def test_kernels_refuse_other_dtypes() -> None:
    with pytest.raises(NotLowerable):
        dropout_kernel("k", "int32")
    with pytest.raises(NotLowerable):
        batchnorm_kernel("k", "train", "float16")
    with pytest.raises(NotLowerable):
        batchnorm_kernel("k", "eval", "float32")


def _bits(value: float) -> int:
    return int(np.array(value, dtype=np.float64).view(np.int64))


def _reference_mask(state: np.ndarray, n: int, retain: float, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """``tir.random_binomial(state, (n,), retain)`` with ``n = 1`` trials, as the CPU runs it."""
    opdef = REGISTRY["tir.random_binomial"]
    attrs = {"static_shape": (n,), "n": 1, "dtype": dtype}
    types = [TensorType("uint32", (4,)), TensorType(dtype, (n,))]
    new_state, mask = opdef.reference([state, np.array([n]), np.float64(retain)], attrs, types)
    return np.asarray(mask), np.asarray(new_state)


@settings(max_examples=12, deadline=None)
@given(n=st.integers(0, 37), retain=st.sampled_from([0.1, 0.5, 0.7, 0.999]), dtype=st.sampled_from(FLOATS),
       seed=st.integers(0, 2**32 - 1), position=st.sampled_from([0, 5, 2**32 - 2, 2**64 - 3]))
def test_dropout_draws_the_cpus_stream(n: int, retain: float, dtype: str, seed: int, position: int) -> None:
    state = seed_state(seed)
    state[2], state[3] = position & 0xFFFFFFFF, position >> 32
    mask_ref, new_state = _reference_mask(state, n, retain, dtype)
    x = np.random.default_rng(seed % 1000).normal(size=n).astype(dtype)
    out, mask = np.full(n, np.nan, dtype=dtype), np.full(n, np.nan, dtype=dtype)
    retain_x = float(np.asarray(retain, dtype=dtype))  # the graph's constant, in x's dtype
    sizes = [n, int(state[0]), int(state[1]), position, _bits(retain), _bits(retain_x)]
    run_one_thread(dropout_kernel("dropout", dtype), "dropout", [x, out, mask, *sizes])
    np.testing.assert_array_equal(mask, mask_ref)
    expected = (x * mask_ref) / np.asarray(retain_x, dtype=dtype)
    np.testing.assert_array_equal(out, expected.astype(dtype))
    # The host advances the stream by the blocks the kernel read, as the reference does.
    blocks = -(-n // WORDS_PER_BLOCK)
    assert (int(new_state[3]) << 32 | int(new_state[2])) == (position + blocks) % 2**64
    alone = np.full(n, np.nan, dtype=dtype)
    run_one_thread(dropout_kernel("bernoulli", dtype, with_input=False), "bernoulli", [alone, *sizes])
    np.testing.assert_array_equal(alone, mask_ref)
