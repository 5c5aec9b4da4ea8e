"""``tensorir-cache list|size|clear``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tensorir.codegen.cpu.lower_elementwise import ElementwiseBody, flat_kernel
from tensorir.runtime.compile_cache import CompileCache
from tensorir.tools.cache import main


def test_list_size_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = ElementwiseBody(["float32"], ["float32"], [("tir.neg", {}, (0,), "float32")], [1])
    CompileCache(tmp_path).get(flat_kernel("kcli", body, (False,)), 0)
    assert main(["list", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "ok" in out and "kcli" in out and "1 entries" in out
    assert main(["size", "--dir", str(tmp_path)]) == 0
    assert "in 1 entries" in capsys.readouterr().out
    assert main(["clear", "--dir", str(tmp_path)]) == 0
    assert "removed 1 entries" in capsys.readouterr().out
    assert CompileCache(tmp_path).entries() == []
