"""GPU checks and benchmarks: one command for a lent device (issue 24).

    python benchmarks/gpu.py --out DIR [--quick] [--no-tests]

1. ``pytest -m gpu`` (the device tests), its output in ``DIR/pytest-gpu.txt``;
2. kernels against the device's own limits, timed with CUDA events, a Markdown table in
   ``DIR/gpu.md`` (with the device's name): the measured device-to-device copy bandwidth, the
   fused elementwise vector kernel on 2**28 float32 (goal: >= 85% of the copy), the row softmax
   on 32768 x 4096 float32 (goal: >= 70%); the rows the GPU runtime does not have yet (cuBLAS
   products, training steps against PyTorch and JAX, a call's overhead) say so.

Without a device it writes the driver's reason to ``DIR/gpu.md`` and exits with status 2. It is
scaffolding: it has never run on a GPU, and its numbers, once it has, are the first ones.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from tensorir.codegen.cpu.lower_elementwise import ElementwiseBody
from tensorir.codegen.gpu.kernel_builder import gpu_module
from tensorir.codegen.gpu.lower_elementwise import vector_kernel, vector_lanes
from tensorir.codegen.gpu.lower_nn import row_kernel
from tensorir.runtime.compile_cache import default_cache_dir
from tensorir.runtime.cuda.driver import unavailable_reason
from tensorir.runtime.cuda.launch import elementwise_launch, row_launch
from tensorir.runtime.cuda.parameters import ParameterBlock
from tensorir.runtime.ptx_cache import PtxCache

REPO = Path(__file__).resolve().parents[1]

#: Problem sizes: the issue's, and small ones for --quick.
SIZES = {"full": {"elementwise": 2**28, "softmax": (32768, 4096)},
         "quick": {"elementwise": 2**20, "softmax": (1024, 1024)}}
NOT_WRITTEN = [
    ("4096^3 float32 product against cuBLAS alone (goal >= 95%)", "the cuBLAS calls are not written yet"),
    ("W3/W4 training steps against PyTorch CUDA and JAX CUDA", "device=cuda functions are not written yet"),
    ("a trivial call's overhead (goal < 15 us)", "device=cuda functions are not written yet"),
]


def run_device_tests(out: Path) -> int:
    proc = subprocess.run([sys.executable, "-m", "pytest", "-m", "gpu", "-rs", "-q"], cwd=REPO, capture_output=True,
                          text=True)
    (out / "pytest-gpu.txt").write_text(proc.stdout + proc.stderr)
    return proc.returncode


class Timer:
    """Milliseconds between two CUDA events around a launch, the best of ``repeat``."""

    def __init__(self, driver) -> None:  # noqa: ANN001 - cuda.bindings.driver
        from tensorir.runtime.cuda.driver import check

        self.driver, self.check = driver, check
        self.start = check(driver.cuEventCreate(0), "cuEventCreate")
        self.stop = check(driver.cuEventCreate(0), "cuEventCreate")

    def best(self, launch, repeat: int) -> float:  # noqa: ANN001 - a callable
        launch()  # warm-up (the first launch loads the module's code)
        times = []
        for _ in range(repeat):
            self.check(self.driver.cuEventRecord(self.start, 0), "cuEventRecord")
            launch()
            self.check(self.driver.cuEventRecord(self.stop, 0), "cuEventRecord")
            self.check(self.driver.cuEventSynchronize(self.stop), "cuEventSynchronize")
            times.append(self.check(self.driver.cuEventElapsedTime(self.start, self.stop), "cuEventElapsedTime"))
        return min(times)


def measure(sizes: dict, repeat: int) -> tuple[str, list[tuple[str, str, str]]]:
    """The device's name and rows (what, time, bandwidth or share of the copy)."""
    from tensorir.runtime.cuda.driver import Device, GpuModule, check, require_driver

    driver = require_driver()
    device = Device.open(0)
    name = check(driver.cuDeviceGetName(256, device.handle), "cuDeviceGetName")
    name = name.split(b"\0", 1)[0].decode() if isinstance(name, bytes) else str(name)
    timer = Timer(driver)
    rows: list[tuple[str, str, str]] = []
    n = sizes["elementwise"]
    x, y = (check(driver.cuMemAlloc(n * 4), "cuMemAlloc") for _ in range(2))
    check(driver.cuMemsetD32(x, 0x3F000000, n), "cuMemsetD32")  # 0.5f
    copy_ms = timer.best(lambda: check(driver.cuMemcpyDtoD(y, x, n * 4), "cuMemcpyDtoD"), repeat)
    copy_gbs = 2 * n * 4 / copy_ms / 1e6
    rows.append((f"copy, {n} float32 (device to device)", f"{copy_ms:.3f} ms", f"{copy_gbs:.0f} GB/s"))

    body = ElementwiseBody(["float32"], ["float32"], [("tir.tanh", {}, (0,), "float32"),
                                                      ("tir.mul", {}, (1, 0), "float32")], [2])
    rows_, cols = sizes["softmax"]
    ptx = PtxCache(default_cache_dir()).get(gpu_module([vector_kernel("fused", body, [False]),
                                       row_kernel("softmax", "tir.softmax", "float32")]), device.chip)
    module = device.load(ptx)
    fused = module.function("fused")
    params = ParameterBlock(3)
    params.set([int(x), int(y), n])
    config = elementwise_launch(n, device.limits, vector_lanes(["float32"]))
    ms = timer.best(lambda: GpuModule.launch(fused, config, params), repeat)
    gbs = 2 * n * 4 / ms / 1e6
    rows.append((f"fused tanh(x) * x, {n} float32 (vector kernel)", f"{ms:.3f} ms",
                 f"{gbs:.0f} GB/s = {100 * gbs / copy_gbs:.0f}% of the copy (goal >= 85%)"))

    softmax = module.function("softmax")
    params = ParameterBlock(4)
    params.set([int(x), int(y), cols, rows_])
    config = row_launch(rows_, cols, device.limits)
    ms = timer.best(lambda: GpuModule.launch(softmax, config, params), repeat)
    gbs = 2 * rows_ * cols * 4 / ms / 1e6
    rows.append((f"row softmax, {rows_} x {cols} float32", f"{ms:.3f} ms",
                 f"{gbs:.0f} GB/s = {100 * gbs / copy_gbs:.0f}% of the copy (goal >= 70%)"))
    for buffer in (x, y):
        driver.cuMemFree(buffer)
    return name, rows


def table(device: str, rows: list[tuple[str, str, str]]) -> str:
    lines = [f"# GPU benchmarks on {device}", "", f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", "",
             "| case | best time | throughput |", "| --- | --- | --- |"]
    lines += [f"| {what} | {when} | {how} |" for what, when, how in rows]
    lines += [f"| {what} | not run | {why} |" for what, why in NOT_WRITTEN]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path, help="folder for pytest-gpu.txt and gpu.md")
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    ap.add_argument("--no-tests", action="store_true", help="skip pytest -m gpu")
    ap.add_argument("--repeat", type=int, default=10)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    reason = unavailable_reason()
    if reason is not None:
        (args.out / "gpu.md").write_text(f"# GPU benchmarks\n\nNot run: {reason}\n")
        print(f"no GPU: {reason}", file=sys.stderr)
        return 2
    status = 0 if args.no_tests else run_device_tests(args.out)
    device, rows = measure(SIZES["quick" if args.quick else "full"], args.repeat)
    text = table(device, rows)
    (args.out / "gpu.md").write_text(text)
    print(text)
    return 1 if status else 0


if __name__ == "__main__":
    sys.exit(main())
