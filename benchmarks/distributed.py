"""Data-parallel LeNet: time per step on 1 and 2 processes here, and a model of 8-64 workers.

The workload is W5 (LeNet, float32, global batch 500, SGD) with the gradients mean-allreduced
inside the training function (``tensorir.distributed``), each process on its share of the batch
with one kernel thread. Measured here: the step time of 1 and 2 processes (and 1 process with
2 threads, this machine's best single process), the compute time of one process at several
batch sizes, and the time of one allreduce of the gradients' bytes between 2 processes. From
those and a stated network, a ring-allreduce model predicts the step time of 8-64 workers.

    python benchmarks/distributed.py             # measure, print, write the section of RESULTS.md
    python benchmarks/distributed.py --no-write  # print only

It starts itself under the ``mpirun`` of the ``[distributed]`` extra (``--worker``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.workloads.w5_lenet import make_data, tensorir_case

RESULTS = Path(__file__).with_name("RESULTS.md")
SECTION = "## Data-parallel LeNet (benchmarks/distributed.py), run separately"
GLOBAL_BATCH = 500
COMPUTE_BATCHES = (500, 250, 125, 50, 20, 8)


@dataclass(frozen=True)
class Network:
    """A network for the ring model: per-message latency ``alpha_s`` and bandwidth per link."""

    name: str
    alpha_s: float
    bytes_per_s: float


#: The stated networks (typical figures, not measured here): 10 Gb/s Ethernet with TCP through
#: MPI, and 100 Gb/s InfiniBand EDR with RDMA.
NETWORKS = (
    Network("10 GbE (30 us, 1.25 GB/s)", 30e-6, 1.25e9),
    Network("100 Gb/s InfiniBand (2 us, 12.5 GB/s)", 2e-6, 12.5e9),
)
WORKERS = (8, 16, 32, 64)


def ring_allreduce_seconds(workers: int, nbytes: float, buckets: int, net: Network) -> float:
    """Ring allreduce (reduce-scatter then all-gather): each of 2(N-1) rounds sends 1/N of the
    message to the next worker, so T = 2(N-1) * (alpha * buckets + M / (N * beta)). The
    reduction's arithmetic (M/N adds per round) is left out: far below the transfer here."""
    if workers == 1:
        return 0.0
    return 2 * (workers - 1) * (net.alpha_s * buckets + nbytes / (workers * net.bytes_per_s))


# -- the worker (under mpirun) ---------------------------------------------------------------------
def _step_seconds(step: Any, world: Any, steps: int, samples: int) -> tuple[float, float]:
    """Seconds per step: the fastest sample and the median one. On a shared machine the fastest
    sample is the one least disturbed by others, so the derived numbers use it."""
    times = []
    for _ in range(samples):
        world.barrier()  # processes start each sample together
        start = time.perf_counter()
        for _ in range(steps):
            step()
        times.append((time.perf_counter() - start) / steps)
    return float(np.min(times)), float(np.median(times))


def worker(args: argparse.Namespace) -> None:
    import tensorir.distributed as dist
    from tensorir.runtime.collectives import plan_buckets

    world = dist.init(overlap=args.overlap == "on")
    data = make_data(quick=False)
    local = GLOBAL_BATCH // world.size
    rows = slice(world.rank * local, (world.rank + 1) * local)
    mine = {**data, "x": data["x"][rows], "y": data["y"][rows], "batch": local}

    def mean_over_processes(params: Any, grads: Any) -> Any:
        world.broadcast_shared(params)
        return world.allreduce(grads, op="mean")

    case = tensorir_case(mine, mean_over_processes)
    for _ in range(3):  # compile, record, warm
        case.step()
    fastest, median = _step_seconds(case.step, world, args.steps, args.samples)
    result: dict[str, Any] = {"step_s": fastest, "step_median_s": median}
    shapes = [p.shape for p in data["params"]]
    nbytes = sum(p.nbytes for p in data["params"])
    buckets = plan_buckets(shapes, [np.dtype("float32")] * len(shapes), world.communicator.bucket_bytes)
    result.update(gradient_bytes=nbytes, buckets=len(buckets), parameters=sum(p.size for p in data["params"]),
                  bucket_bytes=world.communicator.bucket_bytes)
    if world.size > 1:
        buffer = np.ones(nbytes // 4, np.float32)

        def allreduce() -> None:
            world.communicator.start_allreduce(buffer).wait()

        for _ in range(3):
            allreduce()
        result["allreduce_s"] = _step_seconds(allreduce, world, 20, args.samples)[0]
    elif args.compute_batches:
        compute = {}
        for batch in COMPUTE_BATCHES:
            part = {**data, "x": data["x"][:batch], "y": data["y"][:batch], "batch": batch}
            alone = tensorir_case(part)
            for _ in range(3):
                alone.step()
            compute[batch] = _step_seconds(alone.step, world, max(3, args.steps * GLOBAL_BATCH // (4 * batch)),
                                           args.samples)[0]
        result["compute_s"] = compute
    if world.rank == 0:
        Path(args.worker).write_text(json.dumps(result))


# -- the driver --------------------------------------------------------------------------------------
def _mpirun() -> str:
    beside = Path(sys.executable).parent / "mpirun"
    found = str(beside) if beside.exists() else shutil.which("mpirun")
    if found is None:
        raise SystemExit("benchmarks/distributed.py needs mpirun: pip install -e '.[distributed]'")
    return found


def launch(processes: int, threads: int, args: argparse.Namespace, out: Path, compute: bool = False,
           overlap: str = "on") -> dict:
    # PYTHONFAULTHANDLER: a worker that crashes prints its Python stack (one run crashed once).
    env = {**os.environ, "TENSORIR_FLAGS": f"threads={threads}", "PYTHONFAULTHANDLER": "1",
           "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    command = [_mpirun(), "--oversubscribe", "-n", str(processes), sys.executable, str(Path(__file__).resolve()),
               "--worker", str(out), "--steps", str(args.steps), "--samples", str(args.samples),
               "--overlap", overlap]
    if compute:
        command.append("--compute-batches")
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"{processes} processes failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(out.read_text())


def merge_rounds(results: list[dict]) -> dict:
    """One configuration's rounds as one result: the fastest of every time (the least disturbed),
    the median of the rounds' median steps."""
    merged = dict(results[0])
    merged["step_s"] = min(r["step_s"] for r in results)
    merged["step_median_s"] = float(np.median([r["step_median_s"] for r in results]))
    if "allreduce_s" in merged:
        merged["allreduce_s"] = min(r["allreduce_s"] for r in results)
    if "compute_s" in merged:
        merged["compute_s"] = {b: min(r["compute_s"][b] for r in results) for b in merged["compute_s"]}
    return merged


def compute_model(compute: dict) -> Any:
    """Compute seconds of one worker for a batch: linear between the measured batches (a line
    through all of them misses both ends: small batches pay a per-step cost, large ones spill
    out of the caches)."""
    batches = sorted(int(b) for b in compute)
    seconds = [compute[str(b)] if str(b) in compute else compute[b] for b in batches]
    return lambda batch: float(np.interp(batch, batches, seconds))


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


def report(one: dict, one_two_threads: dict, two: dict, started: str, wall_s: float, args: argparse.Namespace,
           no_overlap: tuple[dict, dict]) -> str:
    compute = compute_model(one["compute_s"])
    nbytes, buckets = one["gradient_bytes"], one["buckets"]
    speedup = one["step_s"] / two["step_s"]
    lines = [
        SECTION,
        "",
        f"Command: `python benchmarks/distributed.py` ({started} UTC, {wall_s:.0f} s). W5's LeNet (float32), global "
        f"batch {GLOBAL_BATCH} split over the processes, gradients mean-allreduced inside the training function "
        "(`tir.allreduce` over MPI: mpi4py + the Open MPI wheel, `mpirun --oversubscribe`), one kernel thread per "
        "process unless said. **This machine has 2 cores and was shared with other engineers' work while this ran**: "
        "the times are what a busy 2-core box gives, and 2 processes on 2 cores are bound by those cores, not by "
        "communication.",
        "",
        "### Measured here",
        "",
        f"The three configurations ran in turns, {args.rounds} round(s) in rotating order, each measurement "
        f"{args.samples} samples of {args.steps} steps after a barrier. Times per step are the fastest sample of "
        "all rounds, the median sample in brackets; speedup, efficiency and the model use the fastest.",
        "",
        "| configuration | time per step | speedup over 1 process | scaling efficiency |",
        "|---|---:|---:|---:|",
        f"| 1 process, 1 thread, batch {GLOBAL_BATCH} | {ms(one['step_s'])} ({ms(one['step_median_s'])}) | 1.00x | "
        "100% |",
        f"| 2 processes, 1 thread each, batch {GLOBAL_BATCH // 2} each | {ms(two['step_s'])} "
        f"({ms(two['step_median_s'])}) | {speedup:.2f}x | {100 * speedup / 2:.0f}% |",
        f"| 1 process, 2 threads, batch {GLOBAL_BATCH} (this machine's best single process) | "
        f"{ms(one_two_threads['step_s'])} ({ms(one_two_threads['step_median_s'])}) | "
        f"{one['step_s'] / one_two_threads['step_s']:.2f}x | |",
        "",
        "Overlap of the allreduce with the backward pass (split into starts right after each gradient and waits "
        "before the update, `init(overlap=...)`; a progress thread advances the transfers), on and off, in the same "
        "rounds:",
        "",
        "| configuration | overlap on | overlap off |",
        "|---|---:|---:|",
        f"| 1 process, 1 thread | {ms(one['step_s'])} ({ms(one['step_median_s'])}) | "
        f"{ms(no_overlap[0]['step_s'])} ({ms(no_overlap[0]['step_median_s'])}) |",
        f"| 2 processes, 1 thread each | {ms(two['step_s'])} ({ms(two['step_median_s'])}) | "
        f"{ms(no_overlap[1]['step_s'])} ({ms(no_overlap[1]['step_median_s'])}) |",
        "",
        f"- Gradients: {one['parameters']:,} float32 values, {nbytes / 1e6:.2f} MB, packed into {buckets} "
        f"message(s) (buckets of up to {one['bucket_bytes'] / 2**20:g} MiB) without overlap; with it, in the order "
        "the gradients are produced, the first bucket closing once it holds 1 MiB (PyTorch DDP's first-bucket rule).",
        f"- One allreduce of those bytes between the 2 processes (shared memory): {ms(two['allreduce_s'])}, "
        f"{100 * two['allreduce_s'] / two['step_s']:.1f}% of the 2-process step. With two free cores the "
        f"2-process step would be the batch-{GLOBAL_BATCH // 2} compute plus that: about "
        f"{ms(one['compute_s'][str(GLOBAL_BATCH // 2)] + two['allreduce_s'])}; the gap to the measured step is the "
        "2 cores shared by 2 busy processes, their MPI polling and the other work on the machine.",
        "- Compute of one process, one thread, by batch: "
        + ", ".join(f"{b}: {ms(s)}" for b, s in one["compute_s"].items())
        + " (the model interpolates between these).",
        "",
        "### Model: 8-64 workers on a network",
        "",
        "Ring allreduce: T = 2(N-1) (alpha * buckets + M / (N * beta)) for M = "
        f"{nbytes / 1e6:.2f} MB in {buckets} bucket(s); compute per worker from the measured batches above "
        "(one core per worker, as measured); no overlap of communication with the backward pass is assumed "
        "(the worst case: the runtime overlaps, but how much it hides depends on the network), so a step is "
        "compute + allreduce. Strong scaling keeps the global batch at "
        f"{GLOBAL_BATCH} (each worker {GLOBAL_BATCH}/N examples); weak scaling keeps {GLOBAL_BATCH // 2} examples "
        "per worker. Efficiency: speedup / N (strong), compute / step (weak).",
        "",
        "| network | workers | allreduce | strong: step | strong: efficiency | weak: step | weak: efficiency |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    whole = compute(GLOBAL_BATCH)
    weak_compute = compute(GLOBAL_BATCH // 2)
    for net in NETWORKS:
        for n in WORKERS:
            t_ar = ring_allreduce_seconds(n, nbytes, buckets, net)
            strong = compute(GLOBAL_BATCH / n) + t_ar
            weak = weak_compute + t_ar
            lines.append(f"| {net.name} | {n} | {ms(t_ar)} | {ms(strong)} | {100 * whole / (n * strong):.0f}% | "
                         f"{ms(weak)} | {100 * weak_compute / weak:.0f}% |")
    slow, n = NETWORKS[0], WORKERS[-1]
    lines += [
        "",
        f"Reading: weak scaling stays efficient (the allreduce is small next to a {GLOBAL_BATCH // 2}-example step). "
        f"Strong scaling loses to the allreduce, which does not shrink as each worker's batch does (at {n} workers "
        f"on {slow.name.split(' (')[0]}: {ms(ring_allreduce_seconds(n, nbytes, buckets, slow))} against "
        f"{ms(compute(GLOBAL_BATCH / n))} of compute; its bandwidth term is about 2M/beta whatever N), and to the "
        f"per-step cost of small batches (kernel launches, Python steps: batch {min(COMPUTE_BATCHES)} takes "
        f"{ms(compute(min(COMPUTE_BATCHES)))}, "
        f"{compute(min(COMPUTE_BATCHES)) / (whole * min(COMPUTE_BATCHES) / GLOBAL_BATCH):.1f}x its share of "
        f"batch {GLOBAL_BATCH}'s {ms(whole)}). "
        "Overlapping the allreduce with the backward pass hides at most the backward compute after the first "
        "bucket leaves. NCCL on GPUs plugs in behind the same communicator interface; "
        "its scaling stays a model until a machine with several GPUs is available.",
        "",
    ]
    return "\n".join(lines)


def write_section(text: str) -> None:
    """Replace this benchmark's section of RESULTS.md (or append it), leaving the rest as it is."""
    content = RESULTS.read_text()
    if SECTION in content:
        start = content.index(SECTION)
        end = content.find("\n## ", start + len(SECTION))
        content = content[:start] + text + ("" if end < 0 else content[end + 1:])
    else:
        content = content.rstrip("\n") + "\n\n" + text
    RESULTS.write_text(content)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=10, help="steps per timed sample (default 10)")
    parser.add_argument("--samples", type=int, default=7, help="timed samples per measurement (default 7)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the five configurations (default 3)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--compute-batches", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--overlap", choices=("on", "off"), default="on", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if min(args.steps, args.samples, args.rounds) < 1:
        raise SystemExit(f"--steps, --samples and --rounds must be at least 1, got {args.steps}, {args.samples} "
                         f"and {args.rounds}")
    if args.worker:
        worker(args)
        return
    import tempfile

    started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    begin = time.perf_counter()
    # (processes, threads, measure compute by batch, overlap): the configurations, run in turns,
    # in an order that rotates from round to round, so a busy spell on the shared machine does
    # not fall on one configuration only.
    configs = [(1, 1, True, "on"), (2, 1, False, "on"), (1, 2, False, "on"), (1, 1, False, "off"), (2, 1, False, "off")]
    runs: dict[tuple, list[dict]] = {c: [] for c in configs}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for k in range(len(configs)):
                config = configs[(k + round_) % len(configs)]
                out = Path(tmp) / f"{round_}-{k}.json"
                runs[config].append(launch(config[0], config[1], args, out, compute=config[2], overlap=config[3]))
    one, two, one_two_threads, one_off, two_off = (merge_rounds(runs[c]) for c in configs)
    text = report(one, one_two_threads, two, started, time.perf_counter() - begin, args, (one_off, two_off))
    print(text)
    if not args.no_write:
        write_section(text)
        print(f"wrote the section to {RESULTS}")


if __name__ == "__main__":
    main()
