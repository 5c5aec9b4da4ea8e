"""``tensorir-opt``: read tir IR, run named passes, print the result (like ``mlir-opt``).

    tensorir-opt FILE|- [-p pass1,pass2{opt=val}] [--level fast_run|fast_compile]
                 [--print-ir-after-all] [--print-ir-after=PASS] [--list-passes]
                 [--emit=tir|mlir|llvm|ptx] [--chip sm_90] [-o OUT] [--timing] [--no-verify]

``--emit=ptx`` prints the PTX of the module's GPU kernels for ``--chip`` (no GPU is needed).

Errors in the input or the pass list are one line, ``file:line:col: message``, and exit code 1;
no traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

from tensorir.codegen.gpu.ptx import CHIPS, DEFAULT_CHIP
from tensorir.dialects.ir import Module
from tensorir.dialects.opdef import IRError
from tensorir.dialects.parser import ParseError, parse_module
from tensorir.dialects.printer import print_module
from tensorir.dialects.verifier import verify
from tensorir.passes.pass_manager import Pass, PassManager, PassOptionError
from tensorir.passes.pipelines import pipeline
from tensorir.passes.registry import PASSES

PIPELINE_SOURCE = "<pass-pipeline>"


class UsageError(Exception):
    """A diagnostic already formatted as ``where: message``."""


def parse_pipeline(text: str) -> list[Pass]:
    """``cse,canonicalize,fold{max_elements=100}`` -> pass instances (options are space-separated)."""
    passes: list[Pass] = []
    i = 0
    n = len(text)
    while i < n:
        while i < n and text[i] in " ,":
            i += 1
        if i >= n:
            break
        start = i
        while i < n and text[i] not in ",{ ":
            i += 1
        name = text[start:i]
        options: dict[str, str] = {}
        if i < n and text[i] == "{":
            close = text.find("}", i)
            if close < 0:
                raise UsageError(f"{PIPELINE_SOURCE}:1:{i + 1}: unterminated option list of pass {name!r}")
            for item in text[i + 1 : close].split():
                key, eq, value = item.partition("=")
                if not eq:
                    raise UsageError(f"{PIPELINE_SOURCE}:1:{i + 2}: option {item!r} of pass {name!r} needs '=value'")
                options[key] = value
            i = close + 1
        cls = PASSES.get(name)
        if cls is None:
            raise UsageError(
                f"{PIPELINE_SOURCE}:1:{start + 1}: unknown pass {name!r} "
                f"(known: {', '.join(sorted(PASSES))}; see --list-passes)"
            )
        try:
            passes.append(cls.from_options(options))
        except (PassOptionError, TypeError) as exc:
            raise UsageError(f"{PIPELINE_SOURCE}:1:{start + 1}: {exc}") from None
    return passes


def list_passes() -> str:
    lines = []
    for name in sorted(PASSES):
        cls = PASSES[name]
        opts = " ".join(f"{f.name}={f.default}" for f in cls.options())
        lines.append(f"  {name:<13} {cls.summary}" + (f"  [{opts}]" if opts else ""))
    return "Passes (-p name1,name2{option=value}):\n" + "\n".join(lines) + "\n"


def _read(path: str) -> tuple[str, str]:
    if path == "-":
        return sys.stdin.read(), "<stdin>"
    try:
        with open(path, encoding="utf-8") as f:
            return f.read(), path
    except OSError as exc:
        raise UsageError(f"{path}:0:0: cannot read input: {exc.strerror}") from None


def _emit(module: Module, emit: str, chip: str) -> str:
    if emit == "tir":
        return print_module(module)
    from tensorir import codegen

    if emit == "ptx":
        return codegen.lower_to_ptx(module, chip)

    lower = codegen.lower_to_mlir if emit == "mlir" else codegen.lower_to_llvm
    return str(lower(module))


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="tensorir-opt", description="Run tensorir passes on tir IR text.")
    ap.add_argument("input", nargs="?", help="input .mlir file, or - for stdin")
    ap.add_argument(
        "-p",
        "--passes",
        default="",
        help="comma-separated passes, options in braces: cse,fold{max_elements=10}",
    )
    ap.add_argument("--level", choices=["fast_run", "fast_compile"], help="run a whole optimization pipeline first")
    ap.add_argument("--print-ir-after-all", action="store_true", help="print the IR after every pass (stderr)")
    ap.add_argument("--print-ir-after", default="", metavar="PASS", help="print the IR after these passes (stderr)")
    ap.add_argument("--list-passes", action="store_true", help="list the passes and exit")
    ap.add_argument("--emit", choices=["tir", "mlir", "llvm", "ptx"], default="tir", help="output form")
    ap.add_argument("--chip", choices=list(CHIPS), default=DEFAULT_CHIP, help="the GPU chip of --emit=ptx")
    ap.add_argument("-o", "--output", default="-", help="output file (default stdout)")
    ap.add_argument("--timing", action="store_true", help="print the time each pass took (stderr)")
    ap.add_argument("--no-verify", action="store_true", help="do not verify the IR after each pass")
    return ap


def run(argv: Sequence[str], stdout: TextIO, stderr: TextIO) -> int:
    args = build_parser().parse_args(argv)
    if args.list_passes:
        stdout.write(list_passes())
        return 0
    if args.input is None:
        stderr.write("tensorir-opt: error: no input file (give a path or - for stdin)\n")
        return 1
    passes = [*(pipeline(args.level) if args.level else []), *parse_pipeline(args.passes)]
    text, source = _read(args.input)
    try:
        module = parse_module(text)
        verify(module)
    except ParseError as exc:
        raise UsageError(f"{source}:{exc.line}:{exc.col}: {exc.message}") from None
    except IRError as exc:
        raise UsageError(f"{source}:0:0: invalid IR: {exc}") from None
    print_after = {p for p in args.print_ir_after.split(",") if p}
    unknown = print_after - set(PASSES)
    if unknown:
        raise UsageError(f"tensorir-opt: --print-ir-after: unknown pass {sorted(unknown)[0]!r}")

    def after(p: Pass, m: Module) -> None:
        if args.print_ir_after_all or p.name in print_after:
            stderr.write(f"// -----// IR Dump After {p.name} //----- //\n{print_module(m)}")

    pm = PassManager(passes, verify_each=not args.no_verify, after_pass=after)
    try:
        pm.run(module)
    except IRError as exc:
        raise UsageError(f"{source}:0:0: the IR is invalid after a pass: {exc}") from None
    out = _emit(module, args.emit, args.chip)
    if args.timing:
        stderr.write(pm.report() + "\n")
    if args.output == "-":
        stdout.write(out)
    else:
        try:
            with open(args.output, "w", encoding="utf-8") as f:
                f.write(out)
        except OSError as exc:
            raise UsageError(f"{args.output}:0:0: cannot write output: {exc.strerror}") from None
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; returns the exit status."""
    try:
        return run(sys.argv[1:] if argv is None else argv, sys.stdout, sys.stderr)
    except UsageError as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    except Exception as exc:  # a bug in a pass: still one line, and a distinct exit status
        sys.stderr.write(f"tensorir-opt: internal error: {type(exc).__name__}: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
