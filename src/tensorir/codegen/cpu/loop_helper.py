"""A second thread inside native loops: the helper's wait loop and the runner's ``split`` entry.

A loop replay runs on the thread that called it (runtime/native_loop.py), so a kernel inside
it uses one core, and a short product per step (an LSTM's ``32 x 256 @ 256 x 1024``) cannot
be split over the Python thread pool, whose wake-up alone costs 10-70 us on the development
VM. Instead one helper thread waits in native code (:func:`helper_function`, started once by
``runtime/loop_helper.py``), and a ``split`` entry of the runner (:func:`emit_split_block`)
hands it the second half of a range kernel's ``[0, n)``, runs the first half itself and waits
for the helper's. Both sides spin for a number of polls that each split sets (long inside a
loop, whose next split comes within the step; short after a whole call's) and then sleep on a
futex, so an idle helper costs nothing.

The state is an int64 array (:data:`STATE_WORDS`, layout in the ``W_*`` constants). Sequence
numbers are 32-bit (the futex word); a seq_cst store of one side's "sleeping" flag followed by a
seq_cst load of the other side's word, against the other side's seq_cst store then load, means
no wake-up is lost. A split that finds the helper absent (not started, or the process forked)
or busy (another thread's loop is splitting), or finds the thread cap below two (another
process holds the second core: runtime/core_share.py), runs the whole range itself.

Each posted half is claimed once, through a compare-and-swap of :data:`W_CLAIM` from the previous
sequence number to the posted one: by the helper before it runs the half, or by the posting
thread once its own half is done. So a helper that is asleep or has lost its core to another
process (a sweep running beside the training) costs a split nothing but the posting: the
poster runs both halves and moves on, where it used to wait for the helper to be scheduled.
"""

from __future__ import annotations

__all__ = ["HELPER_FUNCTION", "SPLIT_KERNEL_ARGS", "STATE_WORDS", "W_CAP", "emit_split_block", "helper_function"]

HELPER_FUNCTION = "tensorir_loop_helper"
#: A split kernel's arguments after ``(start, end)``: it is called with this many (a kernel that
#: takes fewer ignores the rest, as the C calling convention allows).
SPLIT_KERNEL_ARGS = 12
#: Words of the state array.
STATE_WORDS = 25
# Word indices of the state.
W_SEQ, W_DONE, W_HELPER_SLEEPS, W_MAIN_SLEEPS, W_BUSY, W_ALIVE, W_SYSCALL = range(7)
W_FN, W_START, W_END, W_ARGS = 7, 8, 9, 10
W_SPIN = W_ARGS + SPLIT_KERNEL_ARGS
#: The last sequence number claimed: by the helper before it runs the posted half, or by the
#: posting thread, which takes the half back when the helper has not started it by then.
W_CLAIM = W_SPIN + 1
#: The address of the thread cap (runtime/core_share.py): below two, a split runs whole on the
#: posting thread (another process holds the second core). 0: no cap.
W_CAP = W_CLAIM + 1
_SYS_FUTEX, _FUTEX_WAIT_PRIVATE, _FUTEX_WAKE_PRIVATE = 202, 128, 129

_KERNEL_TYPE = ", ".join(["i64"] * (2 + SPLIT_KERNEL_ARGS))
_SYSCALL = "vararg(!llvm.func<i64 (i64, ...)>) : !llvm.ptr, (i64, i64, i64, i64, i64, i64, i64) -> i64"


def _constants(p: str) -> list[str]:
    return [f"%{p}c{v} = llvm.mlir.constant({v} : i64) : i64" for v in (0, 1, 2)] + [
        f"%{p}i0 = llvm.mlir.constant(0 : i32) : i32",
        f"%{p}i1 = llvm.mlir.constant(1 : i32) : i32",
        f"%{p}futex = llvm.mlir.constant({_SYS_FUTEX} : i64) : i64",
        f"%{p}wait = llvm.mlir.constant({_FUTEX_WAIT_PRIVATE} : i64) : i64",
        f"%{p}wake = llvm.mlir.constant({_FUTEX_WAKE_PRIVATE} : i64) : i64",
    ]


def _word(p: str, state: str, index: int) -> tuple[str, list[str]]:
    name = f"%{p}w{index}"
    return name, [f"{name} = llvm.getelementptr {state}[{index}] : (!llvm.ptr) -> !llvm.ptr, i64"]


def helper_function() -> str:
    """MLIR (LLVM dialect) text of ``void tensorir_loop_helper(i64 state)``: the helper thread's
    whole life. It marks itself alive, then forever waits for a new sequence number, runs the
    posted half and publishes its number as done; it returns when a task's function is 0."""
    p = "h"
    lines = [f"llvm.func @{HELPER_FUNCTION}(%state: i64) {{", *_constants(p),
             "  %sp = llvm.inttoptr %state : i64 to !llvm.ptr"]
    words = {}
    for index in (W_SEQ, W_DONE, W_HELPER_SLEEPS, W_MAIN_SLEEPS, W_ALIVE, W_SYSCALL, W_FN, W_START, W_END, W_SPIN,
                  W_CLAIM, *range(W_ARGS, W_ARGS + SPLIT_KERNEL_ARGS)):
        words[index], more = _word(p, "%sp", index)
        lines += more
    args = ", ".join(f"%a{k}" for k in range(SPLIT_KERNEL_ARGS))
    lines += [
        f"  %sysa = llvm.load {words[W_SYSCALL]} : !llvm.ptr -> i64",
        "  %sys = llvm.inttoptr %sysa : i64 to !llvm.ptr",
        f"  %seqa = llvm.ptrtoint {words[W_SEQ]} : !llvm.ptr to i64",
        f"  %donea = llvm.ptrtoint {words[W_DONE]} : !llvm.ptr to i64",
        f"  llvm.store %{p}c1, {words[W_ALIVE]} atomic seq_cst {{alignment = 8 : i64}} : i64, !llvm.ptr",
        f"  %limit0 = llvm.load {words[W_SPIN]} : !llvm.ptr -> i64",
        f"  llvm.br ^wait(%{p}i0, %{p}c0, %limit0 : i32, i64, i64)",
        "^wait(%last: i32, %spins: i64, %limit: i64):",
        f"  %s = llvm.load {words[W_SEQ]} atomic acquire {{alignment = 8 : i64}} : !llvm.ptr -> i32",
        "  %new = llvm.icmp \"ne\" %s, %last : i32",
        "  llvm.cond_br %new, ^run, ^spin",
        "^spin:",
        "  %more = llvm.icmp \"slt\" %spins, %limit : i64",
        f"  %spins1 = llvm.add %spins, %{p}c1 : i64",
        "  llvm.cond_br %more, ^wait(%last, %spins1, %limit : i32, i64, i64), ^sleep",
        "^sleep:",
        f"  llvm.store %{p}i1, {words[W_HELPER_SLEEPS]} atomic seq_cst {{alignment = 8 : i64}} : i32, !llvm.ptr",
        f"  %s2 = llvm.load {words[W_SEQ]} atomic seq_cst {{alignment = 8 : i64}} : !llvm.ptr -> i32",
        "  %still = llvm.icmp \"eq\" %s2, %last : i32",
        "  llvm.cond_br %still, ^futex, ^woke",
        "^futex:",
        "  %last64 = llvm.zext %last : i32 to i64",
        f"  %r = llvm.call %sys(%{p}futex, %seqa, %{p}wait, %last64, %{p}c0, %{p}c0, %{p}c0) {_SYSCALL}",
        "  llvm.br ^woke",
        "^woke:",
        f"  llvm.store %{p}i0, {words[W_HELPER_SLEEPS]} atomic seq_cst {{alignment = 8 : i64}} : i32, !llvm.ptr",
        f"  llvm.br ^wait(%last, %{p}c0, %limit : i32, i64, i64)",
        "^run:",
        f"  %next_limit = llvm.load {words[W_SPIN]} : !llvm.ptr -> i64",
        f"  %fa = llvm.load {words[W_FN]} : !llvm.ptr -> i64",
        f"  %stop = llvm.icmp \"eq\" %fa, %{p}c0 : i64",
        "  llvm.cond_br %stop, ^exit, ^call",
        "^call:",
        "  %f = llvm.inttoptr %fa : i64 to !llvm.ptr",
        f"  %lo = llvm.load {words[W_START]} : !llvm.ptr -> i64",
        f"  %hi = llvm.load {words[W_END]} : !llvm.ptr -> i64",
    ]
    for k in range(SPLIT_KERNEL_ARGS):
        lines.append(f"  %a{k} = llvm.load {words[W_ARGS + k]} : !llvm.ptr -> i64")
    lines += [
        # Claim the half: the poster takes it back when it finishes its own first, and then may
        # already have posted the next split over these words (this claim fails then). A lost
        # claim means this thread came too late (it had no core): it sleeps at once instead of
        # spinning on the core the poster needs, until a post wakes it.
        f"  %prev = llvm.sub %s, %{p}i1 : i32",
        f"  %cx = llvm.cmpxchg {words[W_CLAIM]}, %prev, %s acq_rel acquire : !llvm.ptr, i32",
        "  %claimed = llvm.extractvalue %cx[1] : !llvm.struct<(i32, i1)>",
        "  llvm.cond_br %claimed, ^work, ^wait(%s, %next_limit, %next_limit : i32, i64, i64)",
        "^work:",
        f"  llvm.call %f(%lo, %hi, {args}) : !llvm.ptr, ({_KERNEL_TYPE}) -> ()",
        f"  llvm.store %s, {words[W_DONE]} atomic seq_cst {{alignment = 8 : i64}} : i32, !llvm.ptr",
        f"  %ms = llvm.load {words[W_MAIN_SLEEPS]} atomic seq_cst {{alignment = 8 : i64}} : !llvm.ptr -> i32",
        f"  %main_sleeps = llvm.icmp \"ne\" %ms, %{p}i0 : i32",
        f"  llvm.cond_br %main_sleeps, ^wake_main, ^wait(%s, %{p}c0, %next_limit : i32, i64, i64)",
        "^wake_main:",
        f"  %r2 = llvm.call %sys(%{p}futex, %donea, %{p}wake, %{p}c1, %{p}c0, %{p}c0, %{p}c0) {_SYSCALL}",
        f"  llvm.br ^wait(%s, %{p}c0, %next_limit : i32, i64, i64)",
        "^exit:",
        f"  llvm.store %{p}c0, {words[W_ALIVE]} atomic seq_cst {{alignment = 8 : i64}} : i64, !llvm.ptr",
        "  llvm.return",
        "}",
    ]
    return "\n".join(lines) + "\n"


def emit_split_block(label: str, args: list[str], lines: list[str], once: bool = False) -> None:
    """The runner's ``split`` entry (block ``^{label}``): ``%fn`` is a range kernel; ``args[0]``
    the state's address, ``args[1]`` the range's end ``n``, ``args[2]`` where the helper's part
    starts (this thread runs ``[0, mid)``, the helper ``[mid, n)``), ``args[3:]`` the kernel's
    ``SPLIT_KERNEL_ARGS`` arguments, then the polls both sides spin after it before sleeping.
    With ``once`` (``split_once``) only the first step of a run (``%i == %lo``) calls it: work on
    values that no step changes, such as packing a loop's weights. Ends with
    ``llvm.br ^next(%stop : i64)``."""
    p = f"{label}_"
    kargs = args[3:3 + SPLIT_KERNEL_ARGS]
    spin = args[3 + SPLIT_KERNEL_ARGS]
    lines.append(f"^{label}:")
    if once:
        lines += [f"  %{p}first = llvm.icmp \"eq\" %i, %lo : i64",
                  f"  llvm.cond_br %{p}first, ^{p}go, ^next(%stop : i64)",
                  f"^{p}go:"]
    lines += [*("  " + line for line in _constants(p)), f"  %{p}sp = llvm.inttoptr {args[0]} : i64 to !llvm.ptr"]
    words = {}
    for index in (W_SEQ, W_DONE, W_HELPER_SLEEPS, W_MAIN_SLEEPS, W_BUSY, W_ALIVE, W_SYSCALL, W_FN, W_START, W_END,
                  W_SPIN, W_CLAIM, W_CAP, *range(W_ARGS, W_ARGS + SPLIT_KERNEL_ARGS)):
        words[index], more = _word(p, f"%{p}sp", index)
        lines += ["  " + line for line in more]
    n = args[1]
    call_all = f"llvm.call %fn(%{p}c0, {n}, {', '.join(kargs)}) : !llvm.ptr, ({_KERNEL_TYPE}) -> ()"
    lines += [
        f"  %{p}alive = llvm.load {words[W_ALIVE]} atomic acquire {{alignment = 8 : i64}} : !llvm.ptr -> i64",
        f"  %{p}two = llvm.icmp \"sge\" {n}, %{p}c2 : i64",
        f"  %{p}up = llvm.icmp \"ne\" %{p}alive, %{p}c0 : i64",
        f"  %{p}try = llvm.and %{p}two, %{p}up : i1",
        f"  llvm.cond_br %{p}try, ^{p}cap, ^{p}all",
        f"^{p}cap:",
        f"  %{p}capa = llvm.load {words[W_CAP]} : !llvm.ptr -> i64",
        f"  %{p}nocap = llvm.icmp \"eq\" %{p}capa, %{p}c0 : i64",
        f"  llvm.cond_br %{p}nocap, ^{p}lock, ^{p}capped",
        f"^{p}capped:",
        f"  %{p}capp = llvm.inttoptr %{p}capa : i64 to !llvm.ptr",
        f"  %{p}capn = llvm.load %{p}capp atomic monotonic {{alignment = 8 : i64}} : !llvm.ptr -> i64",
        f"  %{p}room = llvm.icmp \"sge\" %{p}capn, %{p}c2 : i64",
        f"  llvm.cond_br %{p}room, ^{p}lock, ^{p}all",
        f"^{p}lock:",
        f"  %{p}cx = llvm.cmpxchg {words[W_BUSY]}, %{p}c0, %{p}c1 acquire monotonic : !llvm.ptr, i64",
        f"  %{p}got = llvm.extractvalue %{p}cx[1] : !llvm.struct<(i64, i1)>",
        f"  llvm.cond_br %{p}got, ^{p}post, ^{p}all",
        f"^{p}all:",
        f"  {call_all}",
        "  llvm.br ^next(%stop : i64)",
        f"^{p}post:",
        f"  %{p}fa = llvm.ptrtoint %fn : !llvm.ptr to i64",
        f"  llvm.store %{p}fa, {words[W_FN]} : i64, !llvm.ptr",
        f"  llvm.store {args[2]}, {words[W_START]} : i64, !llvm.ptr",
        f"  llvm.store {n}, {words[W_END]} : i64, !llvm.ptr",
    ]
    for k, a in enumerate(kargs):
        lines.append(f"  llvm.store {a}, {words[W_ARGS + k]} : i64, !llvm.ptr")
    lines.append(f"  llvm.store {spin}, {words[W_SPIN]} : i64, !llvm.ptr")
    lines += [
        f"  %{p}old = llvm.load {words[W_SEQ]} : !llvm.ptr -> i32",
        f"  %{p}s = llvm.add %{p}old, %{p}i1 : i32",
        f"  llvm.store %{p}s, {words[W_SEQ]} atomic seq_cst {{alignment = 8 : i64}} : i32, !llvm.ptr",
        f"  %{p}hs = llvm.load {words[W_HELPER_SLEEPS]} atomic seq_cst {{alignment = 8 : i64}} : !llvm.ptr -> i32",
        f"  %{p}asleep = llvm.icmp \"ne\" %{p}hs, %{p}i0 : i32",
        f"  llvm.cond_br %{p}asleep, ^{p}wake, ^{p}mine",
        f"^{p}wake:",
        f"  %{p}sysa = llvm.load {words[W_SYSCALL]} : !llvm.ptr -> i64",
        f"  %{p}sys = llvm.inttoptr %{p}sysa : i64 to !llvm.ptr",
        f"  %{p}seqa = llvm.ptrtoint {words[W_SEQ]} : !llvm.ptr to i64",
        f"  %{p}r = llvm.call %{p}sys(%{p}futex, %{p}seqa, %{p}wake, %{p}c1, %{p}c0, %{p}c0, %{p}c0) {_SYSCALL}",
        f"  llvm.br ^{p}mine",
        f"^{p}mine:",
        f"  llvm.call %fn(%{p}c0, {args[2]}, {', '.join(kargs)}) : !llvm.ptr, ({_KERNEL_TYPE}) -> ()",
        # A helper that has not claimed its half by now is asleep or without a core (another
        # process has it): take the half back rather than wait for it.
        f"  %{p}prev = llvm.sub %{p}s, %{p}i1 : i32",
        f"  %{p}cl = llvm.cmpxchg {words[W_CLAIM]}, %{p}prev, %{p}s acq_rel acquire : !llvm.ptr, i32",
        f"  %{p}took = llvm.extractvalue %{p}cl[1] : !llvm.struct<(i32, i1)>",
        f"  llvm.cond_br %{p}took, ^{p}back, ^{p}wait(%{p}c0 : i64)",
        f"^{p}back:",
        f"  llvm.call %fn({args[2]}, {n}, {', '.join(kargs)}) : !llvm.ptr, ({_KERNEL_TYPE}) -> ()",
        f"  llvm.br ^{p}done",
        f"^{p}wait(%{p}spins: i64):",
        f"  %{p}d = llvm.load {words[W_DONE]} atomic acquire {{alignment = 8 : i64}} : !llvm.ptr -> i32",
        f"  %{p}fin = llvm.icmp \"eq\" %{p}d, %{p}s : i32",
        f"  llvm.cond_br %{p}fin, ^{p}done, ^{p}spin",
        f"^{p}spin:",
        f"  %{p}more = llvm.icmp \"slt\" %{p}spins, {spin} : i64",
        f"  %{p}spins1 = llvm.add %{p}spins, %{p}c1 : i64",
        f"  llvm.cond_br %{p}more, ^{p}wait(%{p}spins1 : i64), ^{p}sleep",
        f"^{p}sleep:",
        f"  llvm.store %{p}i1, {words[W_MAIN_SLEEPS]} atomic seq_cst {{alignment = 8 : i64}} : i32, !llvm.ptr",
        f"  %{p}d2 = llvm.load {words[W_DONE]} atomic seq_cst {{alignment = 8 : i64}} : !llvm.ptr -> i32",
        f"  %{p}fin2 = llvm.icmp \"eq\" %{p}d2, %{p}s : i32",
        f"  llvm.cond_br %{p}fin2, ^{p}woke, ^{p}futex",
        f"^{p}futex:",
        f"  %{p}sysb = llvm.load {words[W_SYSCALL]} : !llvm.ptr -> i64",
        f"  %{p}sys2 = llvm.inttoptr %{p}sysb : i64 to !llvm.ptr",
        f"  %{p}donea = llvm.ptrtoint {words[W_DONE]} : !llvm.ptr to i64",
        f"  %{p}d64 = llvm.zext %{p}d2 : i32 to i64",
        f"  %{p}r2 = llvm.call %{p}sys2(%{p}futex, %{p}donea, %{p}wait, %{p}d64, %{p}c0, %{p}c0, %{p}c0) {_SYSCALL}",
        f"  llvm.br ^{p}woke",
        f"^{p}woke:",
        f"  llvm.store %{p}i0, {words[W_MAIN_SLEEPS]} atomic seq_cst {{alignment = 8 : i64}} : i32, !llvm.ptr",
        f"  llvm.br ^{p}wait(%{p}c0 : i64)",
        f"^{p}done:",
        f"  llvm.store %{p}c0, {words[W_BUSY]} atomic release {{alignment = 8 : i64}} : i64, !llvm.ptr",
        "  llvm.br ^next(%stop : i64)",
    ]
