"""The measured product table (runtime/product_table.py): its answers, its file, its use by the
skinny and panel products. Tables are injected: nothing here times anything, except the one
slow test that measures a tiny grid for real."""

from __future__ import annotations

import numpy as np
import pytest

from tensorir.runtime import product_table as product_table_module
from tensorir.runtime.compile_cache import CompileCache
from tensorir.runtime.native_blas import SKINNY_CALLS, BlasStep
from tensorir.runtime.native_kernels import KernelContext
from tensorir.runtime.product_table import (
    TABLE_VERSION,
    ProductTable,
    measure_product_table,
    product_table,
    use_product_table,
)
from tensorir.runtime.threadpool import ThreadPool


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> KernelContext:
    pool = ThreadPool(2, min_chunk=1, align=1)
    yield KernelContext(3, CompileCache(tmp_path_factory.mktemp("table-cache")), pool)
    pool.close()


def _table(*entries: tuple, wake: float = 20e-6, rate: float = 1e10) -> ProductTable:
    return ProductTable(machine="test", threads=2, entries=list(entries), wake_seconds=wake, fma_per_second=rate)


def test_nearest_size_decides_scaled_to_the_size() -> None:
    table = _table(("dots", "float32", 100, 10, 100, 1e-5, 2e-5), ("dots", "float32", 1000, 10, 1000, 9e-4, 5e-4))
    assert table.own_wins("dots", "float32", 120, 10, 90) is True
    assert table.own_wins("dots", "float32", 900, 10, 1100) is False
    own, blas = table.nearest("dots", "float32", 200, 10, 100)
    assert own == pytest.approx(2e-5) and blas == pytest.approx(4e-5)
    assert table.own_wins("dots", "float64", 100, 10, 100) is None  # not measured: the caller's rule
    assert table.own_wins("columns", "float32", 100, 10, 100) is None


def test_threads_divide_the_own_time_and_add_the_wake_up() -> None:
    table = _table(("dots", "float32", 600, 10, 784, 100e-6, 60e-6), wake=5e-6)
    assert table.own_wins("dots", "float32", 600, 10, 784, threads=1) is False
    assert table.own_wins("dots", "float32", 600, 10, 784, threads=2) is True  # 50 + 5 < 60
    assert _table(*table.entries, wake=20e-6).own_wins("dots", "float32", 600, 10, 784, threads=2) is False


def test_panels_split_with_the_spinning_helper_not_the_pool() -> None:
    # The pool's wake-up (from sleep) does not apply: the loop helper spins between splits.
    table = _table(("panels", "float32", 32, 512, 256, 100e-6, 60e-6), wake=50e-6)
    assert table.own_wins("panels", "float32", 32, 512, 256, threads=1) is False
    assert table.own_wins("panels", "float32", 32, 512, 256, threads=2) is True  # 50 + 2 < 60


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
def test_main_share_and_split_follow_the_wake_up(threads: int) -> None:
    table = _table(wake=20e-6, rate=1e10)  # a 1M multiply-add kernel: 100 us on one thread
    if threads == 1:
        assert table.main_share(1, 1 << 20) == 1.0 and not table.split_pays(1, 1 << 30)
        return
    small, large = table.main_share(threads, 1 << 16), table.main_share(threads, 1 << 30)
    assert small == 1.0  # 6.5 us of work: the worker would start after it ends
    assert 1 / threads < large < 1 / threads + 0.01
    assert 1 / threads < table.main_share(threads, 1 << 20) < small
    assert not table.split_pays(threads, 1 << 16) and table.split_pays(threads, 1 << 24)


def test_json_round_trip_and_version(tmp_path) -> None:  # noqa: ANN001
    table = _table(("dots", "float32", 1, 2, 3, 4e-6, 5e-6))
    assert ProductTable.from_json(table.to_json()) == table
    with pytest.raises(ValueError, match="version"):
        ProductTable.from_json(table.to_json().replace(f'"version": {TABLE_VERSION}', '"version": 0'))


def test_the_file_is_read_else_measured_once_and_written(tmp_path, monkeypatch, context) -> None:  # noqa: ANN001
    path = tmp_path / "table.json"
    monkeypatch.setenv("TENSORIR_PRODUCT_TABLE", str(path))
    monkeypatch.setattr(product_table_module, "_TABLES", {})
    measured = _table(("dots", "float32", 1, 2, 3, 4e-6, 5e-6))
    calls = []
    monkeypatch.setattr(product_table_module, "measure_product_table",
                        lambda ctx, threads: calls.append(threads) or measured)
    assert product_table(context, 2) == measured and calls == [2]
    assert product_table(context, 2) == measured and calls == [2]  # kept for the process
    monkeypatch.setattr(product_table_module, "_TABLES", {})
    assert product_table(context, 2) == measured and calls == [2]  # read from the file
    assert ProductTable.from_json(path.read_text()) == measured
    with use_product_table(_table()) as injected:
        assert product_table(context, 2) is injected


def test_off_keeps_the_built_in_rules(monkeypatch, context) -> None:  # noqa: ANN001
    monkeypatch.setenv("TENSORIR_PRODUCT_TABLE", "off")
    monkeypatch.setattr(product_table_module, "_TABLES", {})
    assert product_table(context, 2).entries == []


def _dots_step(context: KernelContext) -> tuple[BlasStep, list[np.ndarray]]:
    step = BlasStep("tir.gemm", {"trans_a": False, "trans_b": False, "inplace": None}, "float32", ["float32"] * 5,
                    None, context.pool.num_threads)
    step.bind(context)
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((128, 500)).astype("float32"), rng.standard_normal((500, 10)).astype("float32")
    return step, [np.zeros((), "float32"), np.ones((), "float32"), a, b, np.zeros((), "float32")]


@pytest.mark.parametrize("own_wins", [True, False])
def test_the_table_sends_a_product_to_its_measured_winner(context: KernelContext, own_wins: bool) -> None:
    step, inputs = _dots_step(context)
    own, blas = (1e-6, 1e-3) if own_wins else (1e-3, 1e-6)
    before = SKINNY_CALLS.copy()
    with use_product_table(_table(("dots", "float32", 128, 10, 500, own, blas))):
        (out,) = step(inputs)
    np.testing.assert_allclose(out, inputs[2] @ inputs[3], rtol=1e-4, atol=1e-4)
    assert (SKINNY_CALLS - before) == ({"dots": 1} if own_wins else {})


@pytest.mark.slow
def test_measure_a_tiny_grid(context: KernelContext) -> None:
    sizes = {"dots": ((16, 10, 64),), "columns": ((64, 10, 16),), "small_inner": ((16, 64, 8),),
             "panels": ((8, 32, 16),)}
    table = measure_product_table(context, 2, dtypes=("float32",), sizes=sizes)
    assert [e[0] for e in table.entries] == list(sizes)
    assert all(e[5] > 0 and e[6] > 0 for e in table.entries)
    assert table.wake_seconds > 0 and table.fma_per_second > 0


def test_each_table_version_has_its_own_file(monkeypatch: pytest.MonkeyPatch) -> None:
    key = product_table_module.machine_key(2)
    monkeypatch.setattr(product_table_module, "TABLE_VERSION", TABLE_VERSION + 1)
    assert product_table_module.machine_key(2) != key
