"""Compare tensorir with its peers on the workloads of issue 9 and write ``benchmarks/RESULTS.md``.

    python benchmarks/compare.py                       # everything, full sizes
    python benchmarks/compare.py --quick               # tiny sizes, tensorir and NumPy only
    python benchmarks/compare.py --only W1,W3 --frameworks numpy,jax
    python benchmarks/compare.py --family dense,conv   # workload families (F1..F5; "all": every one)

See ``benchmarks/README.md`` for the workloads and how the timing is done.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# Run as a script (``python benchmarks/compare.py``): make ``import benchmarks.*`` work.
_REPO = Path(__file__).resolve().parent.parent
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny sizes; frameworks default to tensorir,numpy")
    p.add_argument(
        "--only",
        default="",
        help="comma list of workloads (W1..W9; W7 selects W7a and W7b) and/or frameworks to run",
    )
    p.add_argument(
        "--family",
        default="",
        help="comma list of workload families (dense, tied, conv, rnn, inference; all: every one), several "
        "sizes each; they run only when named here or in --only (F1..F5)",
    )
    p.add_argument("--frameworks", default="", help="comma list (default: all; quick: tensorir,numpy)")
    p.add_argument("--repeat", type=int, default=None, help="timed repetitions (default 7, quick 3)")
    p.add_argument("--threads", type=int, default=None, help="threads per framework (default: all cores)")
    p.add_argument("--output", default=str(Path("benchmarks") / "RESULTS.md"), help="Markdown file to write")
    p.add_argument("--no-write", action="store_true", help="print the tables only")
    p.add_argument(
        "--sample-timeout",
        type=float,
        default=120.0,
        help="seconds allowed for one framework's build + first call, its warm-up, and each sample; "
        "past it the cell reads 'timeout' (default 120; 0: no limit)",
    )
    p.add_argument(
        "--contended",
        action="store_true",
        help="run everything beside a second process that keeps one core busy",
    )
    return p.parse_args(argv)


def select(args: argparse.Namespace, all_ids: list[str], all_fws: tuple[str, ...]) -> tuple[list[str], list[str]]:
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    fws = [s.strip() for s in args.frameworks.split(",") if s.strip()]
    wl_sel: list[str] = []
    for item in only:
        if item in all_fws:
            fws.append(item)
            continue
        # An exact id selects itself (W9-100); a prefix selects a family (W7, W9).
        hits = [w for w in all_ids if w.lower() == item.lower()] or [
            w for w in all_ids if w.lower().startswith(item.lower())
        ]
        if not hits:
            raise SystemExit(f"--only: unknown workload or framework {item!r}")
        wl_sel += hits
    for f in fws:
        if f not in all_fws:
            raise SystemExit(f"unknown framework {f!r}; known: {', '.join(all_fws)}")
    if not fws:
        fws = ["tensorir", "numpy"] if args.quick else list(all_fws)
    families = [s.strip() for s in getattr(args, "family", "").split(",") if s.strip()]
    if families:
        from benchmarks.workloads.families import FAMILY_NAMES, family_ids

        try:
            wl_sel += family_ids(list(FAMILY_NAMES) if families == ["all"] else families)
        except ValueError as exc:
            raise SystemExit(str(exc)) from None
    if wl_sel:
        workloads = [w for w in all_ids if w in wl_sel]
    else:
        from benchmarks.workloads.families import WORKLOADS as FAMILY_WORKLOADS

        # The suite's own workloads; families run when named (their sizes would triple the run).
        in_families = {w.id for w in FAMILY_WORKLOADS}
        workloads = [w for w in all_ids if w not in in_families]
    frameworks = [f for f in all_fws if f in fws]
    return workloads, frameworks


def _limit_words(seconds: float) -> str:
    if not seconds:
        return "no time limit per sample"
    return f"a framework's build + first call and each sample limited to {seconds:g} s (`timeout` past it)"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Thread counts are read by the BLAS and XLA runtimes when they load: set them first.
    from benchmarks import frameworks as fwmod

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    threads = args.threads or cores
    fwmod.configure_threads(threads)
    os.environ["BENCH_QUICK"] = "1" if args.quick else "0"

    from benchmarks import harness, machine
    from benchmarks.contention import competing_process
    from benchmarks.workloads import all_workloads

    wls = {w.id: w for w in all_workloads()}
    wl_ids, fws = select(args, list(wls), fwmod.ALL_FRAMEWORKS)
    repeat = args.repeat or (3 if args.quick else 7)
    min_sample = 0.002 if args.quick else 0.05

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    t_start = time.perf_counter()
    mach, _limits = machine.machine_markdown(
        threads, copy_bytes=(4 << 20) if args.quick else 40_000_000, gemm_n=256 if args.quick else 2048
    )
    cmd = "python benchmarks/compare.py " + " ".join(sys.argv[1:] if argv is None else argv)
    blocks: dict[str, tuple[harness.Workload, list[harness.Result]]] = {}
    with competing_process(args.contended):
        for wid in wl_ids:
            log(f"{wid}: {wls[wid].title}")
            rows = harness.run_workload(
                wls[wid], fws, args.quick, repeat, min_sample, log=log, sample_limit_s=args.sample_timeout
            )
            blocks[wid] = (wls[wid], rows)
            print(harness.workload_table(wls[wid], rows) + "\n", flush=True)
    elapsed = time.perf_counter() - t_start

    doc = [
        "# tensorir benchmark results",
        "",
        f"Command: `{cmd.strip()}` ({'quick, tiny sizes' if args.quick else 'full sizes'}; "
        f"{repeat} timed repetitions unless a workload caps it; total run {elapsed:.0f} s; "
        f"{_limit_words(args.sample_timeout)}"
        f"{'; beside a competing process that keeps one core busy' if args.contended else ''}).",
        "",
        "## Machine",
        "",
        mach,
        "",
        "Times are per call. Frameworks alternate within each repetition (the order rotates), warm-up calls "
        "are excluded, and the first call (graph build + compile + one run) is reported on its own. "
        "A peer that fails shows its error instead of a time; a result that disagrees with the reference "
        "framework shows as `result mismatch`.",
        "",
        "## Summary",
        "",
        harness.summary_table(blocks),
        "",
        "## Workloads",
        "",
    ]
    for wl, rows in blocks.values():
        doc += [harness.workload_table(wl, rows), ""]
    text = "\n".join(doc)
    print("## Summary\n\n" + harness.summary_table(blocks))
    if not args.no_write:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
