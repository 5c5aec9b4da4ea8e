"""Golden PTX: each ``filecheck/*.mlir`` runs through ``tensorir-opt`` (its ``// RUN:`` line, with
``--emit=ptx``) and the PTX is checked against its ``// CHECK:`` lines (the lines that matter:
entries, the loads, the shuffles), like the passes' golden files."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tensorir.tools.opt import run

HERE = Path(__file__).parent / "filecheck"
FILES = sorted(HERE.glob("*.mlir"))
RUN_LINE = re.compile(r"//\s*RUN:\s*tensorir-opt %s (.*?)\s*\|\s*filecheck %s")


def _filecheck() -> list[str]:
    exe = Path(sys.executable).with_name("filecheck")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("filecheck")
    if found is None:
        pytest.skip("filecheck is not installed (pip install filecheck)")
    return [found]


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_golden_ptx(path: Path) -> None:
    m = RUN_LINE.search(path.read_text())
    assert m, f"{path.name} has no '// RUN: tensorir-opt %s ... | filecheck %s' line"
    out, err = io.StringIO(), io.StringIO()
    assert run([*m.group(1).split(), str(path)], out, err) == 0, err.getvalue()
    proc = subprocess.run([*_filecheck(), str(path)], input=out.getvalue(), capture_output=True, text=True)
    assert proc.returncode == 0, f"filecheck failed:\n{proc.stderr}\n--- tensorir-opt output ---\n{out.getvalue()}"
