"""Loop-step products on packed panels split with the loop helper thread (runtime/native_panels.py,
runtime/loop_helper.py) against the reference executor: both dtypes, both layouts of the weight,
weights that change between calls, no helper, a forked child and two threads at once."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

import tensorir as tr
import tensorir.tensor as T
from tensorir.frontend.scan import scan
from tensorir.runtime import loop_helper as helper_module
from tensorir.runtime import native_panels
from tensorir.runtime.native_panels import PANEL_PRODUCTS
from tensorir.runtime.product_table import ProductTable, use_product_table

pytestmark = pytest.mark.skipif(helper_module.default_thread_count() < 2, reason="the loop helper needs two cores")

RNG = np.random.default_rng(11)


def _rnn(dtype: str, transposed: bool, steps: int = 6, batch: int = 8, hidden: int = 64):
    """A tanh RNN whose step product ``h @ U`` (or ``h @ V.T``) qualifies: 8 x 64 @ 64 x 512."""
    x = T.tensor3("x", dtype=dtype)
    h0 = T.matrix("h0", dtype=dtype)
    U = T.matrix("U", dtype=dtype)
    width = 8 * hidden

    def step(xt, h, U):  # noqa: ANN001, ANN202
        z = T.dot(h, U.T if transposed else U) + xt
        return T.tanh(z[:, :hidden] + z[:, hidden:2 * hidden] * 0.5 + z[:, width - hidden:])

    hs, _ = scan(step, sequences=x, outputs_info=h0, non_sequences=[U])
    cost = (hs ** 2).sum()
    outs = [hs, *tr.grad(cost, [U, h0, x])]
    u_shape = (width, hidden) if transposed else (hidden, width)

    def args() -> list[np.ndarray]:
        return [RNG.standard_normal((steps, batch, width)).astype(dtype),
                RNG.standard_normal((batch, hidden)).astype(dtype), (RNG.standard_normal(u_shape) * 0.1).astype(dtype)]

    return [x, h0, U], outs, args


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("forward_only", [False, True])
def test_loop_products_on_panels_match_the_reference(dtype: str, transposed: bool, forward_only: bool) -> None:
    # Forward only, the product accumulates into the step's input row (gemm with beta 1); with
    # the gradient, the forward loop keeps the product itself for the backward loop (beta 0).
    inputs, outs, args = _rnn(dtype, transposed)
    outs = outs[:1] if forward_only else outs
    native = tr.function(inputs, outs)
    reference = tr.function(inputs, outs, mode="REFERENCE")
    before = PANEL_PRODUCTS[dtype]
    tol = 2e-4 if dtype == "float32" else 1e-10
    for call in range(5):  # plan, recordings, replays: new values every call
        values = args()
        for got, want in zip(native(*values), reference(*values)):
            np.testing.assert_allclose(got, want, rtol=tol, atol=tol, err_msg=f"call {call}")
    assert PANEL_PRODUCTS[dtype] > before


def test_weights_updated_by_training_are_packed_again_every_call() -> None:
    x, h0 = T.tensor3("x", dtype="float32"), T.matrix("h0", dtype="float32")
    U = tr.shared((RNG.standard_normal((64, 512)) * 0.1).astype("float32"))

    def step(xt, h, U):  # noqa: ANN001, ANN202
        z = T.dot(h, U) + xt
        return T.tanh(z[:, :64] - z[:, 448:])

    hs, _ = scan(step, sequences=x, outputs_info=h0, non_sequences=[U])
    cost = (hs ** 2).mean()
    train = tr.function([x, h0], cost, updates=[(U, U - 0.5 * tr.grad(cost, U))])
    U_ref = tr.shared(U.get_value())
    hs_ref, _ = scan(step, sequences=x, outputs_info=h0, non_sequences=[U_ref])
    cost_ref = (hs_ref ** 2).mean()
    train_ref = tr.function([x, h0], cost_ref, updates=[(U_ref, U_ref - 0.5 * tr.grad(cost_ref, U_ref))],
                            mode="REFERENCE")
    for call in range(6):
        values = [RNG.standard_normal((5, 8, 512)).astype("float32"), RNG.standard_normal((8, 64)).astype("float32")]
        np.testing.assert_allclose(train(*values), train_ref(*values), rtol=2e-4, err_msg=f"call {call}")
        np.testing.assert_allclose(U.get_value(), U_ref.get_value(), rtol=2e-4, atol=2e-6)


def _panel_products_of_rnn_calls() -> int:
    """Panel products the RNN's calls ran (checking every call against the reference)."""
    inputs, outs, args = _rnn("float32", False)
    native = tr.function(inputs, outs)
    reference = tr.function(inputs, outs, mode="REFERENCE")
    before = PANEL_PRODUCTS["float32"]
    for _ in range(4):
        values = args()
        for got, want in zip(native(*values), reference(*values)):
            np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4)
    return PANEL_PRODUCTS["float32"] - before


def _assert_products_stay_on_blas() -> None:
    assert _panel_products_of_rnn_calls() == 0


def _assert_products_run_on_panels() -> None:
    assert _panel_products_of_rnn_calls() > 0


def test_without_the_helper_the_panels_run_on_the_calling_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(native_panels, "loop_helper", lambda cache: None)
    with use_product_table(_measured(panels=1e-5, blas=1e-3)):
        _assert_products_run_on_panels()


# The RNN's step product, 8 x 64 @ 64 x 512, as a measured table lists it: (kind, dtype, m, n, k,
# panels on one thread, BLAS on the function's threads), seconds.
def _measured(panels: float, blas: float) -> ProductTable:
    return ProductTable(entries=[("panels", "float32", 8, 512, 64, panels, blas)], wake_seconds=1e-6)


def test_where_blas_measured_faster_the_products_stay_on_blas(monkeypatch: pytest.MonkeyPatch) -> None:
    # Four threads for the function: OpenBLAS's split over all of them measured faster here.
    monkeypatch.setenv("TENSORIR_NUM_THREADS", "4")
    with use_product_table(_measured(panels=1e-3, blas=1e-4)):
        _assert_products_stay_on_blas()


def test_where_panels_measured_faster_they_run_on_any_thread_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENSORIR_NUM_THREADS", "4")
    inputs, outs, args = _rnn("float32", False)
    native = tr.function(inputs, outs)
    before = PANEL_PRODUCTS["float32"]
    with use_product_table(_measured(panels=1e-5, blas=1e-3)):
        for _ in range(3):
            native(*args())
    assert PANEL_PRODUCTS["float32"] > before


def test_on_one_thread_the_products_take_what_one_thread_measured_faster(monkeypatch: pytest.MonkeyPatch) -> None:
    # No helper (a second thread the function was not given): the panels run whole on the calling
    # thread where they measured faster there, else BLAS.
    monkeypatch.setenv("TENSORIR_NUM_THREADS", "1")
    with use_product_table(_measured(panels=1e-5, blas=1e-3)):
        _assert_products_run_on_panels()
    with use_product_table(_measured(panels=1e-3, blas=1e-5)):
        _assert_products_stay_on_blas()


def test_two_threads_replaying_at_once_share_the_helper_safely() -> None:
    # One helper: a split that finds it busy runs its whole range on its own thread.
    functions = []
    for transposed in (False, True):
        inputs, outs, args = _rnn("float32", transposed)
        functions.append((tr.function(inputs, outs), tr.function(inputs, outs, mode="REFERENCE"), args))
    errors: list[str] = []

    def work(k: int) -> None:
        native, reference, args = functions[k]
        for call in range(12):
            values = args()
            for got, want in zip(native(*values), reference(*values)):
                if not np.allclose(got, want, rtol=2e-4, atol=2e-4):
                    errors.append(f"thread {k} call {call}")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_a_forked_child_runs_the_splits_without_the_parents_helper() -> None:
    inputs, outs, args = _rnn("float32", False)
    native = tr.function(inputs, outs)
    reference = tr.function(inputs, outs, mode="REFERENCE")
    for _ in range(4):
        native(*args())  # recorded and replayed with the helper
    assert helper_module._HELPER is not None and helper_module._HELPER.alive
    values = args()
    want = reference(*values)
    pid = os.fork()
    if pid == 0:  # the child: its helper state says "absent"; a replay must not wait for it
        ok = not helper_module._HELPER.alive and all(
            np.allclose(g, w, rtol=2e-4, atol=2e-4) for g, w in zip(native(*values), want))
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
