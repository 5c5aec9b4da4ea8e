"""Structured writing of GPU kernel bodies: ``i64`` index arithmetic and nested ``scf`` regions.

The pooling, convolution, batch-normalization and dropout kernels are loops over windows and
taps with index arithmetic at every level. :class:`Body` writes their ops into the current
region of a :class:`~tensorir.codegen.gpu.kernel_builder.GpuKernelBuilder` (its emitter's
``lines``) and opens nested regions (``scf.for`` with or without loop-carried values,
``scf.if``) as context managers, so a kernel reads top to bottom like the loop nest it is.
Loop variables get fresh SSA names: MLIR forbids redefining a name an enclosing region sees.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager

from tensorir.codegen.gpu.kernel_builder import GpuKernelBuilder

__all__ = ["Body", "Carried"]

_I64 = "i64"


class Carried:
    """The loop-carried values of an open ``scf.for`` (:meth:`Body.carry`): read :attr:`values`
    inside the loop, set :attr:`next` to what the iteration yields; :attr:`results` are the
    loop's results after it closes."""

    def __init__(self, values: list[str], results: list[str]) -> None:
        self.values = values
        self.next = list(values)
        self.results = results


class Body:
    """Ops appended to the builder's current region (see the module docstring)."""

    def __init__(self, kb: GpuKernelBuilder) -> None:
        self.kb, self.e = kb, kb.e
        self.lines: list[str] = []
        self.e.lines = self.lines

    # -- i64 arithmetic ---------------------------------------------------------------------------
    def const(self, value: int) -> str:
        return self.e.constant(value, _I64)

    def add(self, a: str, b: str) -> str:
        return self.e.int_op("addi", a, b, _I64)

    def sub(self, a: str, b: str) -> str:
        return self.e.int_op("subi", a, b, _I64)

    def mul(self, a: str, b: str) -> str:
        return self.e.int_op("muli", a, b, _I64)

    def div(self, a: str, b: str) -> str:
        """Signed division rounding toward zero (operands here are >= 0 where it is used)."""
        return self.e.op("arith.divsi", [a, b], _I64)

    def floordiv(self, a: str, b: str) -> str:
        return self.e.op("arith.floordivsi", [a, b], _I64)

    def ceildiv(self, a: str, b: str) -> str:
        return self.e.op("arith.ceildivsi", [a, b], _I64)

    def rem(self, a: str, b: str) -> str:
        return self.e.op("arith.remsi", [a, b], _I64)

    def min(self, a: str, b: str) -> str:
        return self.e.op("arith.minsi", [a, b], _I64)

    def max(self, a: str, b: str) -> str:
        return self.e.op("arith.maxsi", [a, b], _I64)

    def cmp(self, predicate: str, a: str, b: str) -> str:
        return self.e.cmpi(predicate, a, b, _I64)

    def both(self, a: str, b: str) -> str:
        return self.e.logical("andi", a, b, "i1")

    def either(self, a: str, b: str) -> str:
        return self.e.logical("ori", a, b, "i1")

    def select(self, condition: str, a: str, b: str, type_: str = _I64) -> str:
        return self.e.select(condition, a, b, type_)

    def dot(self, coordinates: Sequence[str], strides: Sequence[str]) -> str:
        """``sum(c * s)``: the element offset of ``coordinates`` along element ``strides``."""
        offset = "%zero"
        for c, s in zip(coordinates, strides):
            offset = self.add(offset, self.mul(c, s))
        return offset

    def split(self, index: str, dims: Sequence[str]) -> list[str]:
        """The coordinates of flat (C-order) ``index`` in an array of ``dims``."""
        coordinates = [""] * len(dims)
        rest = index
        for d in range(len(dims) - 1, 0, -1):
            coordinates[d] = self.rem(rest, dims[d])
            rest = self.div(rest, dims[d])
        coordinates[0] = rest
        return coordinates

    # -- memory -----------------------------------------------------------------------------------
    def load(self, base: str, index: str, dtype: str) -> str:
        return self.kb.load(self.e.lines, base, index, dtype)

    def store(self, value: str, base: str, index: str, dtype: str) -> None:
        self.kb.store(self.e.lines, value, base, index, dtype)

    # -- regions ----------------------------------------------------------------------------------
    @contextmanager
    def _region(self) -> Iterator[list[str]]:
        saved = self.e.lines
        inner: list[str] = []
        self.e.lines = inner
        try:
            yield inner
        finally:
            self.e.lines = saved

    @contextmanager
    def loop(self, lo: str, hi: str, step: str = "%one") -> Iterator[str]:
        """``scf.for %v = lo to hi step step``; yields ``%v``."""
        var = self.e.fresh("it")
        with self._region() as inner:
            yield var
        self.e.lines += [f"scf.for {var} = {lo} to {hi} step {step} : i64 {{"] + ["  " + x for x in inner] + ["}"]

    @contextmanager
    def carry(self, lo: str, hi: str, initial: Sequence[str], types: Sequence[str], step: str = "%one"
              ) -> Iterator[tuple[str, Carried]]:
        """``scf.for`` carrying ``initial`` values of ``types``; yields the loop variable and the
        :class:`Carried` whose ``next`` the body sets."""
        var = self.e.fresh("it")
        accs = [self.e.fresh("acc") for _ in initial]
        results = [self.e.fresh("res") for _ in initial]
        carried = Carried(accs, results)
        with self._region() as inner:
            yield var, carried
        tlist = ", ".join(types)
        inits = ", ".join(f"{a} = {v}" for a, v in zip(accs, initial))
        head = (f"{', '.join(results)} = scf.for {var} = {lo} to {hi} step {step} iter_args({inits}) -> ({tlist})"
                " : i64 {")
        self.e.lines += ([head] + ["  " + x for x in inner]
                         + [f"  scf.yield {', '.join(carried.next)} : {tlist}", "}"])

    @contextmanager
    def when(self, condition: str) -> Iterator[None]:
        """``scf.if condition { ... }`` (no results)."""
        with self._region() as inner:
            yield
        self.e.lines += [f"scf.if {condition} {{"] + ["  " + x for x in inner] + ["}"]

    def grid_loop(self, total: str) -> AbstractContextManager[str]:
        """A grid-stride loop over ``[0, total)``: thread ``t`` of ``T`` takes ``t, t + T, ...``."""
        first, stride = self.kb.thread_range()
        return self.loop(first, total, stride)

    def render(self, attributes: str = "") -> str:
        return self.kb.render(self.lines, attributes)
