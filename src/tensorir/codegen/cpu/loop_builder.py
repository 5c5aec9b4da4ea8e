"""Nested loops of kernel text, written as Python ``with`` blocks.

:class:`LoopBuilder` sits on :class:`~tensorir.codegen.cpu.lower_elementwise.KernelBuilder` (the
kernel ABI: ``(i64 start, i64 end, i64 args...)``, arrays passed as NumPy array objects) for
kernels whose shape is loops inside loops (pooling, im2col, col2im)::

    lb = LoopBuilder(name, n_args)
    x = lb.data(0)
    with lb.loop("%start", "%end") as p:
        v = lb.load(x, p, "float32")

Each ``with`` collects the ops of its body and closes with the ``scf.for`` / ``scf.if``
around them, so values defined in a body are only used inside it (SSA dominance by
construction). Index arithmetic is ``i64``; loads and stores index arrays in elements.
It also calls Fortran BLAS routines (every argument by pointer) bound by symbol name.

Every load and store carries LLVM alias scopes, one scope per array argument (pointers made by
:meth:`LoopBuilder.offset` keep their base's): the contract is that **an array the kernel
writes overlaps no other array argument**, which the runtime guarantees (outputs and scratch
are fresh buffers), unless the kernel puts the two in one scope (``data(k, scope=j)``).
Without it LLVM guards every short inner loop with run-time overlap checks, which cost more
than the loop itself on rows of 8 or 12 elements.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from tensorir.codegen.cpu.lower_elementwise import KernelBuilder
from tensorir.codegen.cpu.mlir_text import bool_type_like
from tensorir.codegen.cpu.scalar_ops import memory_type

__all__ = ["BLAS_SYMBOL_PREFIX", "VECTOR_WIDTH", "Carried", "LoopBuilder", "gemm_declaration"]

#: Prefix of BLAS symbols in kernel text (``tensorir_blas_sgemm``), as bound by
#: :func:`tensorir.runtime.blas.blas_symbols`.
BLAS_SYMBOL_PREFIX = "tensorir_blas_"

_GEMM_PARAMS = ", ".join(["!llvm.ptr"] * 13)
_ITEMSIZE = {"f32": 4, "f64": 8, "i64": 8, "i32": 4}
#: Elements of one 32-byte (AVX2) vector, per dtype: the copies and windows along short rows (an
#: image row of 8 to 24 elements), where wider vectors would leave longer scalar remainders. The
#: register-tiled products size their vectors by the host (codegen/cpu/registers.py).
VECTOR_WIDTH = {"float32": 8, "float64": 4}


def gemm_declaration(dtype: str) -> tuple[str, str]:
    """(symbol, declaration text) of SciPy's Fortran ``sgemm``/``dgemm`` for ``dtype``."""
    symbol = BLAS_SYMBOL_PREFIX + ("sgemm" if dtype == "float32" else "dgemm")
    return symbol, f"llvm.func @{symbol}({_GEMM_PARAMS})\n"


class Carried:
    """The loop variable and carried values of :meth:`LoopBuilder.carried`."""

    def __init__(self, var: str, args: list[str], types: list[str]) -> None:
        self.var, self.args, self.types = var, args, types
        self.yielded: list[str] | None = None
        self.results: list[str] = []

    def next(self, values: Sequence[str]) -> None:
        """The carried values for the next iteration (the body's last statement)."""
        if len(values) != len(self.args):
            raise ValueError(f"{len(values)} values for {len(self.args)} carried")
        self.yielded = list(values)


class LoopBuilder:
    """One kernel function built from nested ``with`` blocks (see the module docstring)."""

    def __init__(self, name: str, n_args: int, size_optimized: bool = True) -> None:
        self.kb = KernelBuilder(name, n_args)
        # Kernels built here are scheduled by hand (register tiles, explicit vectors, unrolled
        # where it pays), so LLVM's unroller and other size-growing passes add compile time, not
        # speed: ``optsize`` cut LeNet's cold compile from 2.3 to 1.5 s with the same step time.
        self.size_optimized = size_optimized
        self.e = self.kb.e
        self.args = self.kb.args
        self._body: list[str] = []
        self._stack: list[list[str]] = [self._body]
        self._gemm_slots: dict[tuple, tuple[str, str, str, str]] = {}
        self._int_slots: list[str] = []
        #: pointer SSA name -> index of the array argument it points into
        self._scope_of: dict[str, int] = {}

    @property
    def _target(self) -> list[str]:
        return self._stack[-1]

    def _emit(self, fn, *args):  # noqa: ANN001, ANN002, ANN202
        return self.kb.emit_into(self._target, fn, *args)

    # -- arguments ---------------------------------------------------------------------------
    def data(self, k: int, scope: int | None = None) -> str:
        """The data pointer of array argument ``k`` (loaded once, before the loops). ``scope``:
        another argument whose alias scope it shares, for an output that may be written over
        that input in place (LLVM then keeps their loads and stores in program order)."""
        pointer = self.kb.array_field(self.kb.preamble, self.args[k], "data")
        self._scope_of[pointer] = k if scope is None else scope
        return pointer

    def param(self, pointer: str, k: int) -> str:
        """Element ``k`` (a constant index) of an int64 array, loaded before the loops."""
        return self.kb.load_i64(self.kb.preamble, pointer, k)

    # -- i64 arithmetic ------------------------------------------------------------------------
    def const(self, value: int) -> str:
        return self.e.constant(value, "i64")

    def add(self, a: str, b: str) -> str:
        return self._emit(self.e.int_op, "addi", a, b, "i64")

    def sub(self, a: str, b: str) -> str:
        return self._emit(self.e.int_op, "subi", a, b, "i64")

    def mul(self, a: str, b: str) -> str:
        return self._emit(self.e.int_op, "muli", a, b, "i64")

    def div(self, a: str, b: str) -> str:
        """Signed ``a / b`` (exact divisions only: the runtime checks divisibility)."""
        return self._emit(self.e.op, "arith.divsi", [a, b], "i64")

    def min(self, a: str, b: str) -> str:
        return self._emit(self.e.op, "arith.minsi", [a, b], "i64")

    def max(self, a: str, b: str) -> str:
        return self._emit(self.e.op, "arith.maxsi", [a, b], "i64")

    def cmpi(self, predicate: str, a: str, b: str) -> str:
        """``arith.cmpi`` on i64 values (``eq``, ``slt``, ...)."""
        return self._emit(self.e.cmpi, predicate, a, b, "i64")

    def in_range(self, i: str, lo: str, hi: str) -> str:
        """``lo <= i < hi`` as an ``i1``."""
        ge = self._emit(self.e.cmpi, "sge", i, lo, "i64")
        lt = self._emit(self.e.cmpi, "slt", i, hi, "i64")
        return self._emit(self.e.logical, "andi", ge, lt, "i1")

    def or_(self, a: str, b: str, like: str = "f32") -> str:
        """``a or b`` of two ``i1`` values (lanewise when ``like`` is a vector type)."""
        return self._emit(self.e.logical, "ori", a, b, bool_type_like(like))

    # -- memory and floats ---------------------------------------------------------------------
    def _scopes(self, base: str, width: int = 1, element: str = "") -> str:
        """The attributes of an access through ``base``: its alias scopes (and, for vectors, the
        element's alignment: a vector access is only element-aligned)."""
        return self.kb.scope_attributes(self._scope_of[base], _ITEMSIZE[element] if width > 1 else None)

    def _address(self, base: str, index: str, dtype: str) -> str:
        addr = self.e.fresh("a")
        self._target.append(f"{addr} = llvm.getelementptr inbounds {base}[{index}] : "
                            f"(!llvm.ptr, i64) -> !llvm.ptr, {memory_type(dtype)}")
        return addr

    def load(self, base: str, index: str, dtype: str, width: int = 1) -> str:
        """Element ``index`` of the array at ``base`` (a pointer from :meth:`data` or :meth:`offset`),
        or with ``width > 1`` the vector of the ``width`` elements from there (unaligned)."""
        mem = memory_type(dtype)
        type_ = mem if width == 1 else f"vector<{width}x{mem}>"
        addr, value = self._address(base, index, dtype), self.e.fresh("v")
        attrs = self._scopes(base, width, mem)
        self._target.append(f"{value} = llvm.load {addr}{attrs} : !llvm.ptr -> {type_}")
        return value

    def store(self, value: str, base: str, index: str, dtype: str, width: int = 1) -> None:
        """Store ``value`` (a vector of ``width`` elements when ``width > 1``) at element ``index``."""
        mem = memory_type(dtype)
        type_ = mem if width == 1 else f"vector<{width}x{mem}>"
        addr = self._address(base, index, dtype)
        self._target.append(f"llvm.store {value}, {addr}{self._scopes(base, width, mem)} : {type_}, !llvm.ptr")

    def vector_loop(self, lo: str, hi: str, width: int, vector_body, scalar_body) -> None:  # noqa: ANN001
        """``vector_body(j)`` for ``j = lo, lo + width, ...`` while a whole vector fits, then
        ``scalar_body(j)`` for the rest of ``[lo, hi)``.

        For rows too short for LLVM's own vectorization (it interleaves four vectors, so a row of
        8 or 12 floats would run its scalar remainder loop).
        """
        count = self.sub(hi, lo)
        whole = self.add(lo, self.mul(self.div(count, self.const(width)), self.const(width)))
        with self.loop(lo, whole, self.const(width)) as j:
            vector_body(j)
        with self.loop(whole, hi) as j:
            scalar_body(j)

    def fop(self, name: str, operands: Sequence[str], ftype: str) -> str:
        """A float op (``arith.addf``, ``arith.maximumf``, ...) on values of type ``ftype``."""
        return self._emit(self.e.op, name, list(operands), ftype)

    def fcmp(self, predicate: str, a: str, b: str, ftype: str) -> str:
        return self._emit(self.e.cmpf, predicate, a, b, ftype)

    def select(self, cond: str, a: str, b: str, type_: str) -> str:
        return self._emit(self.e.select, cond, a, b, type_)

    def cast(self, name: str, value: str, from_type: str, to_type: str) -> str:
        return self._emit(self.e.cast, name, value, from_type, to_type)

    def offset(self, base: str, index: str, dtype: str) -> str:
        """The address of element ``index`` of ``base`` (in the same array, for loads or BLAS)."""
        addr = self.e.fresh("p")
        self._target.append(f"{addr} = llvm.getelementptr inbounds {base}[{index}] : "
                            f"(!llvm.ptr, i64) -> !llvm.ptr, {memory_type(dtype)}")
        self._scope_of[addr] = self._scope_of[base]
        return addr

    def fill(self, base: str, lo: str, hi: str, value: str, dtype: str) -> None:
        """``base[lo:hi] = value`` (a loop LLVM turns into a memset or vector stores)."""
        with self.loop(lo, hi) as q:
            self.store(value, base, q, dtype)

    # -- structure -------------------------------------------------------------------------------
    @contextmanager
    def loop(self, lo: str, hi: str, step: str = "%one") -> Iterator[str]:
        """``for i in [lo, hi)`` (by ``step``): yields the induction variable."""
        var = self.e.fresh("i")
        body: list[str] = []
        self._stack.append(body)
        try:
            yield var
        finally:
            self._stack.pop()
        self._target.append(f"scf.for {var} = {lo} to {hi} step {step} : i64 {{")
        self._target.extend("  " + line for line in body)
        self._target.append("}")

    @contextmanager
    def carried(self, lo: str, hi: str, inits: Sequence[tuple[str, str]], step: str = "%one") -> Iterator[Carried]:
        """``for i in [lo, hi)`` carrying values (``scf.for`` with ``iter_args``): ``inits`` are
        ``(value, type)``; the body reads :attr:`Carried.args` and must end with
        :meth:`Carried.next`; after the block :attr:`Carried.results` are the final values.
        Accumulators stay in registers this way (a micro-kernel's tile)."""
        loop = Carried(self.e.fresh("i"), [self.e.fresh("acc") for _ in inits], [t for _, t in inits])
        body: list[str] = []
        self._stack.append(body)
        try:
            yield loop
        finally:
            self._stack.pop()
        if loop.yielded is None:
            raise ValueError("carried loop body did not call next()")
        name = self.e.fresh("r")
        types = ", ".join(loop.types)
        iter_args = ", ".join(f"{a} = {v}" for a, (v, _) in zip(loop.args, inits))
        self._target.append(f"{name}:{len(inits)} = scf.for {loop.var} = {lo} to {hi} step {step} "
                            f"iter_args({iter_args}) -> ({types}) : i64 {{")
        self._target.extend("  " + line for line in body)
        self._target.append(f"  scf.yield {', '.join(loop.yielded)} : {types}")
        self._target.append("}")
        loop.results = [f"{name}#{k}" for k in range(len(inits))]

    def broadcast(self, value: str, scalar_type: str, width: int) -> str:
        """A vector of ``width`` copies of a scalar."""
        result = self.e.fresh("b")
        self._target.append(f"{result} = vector.broadcast {value} : {scalar_type} to vector<{width}x{scalar_type}>")
        return result

    def shuffle(self, vector: str, mask: Sequence[int], scalar_type: str, width: int) -> str:
        """Lanes ``mask`` of a ``width``-lane vector, as a vector of ``len(mask)`` lanes."""
        result = self.e.fresh("sh")
        vtype = f"vector<{width}x{scalar_type}>"
        self._target.append(f"{result} = vector.shuffle {vector}, {vector} [{', '.join(map(str, mask))}] "
                            f": {vtype}, {vtype}")
        return result

    def extract(self, vector: str, lane: int | str, scalar_type: str, width: int) -> str:
        """Lane ``lane`` (a constant, or an i64 value) of a ``width``-lane vector."""
        if isinstance(lane, str):
            position = self.e.fresh("lane")
            self._target.append(f"{position} = arith.index_cast {lane} : i64 to index")
            lane = position
        result = self.e.fresh("x")
        self._target.append(f"{result} = vector.extract {vector}[{lane}] : {scalar_type} from "
                            f"vector<{width}x{scalar_type}>")
        return result

    def reduce_add(self, vector: str, scalar_type: str, width: int) -> str:
        """The sum of a vector's elements."""
        result = self.e.fresh("s")
        self._target.append(f"{result} = vector.reduction <add>, {vector} : vector<{width}x{scalar_type}> "
                            f"into {scalar_type}")
        return result

    @contextmanager
    def when(self, condition: str) -> Iterator[None]:
        """``if condition:`` (no else)."""
        body: list[str] = []
        self._stack.append(body)
        try:
            yield
        finally:
            self._stack.pop()
        self._target.append(f"scf.if {condition} {{")
        self._target.extend("  " + line for line in body)
        self._target.append("}")

    # -- BLAS ---------------------------------------------------------------------------------------
    def scalar_slot(self, type_: str) -> str:
        """A stack slot (entry block, so loops do not grow the stack) for a by-pointer argument."""
        slot = self.e.fresh("slot")
        self.kb.preamble.append(f"{slot} = llvm.alloca %one x {type_} : (i64) -> !llvm.ptr")
        return slot

    def constant_slot(self, value: float | int, type_: str) -> str:
        """A stack slot holding a constant (a BLAS ``alpha`` or a transpose flag)."""
        slot = self.scalar_slot(type_)
        self.kb.preamble.append(f"llvm.store {self.e.constant(value, type_)}, {slot} : {type_}, !llvm.ptr")
        return slot

    def gemm(self, dtype: str, trans_a: bool, trans_b: bool, m: str, n: str, k: str, a: str, lda: str,
             b: str, ldb: str, beta: float, c: str, ldc: str) -> None:
        """Fortran ``C = op(A) op(B) + beta C`` (column-major; sizes are i64 values, checked to
        fit Fortran's 32-bit ints by the runtime before the call)."""
        symbol, _ = gemm_declaration(dtype)
        ftype = "f32" if dtype == "float32" else "f64"
        key = (dtype, trans_a, trans_b, beta)
        if key not in self._gemm_slots:
            self._gemm_slots[key] = (self.constant_slot(ord("T" if trans_a else "N"), "i8"),
                          self.constant_slot(ord("T" if trans_b else "N"), "i8"),
                          self.constant_slot(1.0, ftype), self.constant_slot(beta, ftype))
        ta, tb, alpha, beta_slot = self._gemm_slots[key]
        if not self._int_slots:
            self._int_slots = [self.scalar_slot("i32") for _ in range(6)]
        ints = self._int_slots
        for slot, value in zip(ints, (m, n, k, lda, ldb, ldc)):
            small = self.cast("trunci", value, "i64", "i32")
            self._target.append(f"llvm.store {small}, {slot} : i32, !llvm.ptr")
        pm, pn, pk, plda, pldb, pldc = ints
        args = [ta, tb, pm, pn, pk, alpha, a, plda, b, pldb, beta_slot, c, pldc]
        self._target.append(f"llvm.call @{symbol}({', '.join(args)}) : ({_GEMM_PARAMS}) -> ()")

    def render(self, declarations: str = "") -> str:
        """The kernel's text (after ``declarations``, e.g. :func:`gemm_declaration`'s)."""
        assert len(self._stack) == 1, "render() inside a with block"
        attributes = 'passthrough = ["optsize"]' if self.size_optimized else ""
        return self.kb.scope_declarations() + declarations + self.kb.render(self._body, attributes)
