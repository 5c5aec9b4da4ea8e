"""Our own Theano-style programs (in ``programs/``), run unchanged through the compatibility layer."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

PROGRAMS = Path(__file__).parent / "programs"
NAMES = sorted(p.name for p in PROGRAMS.glob("*.py"))


@pytest.mark.parametrize("name", NAMES)
def test_program_runs_unchanged(theano, name, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", [name])
    runpy.run_path(str(PROGRAMS / name), run_name="__main__")
    assert capsys.readouterr().out.startswith("OK")


def _run_module(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tensorir.theano_compat", *args], capture_output=True, text=True,
                          timeout=600, env={**os.environ, **(env or {})}, cwd=PROGRAMS)


def test_command_line_runs_a_program_with_arguments_and_flags():
    done = _run_module("logistic_sgd.py", "3", env={"THEANO_FLAGS": "floatX=float32"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("OK logistic_sgd")


def test_pickled_function_reloads_in_another_process(tmp_path):
    checkpoint = tmp_path / "checkpoint.pkl"
    first = _run_module("idioms.py", str(checkpoint))
    assert first.returncode == 0, first.stderr
    second = _run_module("idioms.py", str(checkpoint))
    assert second.returncode == 0, second.stderr
    assert "reloaded" in second.stdout


def test_command_line_usage_errors():
    assert _run_module().returncode == 2
    missing = _run_module("no_such_program.py")
    assert missing.returncode == 2 and "no such program" in missing.stderr
