"""The profiler: per-step time and calls, memory, compile phases, summaries, scan bodies."""

import io

import numpy as np

import tensorir as tr
import tensorir.tensor as T
from tensorir.frontend.profiling import COMPILE_PHASES, ProfileStats, _print_all_at_exit


def _model(profile):
    x = T.matrix("x")
    W = tr.shared(np.full((4, 3), 0.1), name="W")
    cost = T.sum(T.tanh(T.dot(x, W)) ** 2)
    return tr.function([x], cost, updates=[(W, W - 0.01 * tr.grad(cost, W))], profile=profile, name="step")


def test_profile_counts_calls_and_steps():
    f = _model(True)
    data = np.ones((5, 4))
    for _ in range(3):
        f(data)
    stats = f.profile
    assert isinstance(stats, ProfileStats) and stats.calls == 3
    records = stats.records()
    assert records and all(r.calls == 3 for r in records)
    names = {r.place.op.name for r in records}
    assert "tir.gemm" in names or "tir.dot" in names
    assert stats.steps.peak_bytes >= 5 * 3 * 8  # the (5, 3) product at least
    assert set(stats.compile_seconds) == set(COMPILE_PHASES)
    assert stats.compile_seconds["rewrites"] > 0
    out = io.StringIO()
    text = stats.summary(file=out)
    assert out.getvalue() == text
    assert "Function profile: step" in text and "3 calls" in text and "<% time>" in text
    assert "test_profiling.py" in text


def test_profiled_results_equal_unprofiled():
    data = np.random.default_rng(0).normal(size=(5, 4))
    assert np.isclose(_model(True)(data), _model(False)(data))


def test_config_profile_prints_at_exit(capsys):
    with tr.change_flags(profile=True):
        f = _model(None)
        f(np.ones((2, 4)))
        assert f.profile is not None
        _print_all_at_exit()
    assert "Function profile: step" in capsys.readouterr().err


def test_scan_body_per_step_kind():
    x = T.vector("x")
    out, _ = tr.scan(lambda v, acc: acc + T.exp(v) * 2.0, sequences=x, outputs_info=T.constant(0.0))
    f = tr.function([x], out[-1], profile=True)
    f(np.arange(4.0))
    text = f.profile.summary(file=io.StringIO())
    assert "Body of tir.scan" in text
    body = [r for r in f.profile.records() if r.place.enclosing]
    assert body and max(r.calls for r in body) == 4  # one call per step of the loop


def test_profile_of_a_reference_mode_times_calls():
    x = T.vector("x")
    f = tr.function([x], T.exp(x), mode="REFERENCE", profile=True)
    f(np.ones(3))
    assert f.profile.calls == 1 and not f.profile.records()
