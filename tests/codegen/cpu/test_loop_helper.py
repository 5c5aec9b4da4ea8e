"""The loop helper's split protocol: every half runs exactly once, and a half the helper has not
claimed by the time the posting thread is done with its own is taken back, never waited for."""

from __future__ import annotations

import ctypes
import threading

import numpy as np
import pytest

from tensorir.codegen.cpu.jit import compile_mlir
from tensorir.codegen.cpu.loop_helper import SPLIT_KERNEL_ARGS, STATE_WORDS, W_ALIVE, W_CLAIM, W_SEQ, emit_split_block
from tensorir.runtime.compile_cache import get_cache
from tensorir.runtime.loop_helper import loop_helper

_KERNEL = ctypes.CFUNCTYPE(None, *[ctypes.c_int64] * (2 + SPLIT_KERNEL_ARGS))


def _split_function() -> ctypes.CFUNCTYPE:
    """``split(fn, state, n, mid, spin)``: one ``split`` entry of the runner, alone in a function."""
    kargs = [f"%k{k}" for k in range(SPLIT_KERNEL_ARGS)]
    lines = [
        "llvm.func @split(%fa: i64, %state: i64, %n: i64, %mid: i64, %spin: i64) {",
        "  %fn = llvm.inttoptr %fa : i64 to !llvm.ptr",
        "  %stop = llvm.mlir.constant(0 : i64) : i64",
        *(f"  %k{k} = llvm.mlir.constant({k} : i64) : i64" for k in range(SPLIT_KERNEL_ARGS)),
        "  llvm.br ^s",
    ]
    emit_split_block("s", ["%state", "%n", "%mid", *kargs, "%spin"], lines)
    lines += ["^next(%x: i64):", "  llvm.return", "}"]
    module = compile_mlir("\n".join(lines) + "\n", opt_level=1)
    function = ctypes.CFUNCTYPE(None, *[ctypes.c_int64] * 5)(module.address("split"))
    function.module = module  # keep the code alive as long as the function
    return function


def _ranges_kernel(ranges: list[tuple[int, int]]) -> tuple[_KERNEL, int]:
    lock = threading.Lock()

    def kernel(start: int, end: int, *_args: int) -> None:
        with lock:
            ranges.append((start, end))

    callback = _KERNEL(kernel)
    return callback, ctypes.cast(callback, ctypes.c_void_p).value


def _call_with_deadline(function, *args: int) -> None:  # noqa: ANN001
    """Run the split on a thread: a protocol that waits for an absent helper fails the test, not CI."""
    thread = threading.Thread(target=function, args=args, daemon=True)
    thread.start()
    thread.join(timeout=20)
    assert not thread.is_alive(), "the split waited for a helper that never claimed its half"


def test_a_half_no_helper_claims_is_taken_back() -> None:
    split = _split_function()
    state = np.zeros(STATE_WORDS, np.int64)
    state[W_ALIVE] = 1  # a helper that says it is alive and never runs (descheduled, say)
    ranges: list[tuple[int, int]] = []
    kernel, address = _ranges_kernel(ranges)
    for call in range(3):
        _call_with_deadline(split, address, state.ctypes.data, 100, 40, 1000)
        assert sorted(ranges[-2:]) == [(0, 40), (40, 100)]
        assert state[W_SEQ] & 0xFFFFFFFF == call + 1 == state[W_CLAIM] & 0xFFFFFFFF
    del kernel


def test_every_half_runs_once_with_a_real_helper() -> None:
    split = _split_function()
    # The process's helper: it lives as long as the process, as the code its thread runs must.
    helper = loop_helper(get_cache(None))
    if helper is None:
        pytest.skip("the loop helper runs only where the process may use two cores")
    ranges: list[tuple[int, int]] = []
    kernel, address = _ranges_kernel(ranges)
    for spin in (0, 1 << 12):  # the helper asleep (taken back often) and spinning (runs its halves)
        for _ in range(200):
            before = len(ranges)
            _call_with_deadline(split, address, helper.address, 64, 32, spin)
            assert sorted(ranges[before:]) == [(0, 32), (32, 64)]
    del kernel
