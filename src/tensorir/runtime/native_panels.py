"""Loop-step products on packed panels, split with the loop helper (codegen/cpu/panel_gemm.py).

While a loop's step is recorded (runtime/native_loop.py), a product ``a @ op(B)`` whose ``B`` is
the same array at every step (a non-sequence: the replay's table moves it 0 bytes a step) and
whose result is short and wide is recorded as two ``split`` entries instead of a BLAS call: a
``split_once`` that packs op(B) into panels at the first step of each replay (B may change
between calls: a shared weight updated by training), and a ``split`` that runs the product over
the panels, half on the calling thread and half on the loop helper (all on the calling thread
in a function limited to one thread). The recorded step itself
(step 0 of the recording) runs both kernels on this thread, so every step's values come from
the same kernels.

Only where it wins: at most :data:`PANEL_MAX_ROWS` rows (beyond them OpenBLAS's blocking is as
good), columns in whole panels, ``alpha == 1`` and ``beta`` 0 or 1, a C-contiguous ``a`` (op(B) in
any layout with positive strides: the packing reads it once), and a size where the panels (on
two threads, or on one for a function limited to one) beat BLAS on all of the function's threads
as measured on this machine (runtime/product_table.py: on more cores OpenBLAS splits the product
over all of them).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from tensorir.codegen.cpu.panel_gemm import panel_width
from tensorir.runtime.loop_helper import ALONE, loop_helper
from tensorir.runtime.native_kernels import RECORDING, KernelContext, KernelSet, kernel_name
from tensorir.runtime.product_table import product_table

__all__ = ["PANEL_MAX_ROWS", "PANEL_PRODUCTS", "PanelProducts"]

#: Most rows of a panel product (an RNN's batch).
PANEL_MAX_ROWS = 64
#: Least multiply-adds: below them a split's hand-over costs more than half the product.
PANEL_MIN_FMA = 1 << 18
_N_ARGS = 6
#: Panel products recorded so far, by dtype (for tests and profiles).
PANEL_PRODUCTS: Counter[str] = Counter()


def _text(kind: str, dtype: str) -> tuple[str, object, int]:
    import functools

    from tensorir.codegen.cpu.panel_gemm import panel_pack_kernel, panel_product_kernel

    name = kernel_name("panel", kind, dtype)
    if kind == "pack":
        return name, functools.partial(panel_pack_kernel, name, dtype), _N_ARGS
    return name, functools.partial(panel_product_kernel, name, dtype, kind == "accumulate"), _N_ARGS


class PanelProducts:
    """The panel kernels of one dtype in one :class:`KernelContext`, compiled on first use."""

    def __init__(self, context: KernelContext, dtype: str) -> None:
        self.context = context
        self.dtype = np.dtype(dtype)
        name = self.dtype.name
        self.width = panel_width(name)
        self.kernels = KernelSet(context, lambda kind: _text(kind, name))

    @staticmethod
    def worth_it(context: KernelContext, dtype: str = "float32", size: tuple[int, int, int] | None = None) -> bool:
        """Whether panels may beat BLAS for ``context``'s functions: on functions that may use two
        threads or more the panels run on two (this one and the loop helper), else on this one; at
        a known ``size`` (m, n, k), where they beat BLAS on the functions' threads as measured on
        this machine (runtime/product_table.py; unmeasured: they may)."""
        if size is None:
            return True
        threads = context.pool.num_threads
        return product_table(context, threads).own_wins("panels", dtype, *size, threads=min(threads, 2)) is not False

    def plan(self, a: np.ndarray, b: np.ndarray, trans_b: bool) -> tuple[int, int, int, tuple[int, int]] | None:
        """``(m, k, n, op(B)'s element steps)`` when ``a @ op(b)`` runs on panels here (see the
        module docstring), else None for the caller's BLAS call."""
        recorder = RECORDING.recorder
        if recorder is None or recorder.pool_calls:
            return None
        moving = recorder.moving.get(id(b))
        if moving is None or moving[1] != 0 or moving[2][0] != "nonseq":
            return None  # op(B) is not one array for every step
        if a.ndim != 2 or b.ndim != 2 or a.dtype != self.dtype or b.dtype != self.dtype:
            return None
        if not (a.flags.c_contiguous and a.flags.aligned and b.flags.aligned):
            return None
        item = self.dtype.itemsize
        steps = b.strides[::-1] if trans_b else b.strides  # op(B)'s rows, columns
        if any(s <= 0 or s % item for s in steps):
            return None
        m, k = a.shape
        n = b.shape[0] if trans_b else b.shape[1]
        if not (0 < m <= PANEL_MAX_ROWS and k > 0 and n > 0 and n % self.width == 0 and m * n * k >= PANEL_MIN_FMA):
            return None
        if not self.worth_it(self.context, self.dtype.name, (m, n, k)):
            return None
        return m, k, n, (steps[0] // item, steps[1] // item)

    def run(self, plan: tuple[int, int, int, tuple[int, int]], a: np.ndarray, b: np.ndarray, out: np.ndarray,
            accumulate: bool) -> None:
        """``out = a @ op(b)`` (``out += ...`` when ``accumulate``) as planned: this step on this
        thread, recorded as the two split entries. ``out`` is C-contiguous ``m x n``."""
        m, k, n, steps = plan
        assert RECORDING.recorder is not None
        recorder = RECORDING.recorder
        # A function on one thread (or a process without a helper) splits with no one: the split
        # entries find no helper alive and run both halves here.
        helper = loop_helper(self.context.cache) if self.context.pool.num_threads >= 2 else None
        state = helper.address if helper is not None else ALONE.address
        pack, product = self.kernels.get("pack"), self.kernels.get("accumulate" if accumulate else "product")
        panels = n // self.width
        packed = np.empty(n * k, self.dtype)
        pack_args = (id(b), id(packed), k, n, *steps)
        product_args = (id(a), id(packed), id(out), m, k, n)
        pack(0, panels, *pack_args)
        product(0, panels, *product_args)
        recorder.own((packed,))
        recorder.split(pack, panels, pack_args, state, once=True)
        recorder.split(product, panels, product_args, state)
        PANEL_PRODUCTS[self.dtype.name] += 1
