"""W5 (LeNet step, batch 500) and W6 (char-LSTM step) rows of ``benchmarks/gpu.py``: tensorir with
``device=cuda`` against PyTorch CUDA eager, torch.compile and JAX CUDA on the same device.

The models and data are ``benchmarks/workloads/w5_lenet.py`` and ``w6_lstm.py``'s (tensorir and
JAX run their cases as they are: tensorir's shared variables live in GPU memory under
``device=cuda``, JAX puts its arrays on its default device, the GPU). The workloads' PyTorch
cases build CPU tensors, so the CUDA versions are here: the same modules, parameters and data,
moved to the GPU once; each step synchronizes. None of these numbers exist yet: this has never
run on a GPU.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Row = tuple[str, str, str]
#: PyTorch on the GPU, eager and compiled: (label, compiled).
TORCH_PEERS = (("PyTorch CUDA eager", False), ("torch.compile CUDA", True))


def _torch_lenet(d: dict[str, Any], compiled: bool) -> Callable[[], Any]:
    import torch

    from benchmarks.workloads import w5_lenet

    nn = torch.nn
    ps = w5_lenet._flipped(d["params"])  # PyTorch cross-correlates: the flipped filters are the same model
    model = nn.Sequential(nn.Conv2d(1, 20, 5), nn.MaxPool2d(2), nn.Tanh(), nn.Conv2d(20, 50, 5), nn.MaxPool2d(2),
                          nn.Tanh(), nn.Flatten(), nn.Linear(800, 500), nn.Tanh(), nn.Linear(500, 10))
    targets = [model[0].weight, model[0].bias, model[3].weight, model[3].bias, model[7].weight, model[7].bias,
               model[9].weight, model[9].bias]
    with torch.no_grad():
        for i, (t, p) in enumerate(zip(targets, ps)):
            t.copy_(torch.from_numpy(p.T.copy() if i in (4, 6) else p))  # Linear stores (out, in)
    model = model.cuda()
    opt = torch.optim.SGD(model.parameters(), lr=w5_lenet.LR)
    fwd = torch.compile(model) if compiled else model
    x = torch.from_numpy(d["x"]).reshape(d["batch"], 1, 28, 28).cuda()
    y = torch.from_numpy(d["y"]).long().cuda()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(fwd(x), y).backward()
        opt.step()
        torch.cuda.synchronize()

    return step


def _torch_lstm(d: dict[str, Any], compiled: bool) -> Callable[[], Any]:
    import torch

    from benchmarks.workloads import w6_lstm

    nn = torch.nn
    V, H = d["V"], d["H"]
    Wx, Wh, b, Wy, by = d["params"]
    lstm, out = nn.LSTM(V, H), nn.Linear(H, V)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.from_numpy(Wx.T.copy()))
        lstm.weight_hh_l0.copy_(torch.from_numpy(Wh.T.copy()))
        lstm.bias_ih_l0.copy_(torch.from_numpy(b))
        lstm.bias_hh_l0.zero_()
        out.weight.copy_(torch.from_numpy(Wy.T.copy()))
        out.bias.copy_(torch.from_numpy(by))
    lstm, out = lstm.cuda(), out.cuda()

    def forward(x: Any) -> Any:  # noqa: ANN401
        return out(lstm(x)[0])

    opt = torch.optim.SGD([*lstm.parameters(), *out.parameters()], lr=w6_lstm.LR)
    fwd = torch.compile(forward) if compiled else forward
    x = torch.from_numpy(d["x"]).cuda()
    y = torch.from_numpy(d["y"]).long().reshape(-1).cuda()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(fwd(x).reshape(-1, V), y).backward()
        opt.step()
        torch.cuda.synchronize()

    return step


def _jax_step(module: Any, d: dict[str, Any]) -> Callable[[], Any]:  # noqa: ANN401
    import jax

    if jax.default_backend() != "gpu":
        raise RuntimeError(f"JAX runs on {jax.default_backend()}, not the GPU")
    return module.jax_case(d).step


def _workloads(quick: bool) -> dict[str, tuple[Any, Any, dict[str, Any], Callable[..., Callable[[], Any]]]]:  # noqa: ANN401
    from benchmarks.workloads import w5_lenet, w6_lstm

    return {"W5": (w5_lenet, w5_lenet.WORKLOADS[0], w5_lenet.make_data(quick), _torch_lenet),
            "W6": (w6_lstm, w6_lstm.WORKLOADS[0], w6_lstm.make_data(quick), _torch_lstm)}


def rows(quick: bool, steps: int, limit: float,
         peer_row: Callable[[str, Callable[[], Callable[[], Any]], int, float], tuple[str, float | None]]
         ) -> list[Row]:
    """The W5 and W6 rows: one per peer, each with tensorir's time and the speed ratio (``gpu.py``'s
    ``peer_row`` times each framework under ``limit`` seconds)."""
    import tensorir as tr

    tr.config.device = "cuda"
    out: list[Row] = []
    for wid, (module, workload, data, torch_step) in _workloads(quick).items():
        ours, ours_ms = peer_row("tensorir", lambda module=module, data=data: module.tensorir_case(data).step, steps,
                                 limit)
        peers: list[tuple[str, Callable[[], Callable[[], Any]]]] = [
            (label, lambda data=data, compiled=compiled, make=torch_step: make(data, compiled))
            for label, compiled in TORCH_PEERS]
        peers.append(("JAX CUDA", lambda module=module, data=data: _jax_step(module, data)))
        for label, make in peers:
            theirs, theirs_ms = peer_row(label, make, steps, limit)
            ratio = (f"tensorir {ours} = {theirs_ms / ours_ms:.2f}x {label}'s speed (goal > 1)"
                     if ours_ms and theirs_ms else f"tensorir {ours}")
            out.append((f"{wid} {workload.title}: {label}", theirs, ratio))
    return out


def _scan_call(steps: int, graphs: bool) -> tuple[Callable[[], Any], int]:  # noqa: ANN401
    """A ``device=cuda`` scan of ``steps`` tiny steps (``h = tanh(h @ w + x_t)``, 8 x 8: launch
    bound), built with CUDA graphs on or off; and the number of GPU steps of its body."""
    import os

    import numpy as np

    import tensorir as tr
    import tensorir.tensor as T
    from tensorir.runtime.cuda.graphs import GRAPHS_VARIABLE

    saved = os.environ.get(GRAPHS_VARIABLE)
    os.environ[GRAPHS_VARIABLE] = "1" if graphs else "0"
    try:
        x, h0 = T.tensor3("x", dtype="float32"), T.matrix("h0", dtype="float32")
        w = tr.shared(np.eye(8, dtype="float32") * 0.5, name="w")
        hs, _ = tr.scan(lambda x_t, h, w: T.tanh(T.dot(h, w) + x_t), sequences=[x], outputs_info=[h0],
                        non_sequences=[w])
        f = tr.function([x, h0], hs[-1], return_device_arrays=True)
    finally:
        if saved is None:
            os.environ.pop(GRAPHS_VARIABLE)
        else:
            os.environ[GRAPHS_VARIABLE] = saved
    scans = [step for step, *_ in f.executor.plan.steps if type(step).__name__ == "GpuScanStep"]
    kernels = sum(kind == "gpu" for scan in scans for _, kind in scan.body.step_kinds)
    data = [np.zeros((steps, 8, 8), "float32"), np.zeros((8, 8), "float32")]
    return (lambda: f(*data)), max(kernels, 1)


def scan_overhead_rows(steps: int, repeat: int, wall_ms: Callable[[Callable[[], Any], int], float]) -> list[Row]:
    """A scan step's launch overhead per kernel (goal < 5 us), its body replayed as a CUDA graph
    and step by step."""
    out: list[Row] = []
    for graphs in (True, False):
        call, kernels = _scan_call(steps, graphs)
        call()
        ms = wall_ms(call, repeat)
        per_kernel_us = 1e3 * ms / steps / kernels
        label = "one CUDA graph launch per step" if graphs else "its kernels launched one by one"
        out.append((f"scan of {steps} tiny steps ({kernels} GPU steps each): {label}", f"{ms:.3f} ms",
                    f"{per_kernel_us:.2f} us per kernel{' (goal < 5 us)' if graphs else ''}"))
    return out


def prepare() -> None:
    """Build and run tensorir's W5 and W6 steps once at small sizes (``device=cuda``, under
    ``TENSORIR_CUDA_PREPARE``) so their kernels' PTX is in the bundle."""
    import tensorir as tr

    tr.config.device = "cuda"
    for module, _workload, data, _torch in _workloads(True).values():
        module.tensorir_case(data).step()
    for graphs in (True, False):
        _scan_call(3, graphs)[0]()
