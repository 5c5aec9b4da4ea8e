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


def test_clear_removes_the_gpu_entries(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """PTX (runtime/ptx_cache.py) and cubins (runtime/cuda/modules.py) go too."""
    from tensorir.codegen.gpu.kernel_builder import gpu_module
    from tensorir.codegen.gpu.lower_elementwise import flat_kernel as gpu_flat_kernel
    from tensorir.runtime.cuda.modules import CubinCache
    from tensorir.runtime.ptx_cache import PtxCache

    body = ElementwiseBody(["float32"], ["float32"], [("tir.neg", {}, (0,), "float32")], [1])
    ptx = PtxCache(tmp_path).get(gpu_module([gpu_flat_kernel("kneg", body, (False,))]), "sm_80")
    CubinCache(tmp_path).get(ptx, "sm_80", 13000)  # None (and nothing written) without ptxas
    entries = [p for p in tmp_path.rglob("*") if p.suffix in (".ptx", ".cubin")]
    assert any(p.suffix == ".ptx" for p in entries)
    assert main(["clear", "--dir", str(tmp_path)]) == 0
    assert f"and {len(entries)} GPU entries" in capsys.readouterr().out
    assert [p for p in tmp_path.rglob("*")] == []
