"""The register tiles sized by the host (codegen/cpu/registers.py), and the narrower AVX2 tiles
checked on an AVX-512 host too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tensorir.codegen.cpu import registers
from tensorir.codegen.cpu.registers import VectorRegisters, host_registers, host_vector_bits, parse_vector_bits

ROOT = Path(__file__).resolve().parents[3]


def test_the_host_registers_are_a_known_register_file() -> None:
    regs = host_registers()
    assert (regs.bits, regs.count) in ((256, 16), (512, 32))
    assert regs.bits <= host_vector_bits()
    assert regs.lanes("float32") == 2 * regs.lanes("float64") == regs.bits // 32


def test_the_lanes_follow_the_width() -> None:
    assert VectorRegisters(512, 32).lanes("float32") == 16
    assert VectorRegisters(256, 16).lanes("float64") == 4


def test_a_width_above_the_host_or_unknown_is_refused() -> None:
    assert parse_vector_bits("256", 512) == 256
    with pytest.raises(ValueError, match=r"TENSORIR_VECTOR_BITS='512'.*one of 256 on this host"):
        parse_vector_bits("512", 256)
    with pytest.raises(ValueError, match="TENSORIR_VECTOR_BITS='128'"):
        parse_vector_bits("128", 512)


@pytest.mark.skipif(not os.path.exists("/proc/cpuinfo") or registers.platform.machine() != "x86_64",
                    reason="reads /proc/cpuinfo's x86 flags")
def test_the_flags_are_read_from_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    flags = registers._cpu_flags()
    assert "sse2" in flags  # every x86-64 CPU has it
    # AVX-512 in the flags and the width the tiles take agree.
    assert ("avx512f" in flags) == (host_vector_bits() == 512)
    monkeypatch.setattr(registers, "_cpu_flags", lambda: set())
    registers.host_vector_bits.cache_clear()
    try:
        assert registers.host_vector_bits() == 256  # no flags known: the AVX2 tiles, correct everywhere
    finally:
        registers.host_vector_bits.cache_clear()


@pytest.mark.slow
@pytest.mark.skipif(host_vector_bits() < 512, reason="the host has no AVX-512: its default tiles are the AVX2 ones")
def test_the_avx2_tiles_match_the_reference_on_this_host() -> None:
    # The kernels of every register-tiled family, compiled with AVX2's tiles, against their
    # references (the default run checks the host's own).
    env = {**os.environ, registers.VECTOR_BITS_VARIABLE: "256"}
    files = ["tests/runtime/test_skinny_gemm.py", "tests/runtime/test_native_panels.py",
             "tests/runtime/test_direct_conv.py", "tests/runtime/test_native_conv.py"]
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-m", "not slow", *files], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
