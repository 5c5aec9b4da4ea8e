"""Functions called from several threads: updates commit atomically, plain calls stay parallel."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import pytest

import tensorir as tr
import tensorir.tensor as T

MODES = ("FAST_RUN", "FAST_COMPILE", "REFERENCE", "NONE")
THREADS = 8


def _in_threads(work: Callable[[int], None], n_threads: int = THREADS) -> None:
    """Run ``work(k)`` in ``n_threads`` threads started together; re-raise the first error."""
    errors: list[BaseException] = []
    start = threading.Barrier(n_threads)

    def run(k: int) -> None:
        try:
            start.wait()
            work(k)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def _count_with_updates(mode: str, calls: int) -> None:
    c = tr.shared(0.0, name="c")
    f = tr.function([], c, updates=[(c, c + 1)], mode=mode)

    def work(_: int) -> None:
        for _ in range(calls):
            f()

    _in_threads(work)
    assert c.get_value() == THREADS * calls, f"{mode}: {c.get_value()} after {THREADS} x {calls} increments"


@pytest.mark.parametrize("mode", MODES)
def test_updates_from_eight_threads_are_never_lost(mode: str) -> None:
    _count_with_updates(mode, 200)


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_updates_from_eight_threads_are_never_lost_long(mode: str) -> None:
    _count_with_updates(mode, 2000)


@pytest.mark.parametrize("mode", ["FAST_RUN", "NONE"])
def test_two_functions_updating_one_variable_lose_nothing(mode: str) -> None:
    """Both functions hold the variable's lock through their calls, so their increments add up."""
    c = tr.shared(np.zeros(3), name="c")
    step = T.scalar("step")
    add = tr.function([step], [], updates=[(c, c + step)], mode=mode)
    d = tr.shared(0.0, name="d")
    both = tr.function([], c.sum(), updates=[(c, c + 2), (d, d + 1)], mode=mode)

    def work(k: int) -> None:
        for _ in range(100):
            if k % 2:
                add(1.0)
            else:
                both()

    _in_threads(work)
    half = THREADS // 2
    np.testing.assert_array_equal(c.get_value(), [half * 100 * 3.0] * 3)
    assert d.get_value() == half * 100


@pytest.mark.parametrize("mode", MODES)
def test_calls_without_updates_are_not_serialized(mode: str) -> None:
    """A function that only reads ``c`` runs while ``c``'s update lock is held elsewhere."""
    c = tr.shared(np.arange(4.0), name="c")
    tr.function([], c, updates=[(c, c * 2)], mode=mode)
    read = tr.function([], c.sum(), mode=mode)
    done = threading.Event()
    with c.container.lock:  # what a call of the updating function holds
        worker = threading.Thread(target=lambda: (read(), done.set()))
        worker.start()
        assert done.wait(120), f"{mode}: a call without updates waited for another function's update lock"
    worker.join()


@pytest.mark.parametrize("mode", MODES)
def test_parallel_calls_without_updates_give_each_thread_its_result(mode: str) -> None:
    x = T.matrix("x")
    f = tr.function([x], T.tanh(x).sum(axis=1) * 2 + T.exp(x).mean(), mode=mode)

    def work(k: int) -> None:
        rng = np.random.default_rng(k)
        fixed = rng.standard_normal((16, 300))  # one shape: the replayed native call
        for i in range(60):
            a = fixed * (i + 1) * 0.01 if k % 2 else rng.standard_normal((int(rng.integers(1, 40)), 300))
            want = np.tanh(a).sum(axis=1) * 2 + np.exp(a).mean()
            np.testing.assert_allclose(f(a), want, rtol=1e-10, err_msg=f"thread {k} call {i}")

    _in_threads(work)
