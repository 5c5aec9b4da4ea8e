"""The native loop runner: replays a recorded sequence of native calls for a range of steps.

A loop whose body is nothing but native calls (kernels, BLAS call kernels, copies) makes the
same calls at every step; only some addresses move with the step (the row of a sequence read,
the row of the output written). :func:`replay_runner` is one fixed function that runs such a
body for steps ``lo .. hi-1`` from a table, so the loop costs one call from Python instead of
a Python round per step:

``i64 tensorir_replay(i64 table, i64 count, i64 lo, i64 hi)``

``table`` is the address of ``count`` entries of :data:`ENTRY_WORDS` int64 words:
``kind, function address, then (base, step) per argument``; argument ``k`` of step ``i`` is
``base_k + i * step_k`` (an address that moves by a row per step, or a constant with step 0).

Kinds (:data:`KINDS`): ``0 .. MAX_ARGS`` call ``void f(i64 x kind)`` (range kernels, ``memcpy``);
the BLAS call kernels' signatures (``i64 f(i64..., f64...)``: float arguments travel as their
bit patterns; a non-zero status stops the loop); ``void f(i32)`` (OpenBLAS's thread count:
``arg0``, at most the int64 at address ``arg1``);
``store`` writes ``arg1`` at address ``arg0`` (moves an array object's data pointer to this
step's row); ``until`` stops after the current step when the byte at ``arg0`` is non-zero;
``loop`` calls ``i64 f(table, count, lo, hi)`` (this runner itself, over a nested table: a
scan inside a whole call's replay) and stops like a refused BLAS call unless it returned ``hi``;
``split`` runs a range kernel over ``[0, arg1)`` on this thread and the loop helper thread
(state at ``arg0``, see :mod:`.loop_helper`), ``split_once`` likewise at a run's first step only.

Returns ``hi`` when every step ran, ``STOPPED + i + 1`` when the ``until`` of step ``i`` fired
(one past it, flagged, so a caller running chunks can tell it from a chunk's end), or ``-1 - i``
when a BLAS kernel refused its operands at step ``i``.
"""

from __future__ import annotations

from tensorir.codegen.cpu.loop_helper import emit_split_block

__all__ = ["ENTRY_WORDS", "KINDS", "MAX_ARGS", "REPLAY_FUNCTION", "STOPPED", "replay_runner"]

#: Arguments an entry can pass (a range kernel's start and end included).
MAX_ARGS = 16
ENTRY_WORDS = 2 + 2 * MAX_ARGS
REPLAY_FUNCTION = "tensorir_replay"
#: Added to the result when an ``until`` stopped the loop.
STOPPED = 1 << 40

#: kind -> (number of i64 arguments, number of f64 arguments, returns a status)
_BLAS_KINDS = {100: (6, 2), 101: (5, 2), 102: (4, 1), 103: (4, 0)}
KINDS = {
    "gemm": 100, "gemv": 101, "ger": 102, "dot": 103, "gemm_raw": 104,
    "threads": 110, "loop": 120, "split": 130, "split_once": 131, "store": 200, "until": 201,
}
# gemm_raw: routine, a, b, c, m, n, k, lda, ldb, ldc, trans_a, trans_b (12 i64), alpha, beta.
_BLAS_KINDS[104] = (12, 2)


def _call_block(label: str, kind: int, args: list[str], lines: list[str]) -> None:
    if kind in (KINDS["split"], KINDS["split_once"]):
        emit_split_block(label, args, lines, once=kind == KINDS["split_once"])
        return
    lines.append(f"^{label}:")
    if kind in _BLAS_KINDS:
        n_int, n_float = _BLAS_KINDS[kind]
        values, types = list(args[:n_int]), ["i64"] * n_int
        for k in range(n_float):
            lines.append(f"  %{label}_f{k} = llvm.bitcast {args[n_int + k]} : i64 to f64")
            values.append(f"%{label}_f{k}")
            types.append("f64")
        lines.append(f"  %{label}_s = llvm.call %fn({', '.join(values)}) : !llvm.ptr, ({', '.join(types)}) -> i64")
        lines.append(f"  %{label}_bad = llvm.icmp \"ne\" %{label}_s, %c0 : i64")
        lines.append(f"  llvm.cond_br %{label}_bad, ^refused, ^next(%stop : i64)")
    elif kind == KINDS["threads"]:
        # At most the thread cap at arg1's address (runtime/core_share.py).
        lines.append(f"  %{label}_cp = llvm.inttoptr {args[1]} : i64 to !llvm.ptr")
        lines.append(f"  %{label}_cap = llvm.load %{label}_cp : !llvm.ptr -> i64")
        lines.append(f"  %{label}_lt = llvm.icmp \"slt\" %{label}_cap, {args[0]} : i64")
        lines.append(f"  %{label}_w = llvm.select %{label}_lt, %{label}_cap, {args[0]} : i1, i64")
        lines.append(f"  %{label}_n = llvm.trunc %{label}_w : i64 to i32")
        lines.append(f"  llvm.call %fn(%{label}_n) : !llvm.ptr, (i32) -> ()")
        lines.append("  llvm.br ^next(%stop : i64)")
    elif kind == KINDS["loop"]:
        lines.append(f"  %{label}_r = llvm.call %fn({', '.join(args[:4])}) : !llvm.ptr, (i64, i64, i64, i64) -> i64")
        lines.append(f"  %{label}_bad = llvm.icmp \"ne\" %{label}_r, {args[3]} : i64")
        lines.append(f"  llvm.cond_br %{label}_bad, ^refused, ^next(%stop : i64)")
    elif kind == KINDS["store"]:
        lines.append(f"  %{label}_p = llvm.inttoptr {args[0]} : i64 to !llvm.ptr")
        lines.append(f"  llvm.store {args[1]}, %{label}_p : i64, !llvm.ptr")
        lines.append("  llvm.br ^next(%stop : i64)")
    elif kind == KINDS["until"]:
        lines.append(f"  %{label}_p = llvm.inttoptr {args[0]} : i64 to !llvm.ptr")
        lines.append(f"  %{label}_b = llvm.load %{label}_p : !llvm.ptr -> i8")
        lines.append(f"  %{label}_z = llvm.mlir.constant(0 : i8) : i8")
        lines.append(f"  %{label}_c = llvm.icmp \"ne\" %{label}_b, %{label}_z : i8")
        lines.append(f"  %{label}_s = llvm.select %{label}_c, %c1, %stop : i1, i64")
        lines.append(f"  llvm.br ^next(%{label}_s : i64)")
    else:
        types = ", ".join(["i64"] * kind)
        lines.append(f"  llvm.call %fn({', '.join(args[:kind])}) : !llvm.ptr, ({types}) -> ()")
        lines.append("  llvm.br ^next(%stop : i64)")


def replay_runner() -> str:
    """MLIR (LLVM dialect) text of :data:`REPLAY_FUNCTION` (see the module docstring)."""
    kinds = list(range(MAX_ARGS + 1)) + sorted(_BLAS_KINDS) + [KINDS["threads"], KINDS["loop"], KINDS["split"],
                                                              KINDS["split_once"], KINDS["store"], KINDS["until"]]
    lines = [
        f"llvm.func @{REPLAY_FUNCTION}(%table: i64, %count: i64, %lo: i64, %hi: i64) -> i64 {{",
        "  %c0 = llvm.mlir.constant(0 : i64) : i64",
        "  %c1 = llvm.mlir.constant(1 : i64) : i64",
        f"  %cw = llvm.mlir.constant({ENTRY_WORDS} : i64) : i64",
        "  %tp = llvm.inttoptr %table : i64 to !llvm.ptr",
        "  llvm.br ^step(%lo : i64)",
        "^step(%i: i64):",
        "  %more = llvm.icmp \"slt\" %i, %hi : i64",
        "  llvm.cond_br %more, ^entry(%c0, %c0 : i64, i64), ^exit(%i : i64)",
        "^entry(%e: i64, %stop: i64):",
        "  %emore = llvm.icmp \"slt\" %e, %count : i64",
        "  llvm.cond_br %emore, ^load, ^step_end",
        "^load:",
        "  %off = llvm.mul %e, %cw : i64",
        "  %ep = llvm.getelementptr %tp[%off] : (!llvm.ptr, i64) -> !llvm.ptr, i64",
        "  %kind = llvm.load %ep : !llvm.ptr -> i64",
        "  %fp1 = llvm.getelementptr %ep[1] : (!llvm.ptr) -> !llvm.ptr, i64",
        "  %fa = llvm.load %fp1 : !llvm.ptr -> i64",
        "  %fn = llvm.inttoptr %fa : i64 to !llvm.ptr",
    ]
    args = []
    for k in range(MAX_ARGS):
        lines += [
            f"  %bp{k} = llvm.getelementptr %ep[{2 + 2 * k}] : (!llvm.ptr) -> !llvm.ptr, i64",
            f"  %b{k} = llvm.load %bp{k} : !llvm.ptr -> i64",
            f"  %sp{k} = llvm.getelementptr %ep[{3 + 2 * k}] : (!llvm.ptr) -> !llvm.ptr, i64",
            f"  %s{k} = llvm.load %sp{k} : !llvm.ptr -> i64",
            f"  %m{k} = llvm.mul %s{k}, %i : i64",
            f"  %a{k} = llvm.add %b{k}, %m{k} : i64",
        ]
        args.append(f"%a{k}")
    cases = ",\n    ".join(f"{kind}: ^k{kind}" for kind in kinds)
    lines.append(f"  llvm.switch %kind : i64, ^refused [\n    {cases}\n  ]")
    for kind in kinds:
        _call_block(f"k{kind}", kind, args, lines)
    lines += [
        "^next(%ns: i64):",
        "  %e1 = llvm.add %e, %c1 : i64",
        "  llvm.br ^entry(%e1, %ns : i64, i64)",
        "^step_end:",
        "  %i1 = llvm.add %i, %c1 : i64",
        "  %stopped = llvm.icmp \"ne\" %stop, %c0 : i64",
        f"  %flag = llvm.mlir.constant({STOPPED} : i64) : i64",
        "  %flagged = llvm.add %i1, %flag : i64",
        "  llvm.cond_br %stopped, ^exit(%flagged : i64), ^step(%i1 : i64)",
        "^refused:",
        "  %neg = llvm.sub %c0, %i : i64",
        "  %err = llvm.sub %neg, %c1 : i64",
        "  llvm.br ^exit(%err : i64)",
        "^exit(%r: i64):",
        "  llvm.return %r : i64",
        "}",
    ]
    return "\n".join(lines) + "\n"
