"""Quick runs of the example programs, the tour and the notebooks: they finish and their loss falls.

They need the frontend (``tensorir.function``) and skip with that reason until it exists. They
never touch the network (``--offline``): the data is MNIST or Fashion-MNIST when found locally,
else scikit-learn's digits, and tiny-shakespeare or the built-in fallback text.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
NOTEBOOKS = EXAMPLES / "notebooks"
SCRIPTS = ("logistic_regression", "mlp", "lenet", "lstm_text")


def _frontend_missing() -> str | None:
    try:
        import tensorir
    except ImportError as e:
        return f"tensorir does not import yet ({e}); the examples need tensorir.function"
    if not hasattr(tensorir, "function"):
        return "tensorir.function is missing: the frontend has not landed yet"
    return None


_MISSING = _frontend_missing()
needs_frontend = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")


def _env() -> dict[str, str]:
    """The environment of the child processes: the checkout's package first on the path."""
    env = os.environ.copy()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "src"), env.get("PYTHONPATH")) if p)
    env["MPLBACKEND"] = "Agg"
    return env


def assert_loss_fell(history_file: Path) -> dict:
    """The mean of the last few minibatch losses is below that of the first few."""
    history = json.loads(history_file.read_text())
    losses = np.asarray(history["batch_loss"])
    assert len(losses) >= 6, f"too few minibatches to judge: {losses}"
    first, last = losses[:3].mean(), losses[-3:].mean()
    assert np.all(np.isfinite(losses)), f"non-finite loss in {losses}"
    assert last < first, f"loss did not fall: first {first:.4f}, last {last:.4f}; all: {np.round(losses, 4)}"
    return history


def run(args: list[str], timeout: int = 300) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, *args], cwd=REPO, env=_env(), capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{args} failed:\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


@needs_frontend
@pytest.mark.parametrize("name", SCRIPTS)
def test_script_quick(name, tmp_path):
    run([str(EXAMPLES / f"{name}.py"), "--quick", "--no-progress", "--offline", "--out", str(tmp_path)])
    history = assert_loss_fell(tmp_path / f"{name}_history.json")
    assert Path(history["curve"]).is_file()
    if name == "lenet":
        assert (tmp_path / "lenet_filters.png").is_file()
    if name == "lstm_text":
        assert history["sample"].startswith("ROMEO")


@needs_frontend
def test_tour_quick(tmp_path):
    result = run([str(EXAMPLES / "tour.py"), "--quick", "--no-progress", "--offline", "--out", str(tmp_path)])
    for name in ("logistic_regression", "lenet", "lstm_text"):
        assert_loss_fell(tmp_path / f"{name}_history.json")
    assert "=== summary ===" in result.stdout and "LSTM sample:" in result.stdout


@needs_frontend
@pytest.mark.parametrize("name", SCRIPTS)
def test_notebook_runs(name, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    # The kernel inherits this process's environment.
    for key, value in _env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TENSORIR_EXAMPLES_OUT", str(tmp_path))
    monkeypatch.setenv("TENSORIR_EXAMPLES_ARGS", "--offline")
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    client.execute()
    assert_loss_fell(tmp_path / f"{name}_history.json")


@needs_frontend
def test_debugging_notebook_runs(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    for key, value in _env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TENSORIR_EXAMPLES_OUT", str(tmp_path))
    notebook = nbformat.read(NOTEBOOKS / "debugging.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    client.execute()
    text = "".join(o.get("text", "") for cell in notebook.cells for o in cell.get("outputs", []))
    assert "part of the gradient of tir.sqrt" in text, text
    assert "Function profile: lenet_step" in text
    assert (tmp_path / "logistic_regression.svg").is_file() and (tmp_path / "lenet_step.html").is_file()


def test_notebooks_match_scripts():
    pytest.importorskip("nbformat")
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "make_notebooks.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", [*SCRIPTS, "tour", "common", "make_notebooks", "debugging"])
def test_example_compiles(name):
    source = (EXAMPLES / f"{name}.py").read_text()
    compile(source, f"{name}.py", "exec")
