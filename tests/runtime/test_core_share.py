"""The thread cap that follows the machine's load (runtime/core_share.py)."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

import tensorir as tr
import tensorir.tensor as T
from tensorir.codegen.cpu.loop_helper import W_SEQ
from tensorir.runtime import core_share
from tensorir.runtime import loop_helper as helper_module
from tensorir.runtime.native_panels import PANEL_PRODUCTS
from tensorir.runtime.product_table import ProductTable, use_product_table
from tensorir.runtime.threadpool import ThreadPool
from tensorir.scan_module import scan


@pytest.fixture
def dynamic(monkeypatch: pytest.MonkeyPatch):
    """The cap on, with the machine's load read from a list the test sets (others' runnable
    threads per sample), on a machine of four cores."""
    others: list[int] = []
    monkeypatch.setattr(core_share, "_FIXED", [False])
    monkeypatch.setattr(core_share, "_CORES", 4)
    monkeypatch.setattr(core_share, "_SAMPLES", core_share.deque(maxlen=3))
    monkeypatch.setattr(core_share, "_NEXT", [0.0])
    monkeypatch.setattr(core_share, "others_running", lambda: others.pop(0))
    saved = int(core_share.CAP[0])
    yield others
    core_share.CAP[0] = saved


@pytest.fixture
def set_cap():
    """Sets the cap for a test and puts the old one back."""
    saved = int(core_share.CAP[0])

    def set_to(value: int) -> None:
        core_share.CAP[0] = value

    yield set_to
    core_share.CAP[0] = saved


def test_the_cap_is_the_median_of_the_last_three_samples(dynamic: list[int]) -> None:
    dynamic.extend([0, 3, 3, 0, 0, 9])
    caps = [core_share.refresh(now=float(t)) for t in range(6)]
    # 4 free; then 1 (median of 4, 1); 1; 1 (one quiet sample does not flip it); 4; 4 (never below 1).
    assert caps == [4, 1, 1, 1, 4, 4]


def test_the_cap_is_sampled_at_most_every_sample_period(dynamic: list[int]) -> None:
    dynamic.extend([3, 0])
    assert core_share.refresh(now=100.0) == 1
    assert core_share.refresh(now=100.0 + core_share.SAMPLE_SECONDS / 2) == 1  # not sampled: one left
    assert dynamic == [0]


def test_off_by_the_variable_and_a_bad_value_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(core_share.DYNAMIC_VARIABLE, "0")
    assert core_share.dynamic_threads() is False
    monkeypatch.setenv(core_share.DYNAMIC_VARIABLE, "sometimes")
    with pytest.raises(ValueError, match="TENSORIR_DYNAMIC_THREADS='sometimes'"):
        core_share.dynamic_threads()


def test_others_running_reads_the_machine() -> None:
    others = core_share.others_running()
    assert others is None or others >= 0
    assert core_share._own_running() >= 1  # this thread, running


def test_the_pools_workers_count_as_tensorirs_own() -> None:
    with ThreadPool(2, min_chunk=1) as pool:
        pool.run(lambda start, end: None, 100)
        assert {w.native_id for w in pool._workers} <= core_share.OWN_THREADS


def test_the_pool_splits_over_at_most_the_cap(set_cap) -> None:  # noqa: ANN001
    set_cap(1)
    with ThreadPool(4, min_chunk=1) as pool:
        assert pool.chunks(1000) == [(0, 1000)]
        out = np.zeros(1000)
        calls = []

        def kernel(start: int, end: int) -> None:
            calls.append((start, end))
            out[start:end] += 1

        pool.run(kernel, 1000)
        assert calls == [(0, 1000)] and (out == 1).all()
    set_cap(3)
    assert len(ThreadPool(4, min_chunk=1).chunks(1000)) == 3


def test_replayed_thread_counts_are_capped(set_cap) -> None:  # noqa: ANN001
    from tensorir.codegen.cpu.lower_replay import REPLAY_FUNCTION, replay_runner
    from tensorir.runtime.compile_cache import get_cache
    from tensorir.runtime.native_kernels import function_address
    from tensorir.runtime.recording import CallKind, ReplayTable

    seen: list[int] = []
    setter = ctypes.CFUNCTYPE(None, ctypes.c_int)(seen.append)
    table = ReplayTable({})
    table.add(CallKind.THREADS, function_address(setter), (3, core_share.CAP.ctypes.data))
    rows = table.array()
    module = get_cache(None).get_lazy(REPLAY_FUNCTION, replay_runner, opt_level=1)
    runner = ctypes.CFUNCTYPE(ctypes.c_int64, *[ctypes.c_int64] * 4)(module.address(REPLAY_FUNCTION))
    for cap, want in ((8, 3), (2, 2), (1, 1)):
        set_cap(cap)
        assert runner(rows.ctypes.data, len(rows), 0, 1) == 1
        assert seen[-1] == want


def _rnn() -> tuple:
    x, h0 = T.tensor3("x", dtype="float32"), T.matrix("h0", dtype="float32")
    U = T.matrix("U", dtype="float32")
    hs, _ = scan(lambda xt, h, U: T.tanh(T.dot(h, U) + xt), sequences=x, outputs_info=h0, non_sequences=[U])
    rng = np.random.default_rng(3)
    values = [rng.standard_normal((6, 8, 512)).astype("float32"), rng.standard_normal((8, 512)).astype("float32"),
              (0.05 * rng.standard_normal((512, 512))).astype("float32")]
    return [x, h0, U], hs, values


def test_below_two_the_loop_splits_run_whole_on_the_calling_thread(monkeypatch: pytest.MonkeyPatch,
                                                                  set_cap) -> None:  # noqa: ANN001
    monkeypatch.setenv("TENSORIR_NUM_THREADS", "2")
    inputs, out, values = _rnn()
    native = tr.function(inputs, out)
    want = tr.function(inputs, out, mode="REFERENCE")(*values)
    table = ProductTable(entries=[("panels", "float32", 8, 512, 512, 1e-5, 1e-3)], threads=2)
    before = PANEL_PRODUCTS["float32"]
    with use_product_table(table):
        for _ in range(3):  # plan, recording, replay
            np.testing.assert_allclose(native(*values), want, rtol=2e-4, atol=2e-4)
    assert PANEL_PRODUCTS["float32"] > before
    helper = helper_module._HELPER
    if helper is None or not helper.alive:
        pytest.skip("no loop helper here (one core)")
    posted = int(helper.state[W_SEQ])
    set_cap(1)
    np.testing.assert_allclose(native(*values), want, rtol=2e-4, atol=2e-4)
    assert int(helper.state[W_SEQ]) == posted  # nothing handed to the helper
    set_cap(2)
    np.testing.assert_allclose(native(*values), want, rtol=2e-4, atol=2e-4)
    assert int(helper.state[W_SEQ]) > posted
