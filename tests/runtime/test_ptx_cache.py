"""PTX cached on disk: keyed on the text and the chip, reused across caches, rebuilt when corrupt."""

from __future__ import annotations

from pathlib import Path

from tensorir.codegen.cpu.lower_elementwise import ElementwiseBody
from tensorir.codegen.gpu.kernel_builder import gpu_module
from tensorir.codegen.gpu.lower_elementwise import flat_kernel
from tensorir.runtime.ptx_cache import PtxCache, ptx_cache_key

TEXT = gpu_module([flat_kernel("neg", ElementwiseBody(["float32"], ["float32"], [("tir.neg", {}, (0,), "float32")],
                                                      [1]), [False])])


def _fake_compile(calls: list[tuple[str, str]]):  # noqa: ANN202
    def compile_fn(text: str, chip: str) -> str:
        calls.append((text, chip))
        return f".version 8.0\n.target {chip}\n// {len(text)}\n"
    return compile_fn


def test_the_key_names_text_and_chip() -> None:
    assert ptx_cache_key(TEXT, "sm_80") != ptx_cache_key(TEXT, "sm_90")
    assert ptx_cache_key(TEXT, "sm_90") != ptx_cache_key(TEXT + " ", "sm_90")
    assert ptx_cache_key(TEXT, "sm_90") == ptx_cache_key(TEXT, "sm_90")


def test_memory_then_disk_then_rebuilt_when_corrupt(tmp_path: Path) -> None:
    calls: list[tuple[str, str]] = []
    first = PtxCache(tmp_path, _fake_compile(calls))
    ptx = first.get(TEXT, "sm_80")
    assert first.get(TEXT, "sm_80") == ptx and first.stats == {"memory": 1, "disk": 0, "compiled": 1}
    second = PtxCache(tmp_path, _fake_compile(calls))
    assert second.get(TEXT, "sm_80") == ptx and second.stats["disk"] == 1 and len(calls) == 1
    path = second.entry_path(ptx_cache_key(TEXT, "sm_80"))
    path.write_text(path.read_text()[:-5])  # truncated
    third = PtxCache(tmp_path, _fake_compile(calls))
    assert third.get(TEXT, "sm_80") == ptx and third.stats["compiled"] == 1 and len(calls) == 2
    third.get(TEXT, "sm_90")
    assert calls[-1][1] == "sm_90"


def test_real_ptx_round_trips(tmp_path: Path) -> None:
    ptx = PtxCache(tmp_path).get(TEXT, "sm_90")
    assert ".target sm_90" in ptx and ".visible .entry neg(" in ptx
    again = PtxCache(tmp_path)
    assert again.get(TEXT, "sm_90") == ptx and again.stats == {"memory": 0, "disk": 1, "compiled": 0}


def test_memory_only(tmp_path: Path) -> None:
    calls: list[tuple[str, str]] = []
    cache = PtxCache(None, _fake_compile(calls))
    cache.get(TEXT, "sm_80")
    cache.get(TEXT, "sm_80")
    assert len(calls) == 1 and not any(tmp_path.iterdir())
