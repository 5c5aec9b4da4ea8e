"""GPU checks and benchmarks of issue 24: one command for a lent NVIDIA GPU.

    python benchmarks/gpu.py --out DIR [--quick] [--no-tests] [--time-limit S]
    python benchmarks/gpu.py --prepare            # no GPU: PTX of every kernel below into the bundle

1. ``pytest -m gpu`` (the device tests), its output in ``DIR/pytest-gpu.txt``;
2. a Markdown table in ``DIR/RESULTS-gpu.md`` (with the device's name and driver):
   - the device-to-device copy bandwidth, measured (CUDA events), the yardstick of the next rows;
   - fused elementwise ``tanh(x) * x`` on 2**28 float32 (goal >= 85% of the copy): the kernel
     alone (events) and a ``device=cuda`` function on a GPU shared variable (wall clock);
   - row softmax on 32768 x 4096 float32 (goal >= 70% of the copy), the same two ways;
   - a 4096^3 float32 product through a function against cuBLAS alone (goal >= 95%);
   - the W3 and W4 training steps (``benchmarks/workloads``) with ``device=cuda`` against
     PyTorch CUDA and JAX CUDA on the same device, each peer sample under ``--time-limit``;
   - W5 (LeNet, batch 500) and W6 (char-LSTM) against PyTorch CUDA eager, torch.compile and
     JAX CUDA, and a scan step's launch overhead per kernel with and without CUDA graphs (goal
     < 5 us; ``benchmarks/gpu_conv_scan.py``);
   - a trivial call's overhead (goal < 15 us): ``s += 1`` on a GPU shared variable, and
     ``f(x) = x + 1`` of a 1-element NumPy input (an upload and a download).

``--prepare`` (a machine without a GPU, under ``TENSORIR_CUDA_PREPARE``, see
``runtime/cuda/prepare.py``) builds every function above at small sizes and compiles the raw
kernels, so their PTX is in the bundle the device run reads (``benchmarks/gpu_check.sh``).
Without a device (and not preparing) it writes the driver's reason and exits with status 2.
None of its numbers exist yet: it has never run on a GPU.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
if str(REPO / "src") not in sys.path:
    sys.path.insert(0, str(REPO / "src"))

from benchmarks import gpu_conv_scan  # noqa: E402
from benchmarks.time_limit import SampleTimeout, time_limit  # noqa: E402
from tensorir.codegen.cpu.lower_elementwise import ElementwiseBody  # noqa: E402
from tensorir.codegen.gpu.kernel_builder import gpu_module  # noqa: E402
from tensorir.codegen.gpu.lower_elementwise import vector_kernel, vector_lanes  # noqa: E402
from tensorir.codegen.gpu.lower_nn import row_kernel  # noqa: E402
from tensorir.runtime.cuda.driver import unavailable_reason  # noqa: E402
from tensorir.runtime.cuda.prepare import module_ptx, prepare_directory  # noqa: E402

RESULTS = "RESULTS-gpu.md"
#: Problem sizes: the issue's, and small ones for --quick and --prepare.
SIZES = {"full": {"elementwise": 2**28, "softmax": (32768, 4096), "gemm": 4096, "steps": 50, "calls": 2000},
         "quick": {"elementwise": 2**20, "softmax": (1024, 1024), "gemm": 512, "steps": 5, "calls": 100}}
Row = tuple[str, str, str]


def raw_module() -> str:
    """The raw kernels' module: the fused vector kernel and the row softmax (also prepared)."""
    body = ElementwiseBody(["float32"], ["float32"], [("tir.tanh", {}, (0,), "float32"),
                                                      ("tir.mul", {}, (1, 0), "float32")], [2])
    return gpu_module([vector_kernel("fused", body, [False]), row_kernel("softmax", "tir.softmax", "float32")])


def run_device_tests(out: Path) -> str:
    """``pytest -m gpu``; its output in ``out/pytest-gpu.txt``; returns its summary line."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "-m", "gpu", "-rs", "-q", "-p", "no:cacheprovider"],
                          cwd=REPO, capture_output=True, text=True)
    text = proc.stdout + proc.stderr
    (out / "pytest-gpu.txt").write_text(text)
    lines = [line for line in text.splitlines() if " passed" in line or " failed" in line or " error" in line]
    return lines[-1].strip("= ") if lines else f"pytest exited with status {proc.returncode}"


class Timer:
    """Milliseconds of GPU work between two CUDA events on ``stream``, the best of ``repeat``."""

    def __init__(self, driver: Any, stream: Any = 0) -> None:  # noqa: ANN401
        from tensorir.runtime.cuda.driver import check

        self.driver, self.check, self.stream = driver, check, stream
        self.start = check(driver.cuEventCreate(0), "cuEventCreate")
        self.stop = check(driver.cuEventCreate(0), "cuEventCreate")

    def best(self, launch: Callable[[], Any], repeat: int) -> float:
        launch()  # warm-up (the first launch loads the module's code)
        times = []
        for _ in range(repeat):
            self.check(self.driver.cuEventRecord(self.start, self.stream), "cuEventRecord")
            launch()
            self.check(self.driver.cuEventRecord(self.stop, self.stream), "cuEventRecord")
            self.check(self.driver.cuEventSynchronize(self.stop), "cuEventSynchronize")
            times.append(self.check(self.driver.cuEventElapsedTime(self.start, self.stop), "cuEventElapsedTime"))
        return min(times)


def wall_ms(call: Callable[[], Any], repeat: int) -> float:
    """The median wall time of ``call`` in ms after two warm-ups (every tensorir call synchronizes)."""
    call()
    call()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def _share(gbs: float, copy_gbs: float | None, goal: int) -> str:
    if copy_gbs is None:
        return f"{gbs:.0f} GB/s"
    return f"{gbs:.0f} GB/s = {100 * gbs / copy_gbs:.0f}% of the copy (goal >= {goal}%)"


# -- tensorir functions (built the same way when preparing) --------------------------------------------------
def fused_function(tr: Any, T: Any, n: int) -> tuple[Callable[[], Any], Any]:  # noqa: ANN401
    x = tr.shared(np.full(n, 0.5, np.float32), name="x")
    f = tr.function([], T.tanh(x) * x, return_device_arrays=True)
    return f, x


def softmax_function(tr: Any, T: Any, rows: int, cols: int) -> Callable[[], Any]:  # noqa: ANN401
    x = tr.shared(np.random.default_rng(0).normal(size=(rows, cols)).astype(np.float32), name="scores")
    return tr.function([], T.nnet.softmax(x), return_device_arrays=True)


def product_function(tr: Any, T: Any, n: int) -> tuple[Callable[[], Any], Any, Any]:  # noqa: ANN401
    rng = np.random.default_rng(1)
    a = tr.shared(rng.normal(size=(n, n)).astype(np.float32), name="a")
    b = tr.shared(rng.normal(size=(n, n)).astype(np.float32), name="b")
    return tr.function([], T.dot(a, b), return_device_arrays=True), a, b


def overhead_functions(tr: Any, T: Any) -> tuple[Callable[[], Any], Callable[[Any], Any]]:  # noqa: ANN401
    s = tr.shared(np.zeros(1, np.float32), name="s")
    bump = tr.function([], [], updates=[(s, s + 1)])
    x = T.vector("x", dtype="float32")
    return bump, tr.function([x], x + 1)


def training_cases(quick: bool) -> dict[str, Any]:
    """W3 and W4's data (``benchmarks/workloads``)."""
    from benchmarks.workloads import w3_logreg, w4_mlp

    return {"W3": (w3_logreg.WORKLOADS[0], w3_logreg.make_data(quick)),
            "W4": (w4_mlp.WORKLOADS[0], w4_mlp.make_data(quick))}


def tensorir_step(data: dict[str, Any]) -> Callable[[], Any]:
    """The Theano-style training step of ``dense_common`` with ``device=cuda`` (parameters in GPU
    memory; each step uploads its minibatch and downloads the cost)."""
    from benchmarks.workloads import dense_common

    return dense_common.tensorir_case(data).step


def torch_step(data: dict[str, Any]) -> Callable[[], Any]:
    import torch

    nn = torch.nn
    ps, layers = data["params"], []
    for i in range(0, len(ps), 2):
        lin = nn.Linear(*ps[i].shape)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(ps[i].T.copy()))
            lin.bias.copy_(torch.from_numpy(ps[i + 1]))
        layers.append(lin)
        if i < len(ps) - 2:
            layers.append(nn.Tanh())
    model = nn.Sequential(*layers).cuda()
    opt = torch.optim.SGD(model.parameters(), lr=data["lr"])
    x_host, y_host = torch.from_numpy(data["x"]), torch.from_numpy(data["y"]).long()

    def step() -> float:
        # The same work as tensorir's step: the minibatch goes up, the cost comes down.
        x, y = x_host.cuda(non_blocking=False), y_host.cuda()
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return float(loss.item())

    return step


def jax_step(data: dict[str, Any]) -> Callable[[], Any]:
    import jax

    if jax.default_backend() != "gpu":
        raise RuntimeError(f"JAX runs on {jax.default_backend()}, not the GPU")
    from benchmarks.workloads.dense_common import jax_update

    update = jax_update(jax, data["lr"])
    state = [jax.device_put(p) for p in data["params"]]

    def step() -> float:
        nonlocal state
        state, cost = update(state, data["x"], data["y"])  # uploads the minibatch, like the others
        return float(cost)

    return step


def peer_row(label: str, make: Callable[[], Callable[[], Any]], steps: int, limit: float) -> tuple[str, float | None]:
    """One framework's median step time (ms), its build and samples under ``limit`` seconds."""
    try:
        with time_limit(limit):
            step = make()
            ms = wall_ms(step, steps)
        return f"{ms:.3f} ms", ms
    except SampleTimeout as exc:
        return str(exc), None
    except Exception as exc:  # noqa: BLE001 - a missing or broken peer is a cell, not a crash
        return f"not run: {type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}", None


# -- the run -----------------------------------------------------------------------------------------------
def measure(sizes: dict, repeat: int, limit: float) -> tuple[str, list[Row]]:
    """The device's description and the table's rows."""
    import tensorir as tr
    import tensorir.tensor as T
    from tensorir.runtime.cuda.context import runtime_for
    from tensorir.runtime.cuda.cublas import Cublas
    from tensorir.runtime.cuda.driver import GpuModule, check
    from tensorir.runtime.cuda.launch import elementwise_launch, row_launch
    from tensorir.runtime.cuda.parameters import ParameterBlock

    tr.config.device = "cuda"
    runtime = runtime_for(0)
    driver, device = runtime.driver, runtime.device
    name = check(driver.cuDeviceGetName(256, device.handle), "cuDeviceGetName")
    name = name.split(b"\0", 1)[0].decode() if isinstance(name, bytes) else str(name)
    version = int(check(driver.cuDriverGetVersion(), "cuDriverGetVersion"))
    described = f"{name} ({device.chip}, {device.limits.multiprocessors} SMs), CUDA driver {version // 1000}." \
                f"{version % 1000 // 10}"
    timer = Timer(driver)
    rows: list[Row] = []

    n = sizes["elementwise"]
    x, y = (check(driver.cuMemAlloc(n * 4), "cuMemAlloc") for _ in range(2))
    check(driver.cuMemsetD32(x, 0x3F000000, n), "cuMemsetD32")  # 0.5f
    copy_ms = timer.best(lambda: check(driver.cuMemcpyDtoD(y, x, n * 4), "cuMemcpyDtoD"), repeat)
    copy_gbs = 2 * n * 4 / copy_ms / 1e6
    rows.append((f"copy, {n} float32 (device to device, read + write)", f"{copy_ms:.3f} ms", f"{copy_gbs:.0f} GB/s"))

    module = device.load(module_ptx(raw_module(), device.chip, None))
    params = ParameterBlock(3)
    params.set([int(x), int(y), n])
    config = elementwise_launch(n, device.limits, vector_lanes(["float32"]))
    fused = module.function("fused")
    ms = timer.best(lambda: GpuModule.launch(fused, config, params), repeat)
    rows.append((f"fused tanh(x) * x, {n} float32: the vector kernel alone", f"{ms:.3f} ms",
                 _share(2 * n * 4 / ms / 1e6, copy_gbs, 85)))
    f, _ = fused_function(tr, T, n)
    ms = wall_ms(f, repeat)
    rows.append((f"fused tanh(x) * x, {n} float32: a device=cuda function (wall)", f"{ms:.3f} ms",
                 _share(2 * n * 4 / ms / 1e6, copy_gbs, 85)))
    del f

    r, c = sizes["softmax"]
    softmax = module.function("softmax")
    sparams = ParameterBlock(4)
    sparams.set([int(x), int(y), c, r])
    config = row_launch(r, c, device.limits)
    ms = timer.best(lambda: GpuModule.launch(softmax, config, sparams), repeat)
    rows.append((f"row softmax, {r} x {c} float32: the row kernel alone", f"{ms:.3f} ms",
                 _share(2 * r * c * 4 / ms / 1e6, copy_gbs, 70)))
    f = softmax_function(tr, T, r, c)
    ms = wall_ms(f, repeat)
    rows.append((f"row softmax, {r} x {c} float32: a device=cuda function (wall)", f"{ms:.3f} ms",
                 _share(2 * r * c * 4 / ms / 1e6, copy_gbs, 70)))
    del f
    for buffer in (x, y):
        driver.cuMemFree(buffer)

    g = sizes["gemm"]
    product, a, b = product_function(tr, T, g)
    memory = runtime.stream_memory()
    cublas = Cublas(memory.stream_handle)
    out = check(driver.cuMemAlloc(g * g * 4), "cuMemAlloc")
    A, B = a.get_value(borrow=True), b.get_value(borrow=True)
    alone = Timer(driver, memory.stream).best(
        lambda: cublas.gemm("float32", g, g, g, 1.0, A.address, B.address, 0.0, int(out)), repeat)
    ms = wall_ms(product, repeat)
    tflops = 2 * g ** 3 / ms / 1e9
    rows.append((f"{g}^3 float32 product: cuBLAS alone (events)", f"{alone:.3f} ms",
                 f"{2 * g ** 3 / alone / 1e9:.1f} TFLOP/s"))
    rows.append((f"{g}^3 float32 product: a device=cuda function (wall)", f"{ms:.3f} ms",
                 f"{tflops:.1f} TFLOP/s = {100 * alone / ms:.0f}% of cuBLAS alone (goal >= 95%)"))
    driver.cuMemFree(out)
    del product, a, b

    for wid, (workload, data) in training_cases(sizes is SIZES["quick"]).items():
        ours, ours_ms = peer_row("tensorir", lambda data=data: tensorir_step(data), sizes["steps"], limit)
        for peer, make in (("PyTorch CUDA", torch_step), ("JAX CUDA", jax_step)):
            theirs, theirs_ms = peer_row(peer, lambda make=make, data=data: make(data), sizes["steps"], limit)
            ratio = f"tensorir {ours} = {theirs_ms / ours_ms:.2f}x {peer}'s speed" if ours_ms and theirs_ms else \
                f"tensorir {ours}"
            rows.append((f"{wid} {workload.title}: {peer}", theirs, ratio))
    rows += gpu_conv_scan.rows(sizes is SIZES["quick"], sizes["steps"], limit, peer_row)
    rows += gpu_conv_scan.scan_overhead_rows(200 if sizes is SIZES["quick"] else 1000, repeat, wall_ms)

    bump, plus_one = overhead_functions(tr, T)
    calls = sizes["calls"]
    one = np.ones(1, np.float32)
    rows.append(("trivial call: s += 1 on a GPU shared variable (median)",
                 f"{1e3 * wall_ms(bump, calls):.1f} us", "goal < 15 us"))
    rows.append(("trivial call: f(x) = x + 1, 1-element NumPy in and out (median)",
                 f"{1e3 * wall_ms(lambda: plus_one(one), calls):.1f} us", "an upload, a kernel and a download"))
    return described, rows


def prepare(sizes: dict) -> None:
    """Build every function of :func:`measure` (small sizes) and the raw kernels' PTX."""
    import tensorir as tr
    import tensorir.tensor as T

    tr.config.device = "cuda"
    module_ptx(raw_module(), os.environ.get("TENSORIR_CUDA_PREPARE_CHIP", "sm_90"), None)
    fused_function(tr, T, 1000)[0]()
    softmax_function(tr, T, 4, 7)()
    product_function(tr, T, 8)[0]()
    bump, plus_one = overhead_functions(tr, T)
    bump()
    plus_one(np.ones(1, np.float32))
    for _, data in training_cases(True).values():
        tensorir_step(data)()
    gpu_conv_scan.prepare()


def table(device: str, tests: str, rows: list[Row]) -> str:
    lines = [f"# GPU benchmarks on {device}", "", f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
             f"`pytest -m gpu`: {tests}", "", "| case | time | throughput / comparison |", "| --- | --- | --- |"]
    lines += [f"| {what} | {when} | {how} |" for what, when, how in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, help=f"folder for pytest-gpu.txt and {RESULTS}")
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    ap.add_argument("--no-tests", action="store_true", help="skip pytest -m gpu")
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--time-limit", type=float, default=30.0, help="seconds for each peer's build and samples")
    ap.add_argument("--prepare", action="store_true", help="no GPU: put the PTX of every kernel into the bundle "
                    "(under TENSORIR_CUDA_PREPARE)")
    args = ap.parse_args(argv)
    if args.prepare:
        if prepare_directory() is None:
            ap.error("--prepare needs TENSORIR_CUDA_PREPARE=DIR (the bundle's folder)")
        prepare(SIZES["quick"])
        return 0
    if args.out is None:
        ap.error("--out is required")
    args.out.mkdir(parents=True, exist_ok=True)
    reason = unavailable_reason()
    if reason is not None:
        (args.out / RESULTS).write_text(f"# GPU benchmarks\n\nNot run: {reason}\n")
        print(f"no GPU: {reason}", file=sys.stderr)
        return 2
    tests = "not run (--no-tests)" if args.no_tests else run_device_tests(args.out)
    print(f"pytest -m gpu: {tests}", flush=True)
    device, rows = measure(SIZES["quick" if args.quick else "full"], args.repeat, args.time_limit)
    text = table(device, tests, rows)
    (args.out / RESULTS).write_text(text)
    print(text)
    return 0 if args.no_tests or (" failed" not in tests and " error" not in tests) else 1


if __name__ == "__main__":
    sys.exit(main())
