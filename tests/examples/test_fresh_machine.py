"""The README's main job on a machine with nothing beside the clone: no data, an empty home, offline.

The tour runs from a copy of ``examples/`` in a temporary folder, with an empty home (so an
empty compile cache and data cache) and ``TENSORIR_DATA_PATH`` empty, so neither a ``shared/data``
folder beside the checkout nor a system data package is found. It must finish on the fallbacks
and say which data it used and why.
"""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_quick_offline_tour_with_nothing_beside_the_clone(tmp_path: Path) -> None:
    examples = shutil.copytree(REPO / "examples", tmp_path / "examples", ignore=shutil.ignore_patterns("notebooks"))
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TENSORIR_", "XDG_"))}
    env.update(HOME=str(home), TENSORIR_DATA_PATH="", MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "src"), env.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [sys.executable, "tour.py", "--quick", "--offline", "--out", str(tmp_path / "out")],
        cwd=examples,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"
    out = proc.stdout
    assert "images: digits from scikit-learn load_digits (8x8)" in out
    # The summary says which data and why: nothing found, no download tried.
    assert "images: digits (MNIST not found (no search folders) (offline: no download tried)" in out
    assert "text: Python standard library docstrings (tiny-shakespeare not found" in out
    # Not a terminal: no progress-bar redraws in the log.
    assert "\r" not in proc.stdout + proc.stderr
    for name in ("logistic_regression", "lenet", "lstm_text"):
        history = json.loads((tmp_path / "out" / f"{name}_history.json").read_text())
        losses = history["batch_loss"]
        assert all(math.isfinite(v) for v in losses), f"{name}: non-finite loss in {losses}"
        assert losses[-1] < losses[0], f"{name}: the loss did not fall: {losses}"
    # The compile cache went to the (empty) home, as on a fresh machine.
    assert (home / ".cache").is_dir()
