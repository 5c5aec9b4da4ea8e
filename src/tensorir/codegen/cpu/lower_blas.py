"""BLAS call kernels: generated functions that read NumPy arrays and call SciPy's Fortran BLAS.

A BLAS step of a native plan calls one of these with the addresses of the array *objects* (the
ABI of :mod:`.lower_elementwise`), the BLAS routine's address (from
:func:`tensorir.runtime.blas.blas_pointer`, passed as an argument: it differs in every process,
so it cannot be a constant of code kept in the compile cache), flags and the scalars. The
kernel reads each operand's data pointer, dims and byte strides, works out how BLAS can read
it in place, and calls the routine with every argument by pointer (the Fortran ABI). From
Python that is one ctypes call with integer and float arguments; the f2py wrappers it
replaces check and convert every argument in Python on each call.

Row-major and column-major. An operand ``X`` (``x0 x x1``, byte strides ``s0, s1``, element
size ``w``) is usable in place when it is

- *row-major*: ``s1 == w`` (or ``x1 == 1``) and ``s0`` a multiple of ``w`` with ``s0 >= x1 w``
  (or ``x0 == 1``). To Fortran its memory is ``X^T`` (``x1 x x0``), leading dim ``s0 / w``;
- *column-major*: the same with the roles of the dims swapped. To Fortran its memory is ``X``
  (``x0 x x1``), leading dim ``s1 / w``.

Anything else (negative or zero strides of long dims, misaligned data) is reported to the
caller, which passes a C-contiguous copy instead. Row-major ``C = op(A) op(B)`` is the
column-major ``C^T = op(B)^T op(A)^T``; each operand's Fortran transpose flag follows from its
layout and its ``trans`` flag (see :func:`gemm_function`). Sizes and leading dims must fit
Fortran's 32-bit ``int``; the kernels report when they do not.

Every kernel returns an ``i64`` status: 0 after the call, else a bit mask saying why it did not
call: bit ``k`` (``1 << k``) for operand ``k`` not usable in place (A, B of gemm; A, x of gemv;
x, y of ger and dot), :data:`TOO_LARGE` for sizes beyond 32 bits.

:func:`emit_gemm_call` writes the Fortran call sequence itself, for other kernels that call
gemm on raw buffers (e.g. a convolution's im2col product).
"""

from __future__ import annotations

from collections.abc import Sequence

from tensorir.codegen.cpu.block_transpose import BLOCK, emit_block_transpose
from tensorir.codegen.cpu.lower_elementwise import KernelBuilder
from tensorir.codegen.cpu.mlir_text import KernelEmitter

__all__ = ["BLAS_KERNELS", "TOO_LARGE", "blas_kernel", "blas_module", "blas_routine", "emit_gemm_call",
           "gemm_raw_function"]

#: Status bit: a size or leading dimension does not fit Fortran's 32-bit int.
TOO_LARGE = 1 << 8

#: The kernels of :func:`blas_module`: suffix -> (parameter types after the routine's address,
#: result type). ``a`` parameters are array object addresses.
BLAS_KERNELS: dict[str, tuple[tuple[str, ...], str]] = {
    # (A, B, C, trans_a, trans_b, alpha, beta): C = alpha op(A) op(B) + beta C; C is m x n, C-contiguous.
    "gemm": (("i64", "i64", "i64", "i64", "i64", "f64", "f64"), "i64"),
    # (A, x, y, trans, alpha, beta): y = alpha op(A) x + beta y; y contiguous.
    "gemv": (("i64", "i64", "i64", "i64", "f64", "f64"), "i64"),
    # (x, y, A, alpha): A += alpha outer(x, y); A is len(x) x len(y), C-contiguous.
    "ger": (("i64", "i64", "i64", "f64"), "i64"),
    # (x, y, out): out[()] = x . y; out is a 0-d array.
    "dot": (("i64", "i64", "i64"), "i64"),
    # Raw buffers, row-major (see gemm_raw_function): (A, B, C pointers, m, n, k, lda, ldb, ldc,
    # trans_a, trans_b, alpha, beta).
    "gemm_raw": (("i64",) * 11 + ("f64", "f64"), "i64"),
}

_ROUTINES = {"gemm": "gemm", "gemv": "gemv", "ger": "ger", "dot": "dot", "gemm_raw": "gemm"}
_INT32_MAX = 2**31 - 1
_N, _T = ord("N"), ord("T")


def _element(dtype: str) -> tuple[str, int]:
    if dtype == "float32":
        return "f32", 4
    if dtype == "float64":
        return "f64", 8
    raise ValueError(f"BLAS kernels exist for float32 and float64, not {dtype}")


class _Function:
    """One kernel function: parameters, the lines of its entry block, helpers for i64 logic."""

    def __init__(self, name: str, params: Sequence[tuple[str, str]], result: str,
                 emitter: KernelEmitter | None = None, lines: list[str] | None = None) -> None:
        self.name = name
        self.params = list(params)
        self.result = result
        self.kb = KernelBuilder(name, 0)  # for array_field / load_i64 (the array object ABI)
        if emitter is not None:
            self.kb.e = emitter
        self.e: KernelEmitter = self.kb.e
        self.lines: list[str] = [] if lines is None else lines

    def op(self, fn, *args):  # noqa: ANN001, ANN002, ANN202
        return self.kb.emit_into(self.lines, fn, *args)

    def const(self, value: int, type_: str = "i64") -> str:
        return self.e.constant(value, type_)

    def i64(self, name: str, a: str, b: str) -> str:
        return self.op(self.e.int_op, name, a, b, "i64")

    def cmp(self, predicate: str, a: str, b: str) -> str:
        return self.op(self.e.cmpi, predicate, a, b, "i64")

    def both(self, a: str, b: str) -> str:
        return self.op(self.e.logical, "andi", a, b, "i1")

    def either(self, a: str, b: str) -> str:
        return self.op(self.e.logical, "ori", a, b, "i1")

    def select(self, cond: str, a: str, b: str, type_: str = "i64") -> str:
        return self.op(self.e.select, cond, a, b, type_)

    def field(self, array: str, name: str) -> str:
        return self.kb.array_field(self.lines, array, name)

    def dims_and_strides(self, array: str, rank: int) -> tuple[list[str], list[str]]:
        dims = self.field(array, "dimensions")
        strides = self.field(array, "strides")
        return ([self.kb.load_i64(self.lines, dims, d) for d in range(rank)],
                [self.kb.load_i64(self.lines, strides, d) for d in range(rank)])

    def slot(self, value: str, type_: str) -> str:
        """A stack slot holding ``value``: Fortran takes every argument by pointer."""
        slot = self.e.fresh("slot")
        self.lines.append(f"{slot} = llvm.alloca %one x {type_} : (i64) -> !llvm.ptr")
        self.lines.append(f"llvm.store {value}, {slot} : {type_}, !llvm.ptr")
        return slot

    def int_slot(self, value: str) -> str:
        return self.slot(self.op(self.e.cast, "trunci", value, "i64", "i32"), "i32")

    def char_slot(self, transposed: str) -> str:
        """``'T'`` where ``transposed`` (an i1) holds, else ``'N'``."""
        char = self.select(transposed, self.const(_T, "i8"), self.const(_N, "i8"), "i8")
        return self.slot(char, "i8")

    def scalar_slot(self, value: str, ftype: str) -> str:
        """An ``f64`` parameter as a BLAS scalar of the routine's precision."""
        if ftype == "f32":
            value = self.op(self.e.cast, "truncf", value, "f64", "f32")
        return self.slot(value, ftype)

    def fits_int32(self, values: Sequence[str]) -> str:
        """An i1: every value is at most 2^31 - 1 (sizes and leading dims are never negative here)."""
        limit = self.const(_INT32_MAX)
        ok = self.const(1, "i1")
        for v in values:
            ok = self.both(ok, self.cmp("sle", v, limit))
        return ok

    def render(self, call: list[str], status: str) -> str:
        """The function: entry lines, then ``call`` only when ``status`` is 0, then return it."""
        params = ", ".join(f"%{n}: {t}" for n, t in self.params)
        go = self.cmp("eq", status, "%zero")
        out = [f"func.func @{self.name}({params}) -> {self.result} {{",
               "  %one = arith.constant 1 : i64", "  %zero = arith.constant 0 : i64"]
        out += ["  " + line for line in self.e.constant_lines]
        out += ["  " + line for line in self.lines]
        out += [f"  scf.if {go} {{"] + ["    " + line for line in call] + ["  }"]
        out += [f"  return {status} : i64", "}"]
        return "\n".join(out) + "\n"


class _Matrix:
    """How BLAS can read a 2-D array argument in place (see the module docstring)."""

    def __init__(self, f: _Function, array: str, w: int) -> None:
        (x0, x1), (s0, s1) = f.dims_and_strides(array, 2)
        self.x0, self.x1 = x0, x1
        self.data = f.field(array, "data")
        width = f.const(w)
        x0_one, x1_one = f.cmp("eq", x0, "%one"), f.cmp("eq", x1, "%one")

        def packed(s: str, inner: str) -> str:
            # a positive multiple of w, at least the other dim's extent
            multiple = f.cmp("eq", f.i64("remsi", s, width), "%zero")
            return f.both(multiple, f.cmp("sge", s, f.i64("muli", inner, width)))

        self.row = f.both(f.either(x1_one, f.cmp("eq", s1, width)), f.either(x0_one, packed(s0, x1)))
        col = f.both(f.either(x0_one, f.cmp("eq", s0, width)), f.either(x1_one, packed(s1, x0)))
        address = f.e.fresh("addr")
        f.lines.append(f"{address} = llvm.ptrtoint {self.data} : !llvm.ptr to i64")
        aligned = f.cmp("eq", f.i64("remui", address, width), "%zero")
        self.usable = f.both(f.either(self.row, col), aligned)
        ld_row = f.select(x0_one, f.op(f.e.op, "arith.maxsi", [x1, "%one"], "i64"), f.i64("divsi", s0, width))
        ld_col = f.select(x1_one, f.op(f.e.op, "arith.maxsi", [x0, "%one"], "i64"), f.i64("divsi", s1, width))
        self.ld = f.select(self.row, ld_row, ld_col)
        # Dims of the Fortran matrix in memory: X^T when row-major, X when column-major.
        self.rows = f.select(self.row, x1, x0)
        self.cols = f.select(self.row, x0, x1)


class _Vector:
    """How BLAS can read a 1-D array argument in place: a positive stride, a multiple of w."""

    def __init__(self, f: _Function, array: str, w: int) -> None:
        (self.n,), (s,) = f.dims_and_strides(array, 1)
        self.data = f.field(array, "data")
        width = f.const(w)
        one_element = f.cmp("sle", self.n, "%one")
        strided = f.both(f.cmp("sgt", s, "%zero"), f.cmp("eq", f.i64("remsi", s, width), "%zero"))
        address = f.e.fresh("addr")
        f.lines.append(f"{address} = llvm.ptrtoint {self.data} : !llvm.ptr to i64")
        aligned = f.cmp("eq", f.i64("remui", address, width), "%zero")
        self.usable = f.both(f.either(one_element, strided), aligned)
        self.inc = f.select(one_element, "%one", f.i64("divsi", s, width))


def _status(f: _Function, usable: Sequence[str], sizes: Sequence[str]) -> str:
    """Bit k when operand k is not usable in place (``usable[k]``, an i1), TOO_LARGE for sizes."""
    status = "%zero"
    for k, ok in enumerate(usable):
        bit = f.select(ok, "%zero", f.const(1 << k))
        status = f.i64("ori", status, bit)
    too_large = f.select(f.fits_int32(sizes), "%zero", f.const(TOO_LARGE))
    return f.i64("ori", status, too_large)


def _call(f: _Function, args: Sequence[str], result: tuple[str, str] | None = None) -> list[str]:
    """The call of the routine at ``%fn``; ``result``: (its type, where to store it)."""
    fn = f.e.fresh("fn")
    types = ", ".join(["!llvm.ptr"] * len(args))
    lines = [f"{fn} = llvm.inttoptr %fn : i64 to !llvm.ptr"]
    if result is None:
        lines.append(f"llvm.call {fn}({', '.join(args)}) : !llvm.ptr, ({types}) -> ()")
    else:
        type_, target = result
        value = f.e.fresh("r")
        lines.append(f"{value} = llvm.call {fn}({', '.join(args)}) : !llvm.ptr, ({types}) -> {type_}")
        lines.append(f"llvm.store {value}, {target} : {type_}, !llvm.ptr")
    return lines


def gemm_function(name: str, dtype: str) -> str:
    """``C = alpha op(A) op(B) + beta C`` on array objects (``BLAS_KERNELS['gemm']``).

    The caller checks ranks, dtypes and ``op(A)``'s columns against ``op(B)``'s rows, and passes
    C (``m x n``, C-contiguous, its own). Fortran computes ``C^T = op(B)^T op(A)^T``: the
    operand for ``op(X)^T`` is the memory matrix as it is (flag ``N``) when ``X`` is row-major
    and not transposed or column-major and transposed, else its transpose (flag ``T``).
    """
    ftype, w = _element(dtype)
    f = _Function(name, [("fn", "i64"), ("a", "i64"), ("b", "i64"), ("c", "i64"), ("ta", "i64"), ("tb", "i64"),
                         ("alpha", "f64"), ("beta", "f64")], "i64")
    (m, n), _ = f.dims_and_strides("%c", 2)
    c_data = f.field("%c", "data")
    a, b = _Matrix(f, "%a", w), _Matrix(f, "%b", w)
    ta, tb = f.cmp("ne", "%ta", "%zero"), f.cmp("ne", "%tb", "%zero")
    k = f.select(ta, a.x0, a.x1)
    flag_a = f.op(f.e.cmpi, "eq", a.row, ta, "i1")  # 'T' iff row-major == transposed
    flag_b = f.op(f.e.cmpi, "eq", b.row, tb, "i1")
    ldc = f.op(f.e.op, "arith.maxsi", [n, "%one"], "i64")
    status = _status(f, [a.usable, b.usable], [m, n, k, a.ld, b.ld])
    wide = _wide(f, m, n, w, ftype)
    call_lines: list[str] = []
    saved, f.lines = f.lines, call_lines
    args = [f.char_slot(flag_b), f.char_slot(flag_a), f.int_slot(n), f.int_slot(m), f.int_slot(k),
            f.scalar_slot("%alpha", ftype), b.data, f.int_slot(b.ld), a.data, f.int_slot(a.ld),
            f.scalar_slot("%beta", ftype), c_data, f.int_slot(ldc)]
    plain = call_lines + _call(f, args)
    # The wide case: Fortran computes C itself (column-major, op(A) op(B): each flag flipped)
    # into a stack block, which is then transposed into C.
    f.lines = wide_lines = []
    scratch = f.e.fresh("scratch")
    f.lines.append(f"{scratch} = llvm.alloca {f.i64('muli', m, n)} x {ftype} {{alignment = 32 : i64}} : "
                   f"(i64) -> !llvm.ptr")
    flip = f.const(1, "i1")
    args = [f.char_slot(f.op(f.e.logical, "xori", flag_a, flip, "i1")),
            f.char_slot(f.op(f.e.logical, "xori", flag_b, flip, "i1")), f.int_slot(m), f.int_slot(n), f.int_slot(k),
            f.scalar_slot("%alpha", ftype), a.data, f.int_slot(a.ld), b.data, f.int_slot(b.ld),
            f.scalar_slot("%beta", ftype), scratch, f.int_slot(m)]
    wide_lines += _call(f, args)
    emit_block_transpose(f.e, wide_lines, scratch, c_data, m, n, ldc, ftype)
    f.lines = saved
    branch = [f"scf.if {wide} {{", *("  " + line for line in wide_lines), "} else {",
              *("  " + line for line in plain), "}"]
    return f.render(branch, status)


#: The wide case of gemm (:func:`_wide`): at most this many rows of C, at least twice as many
#: columns, and a block of C's size on the stack at most this many bytes (well inside the 8 MiB
#: a thread's stack has by default, whichever thread calls).
WIDE_ROWS = 64
WIDE_BYTES = 1 << 17


def _wide(f: _Function, m: str, n: str, w: int, ftype: str) -> str:
    """An i1: row-major ``C`` (``m x n``) is better computed as Fortran's ``C`` than ``C^T``.

    OpenBLAS packs Fortran's ``A`` operand per thread and splits the columns of its ``B``; for
    a short, wide row-major ``C`` that puts the big weight matrix on the slow side. Measured
    with SciPy's OpenBLAS on 2 cores, Fortran ``C`` (then a block transpose) against ``C^T``:
    ``32 x 1024 x 256`` 167 vs 211 us, ``32 x 256 x 1024`` 176 vs 199 us, ``8 x 512 x 512`` 90
    vs 122 us; even at 64 rows 7-10% faster; from 256 rows on the same. Only for ``beta == 0``
    (C is written, not read) and sizes in whole transpose blocks.
    """
    block = f.const(BLOCK[ftype])
    ok = f.both(f.cmp("sle", m, f.const(WIDE_ROWS)), f.cmp("sge", n, f.i64("muli", m, f.const(2))))
    ok = f.both(ok, f.cmp("sgt", m, "%zero"))
    ok = f.both(ok, f.both(f.cmp("eq", f.i64("remsi", m, block), "%zero"),
                           f.cmp("eq", f.i64("remsi", n, block), "%zero")))
    ok = f.both(ok, f.cmp("sle", f.i64("muli", f.i64("muli", m, n), f.const(w)), f.const(WIDE_BYTES)))
    zero = f.e.constant(0.0, "f64")
    beta_zero = f.op(f.e.cmpf, "oeq", "%beta", zero, "f64")
    return f.both(ok, beta_zero)


def gemv_function(name: str, dtype: str) -> str:
    """``y = alpha op(A) x + beta y`` on array objects (``BLAS_KERNELS['gemv']``); y contiguous.

    Fortran's gemv takes the memory matrix (``rows x cols``) and a flag: ``T`` when ``op(A)``
    is its transpose, i.e. when A is row-major and not transposed or column-major and transposed.
    """
    ftype, w = _element(dtype)
    f = _Function(name, [("fn", "i64"), ("a", "i64"), ("x", "i64"), ("y", "i64"), ("ta", "i64"),
                         ("alpha", "f64"), ("beta", "f64")], "i64")
    a, x = _Matrix(f, "%a", w), _Vector(f, "%x", w)
    y_data = f.field("%y", "data")
    ta = f.cmp("ne", "%ta", "%zero")
    flag = f.op(f.e.cmpi, "ne", a.row, ta, "i1")
    status = _status(f, [a.usable, x.usable], [a.rows, a.cols, a.ld, x.inc])
    call_lines: list[str] = []
    saved, f.lines = f.lines, call_lines
    args = [f.char_slot(flag), f.int_slot(a.rows), f.int_slot(a.cols), f.scalar_slot("%alpha", ftype), a.data,
            f.int_slot(a.ld), x.data, f.int_slot(x.inc), f.scalar_slot("%beta", ftype), y_data, f.int_slot("%one")]
    f.lines = saved
    return f.render(call_lines + _call(f, args), status)


def ger_function(name: str, dtype: str) -> str:
    """``A += alpha outer(x, y)`` with A C-contiguous ``len(x) x len(y)`` (``BLAS_KERNELS['ger']``):
    Fortran's ``A^T += alpha y x^T``."""
    ftype, w = _element(dtype)
    f = _Function(name, [("fn", "i64"), ("x", "i64"), ("y", "i64"), ("a", "i64"), ("alpha", "f64")], "i64")
    x, y = _Vector(f, "%x", w), _Vector(f, "%y", w)
    a_data = f.field("%a", "data")
    lda = f.op(f.e.op, "arith.maxsi", [y.n, "%one"], "i64")
    status = _status(f, [x.usable, y.usable], [x.n, y.n, x.inc, y.inc])
    call_lines: list[str] = []
    saved, f.lines = f.lines, call_lines
    args = [f.int_slot(y.n), f.int_slot(x.n), f.scalar_slot("%alpha", ftype), y.data, f.int_slot(y.inc),
            x.data, f.int_slot(x.inc), a_data, f.int_slot(lda)]
    f.lines = saved
    return f.render(call_lines + _call(f, args), status)


def dot_function(name: str, dtype: str) -> str:
    """``out[()] = x . y`` for vectors of equal length (``BLAS_KERNELS['dot']``)."""
    ftype, w = _element(dtype)
    f = _Function(name, [("fn", "i64"), ("x", "i64"), ("y", "i64"), ("out", "i64")], "i64")
    x, y = _Vector(f, "%x", w), _Vector(f, "%y", w)
    out_data = f.field("%out", "data")
    status = _status(f, [x.usable, y.usable], [x.n, x.inc, y.inc])
    call_lines: list[str] = []
    saved, f.lines = f.lines, call_lines
    args = [f.int_slot(x.n), x.data, f.int_slot(x.inc), y.data, f.int_slot(y.inc)]
    f.lines = saved
    return f.render(call_lines + _call(f, args, (ftype, out_data)), status)


def gemm_raw_function(name: str, dtype: str) -> str:
    """Row-major ``C = alpha op(A) op(B) + beta C`` on raw pointers (``BLAS_KERNELS['gemm_raw']``).

    ``A`` is ``m x k`` (``k x m`` when ``trans_a``) with row stride ``lda`` elements, likewise
    ``B``; ``C`` is ``m x n`` with row stride ``ldc``. Returns :data:`TOO_LARGE` (and calls
    nothing) when a size does not fit 32 bits.
    """
    ftype, _ = _element(dtype)
    names = ["fn", "a", "b", "c", "m", "n", "k", "lda", "ldb", "ldc", "ta", "tb"]
    f = _Function(name, [(n, "i64") for n in names] + [("alpha", "f64"), ("beta", "f64")], "i64")
    status = _status(f, [], ["%m", "%n", "%k", "%lda", "%ldb", "%ldc"])
    pointers = {}
    for p in ("a", "b", "c"):
        pointers[p] = f.e.fresh("ptr")
        f.lines.append(f"{pointers[p]} = llvm.inttoptr %{p} : i64 to !llvm.ptr")
    call_lines: list[str] = []
    saved, f.lines = f.lines, call_lines
    args = emit_gemm_call_args(f, f.cmp("ne", "%ta", "%zero"), f.cmp("ne", "%tb", "%zero"), "%m", "%n", "%k",
                               "%alpha", pointers["a"], "%lda", pointers["b"], "%ldb", "%beta", pointers["c"],
                               "%ldc", ftype)
    f.lines = saved
    return f.render(call_lines + _call(f, args), status)


def emit_gemm_call_args(f: _Function, trans_a: str, trans_b: str, m: str, n: str, k: str, alpha: str, a: str,
                        lda: str, b: str, ldb: str, beta: str, c: str, ldc: str, ftype: str) -> list[str]:
    """Fortran gemm arguments for row-major ``C = alpha op(A) op(B) + beta C`` (i1 flags, i64
    sizes, f64 scalars, pointers): ``gemm(tb, ta, n, m, k, alpha, B, ldb, A, lda, beta, C, ldc)``."""
    return [f.char_slot(trans_b), f.char_slot(trans_a), f.int_slot(n), f.int_slot(m), f.int_slot(k),
            f.scalar_slot(alpha, ftype), b, f.int_slot(ldb), a, f.int_slot(lda), f.scalar_slot(beta, ftype), c,
            f.int_slot(ldc)]


def emit_gemm_call(e: KernelEmitter, lines: list[str], routine: str, trans_a: bool, trans_b: bool, m: str, n: str,
                   k: str, alpha: float, a: str, lda: str, b: str, ldb: str, beta: float, c: str, ldc: str,
                   dtype: str) -> None:
    """Append to ``lines`` a call of the gemm at address ``routine`` (an i64 SSA value) computing
    row-major ``C = alpha op(A) op(B) + beta C`` on pointers ``a``, ``b``, ``c`` (``!llvm.ptr``)
    with i64 sizes and row strides (in elements), for kernels that multiply raw buffers.

    The caller makes sure sizes fit 32 bits. Stack slots are allocated where the call is: put
    it outside loops (or accept one slot set per iteration, which LLVM usually hoists).
    """
    ftype, _ = _element(dtype)
    f = _Function("", [], "i64", emitter=e, lines=lines)
    t = e.constant(1, "i1")
    nt = e.constant(0, "i1")
    args = [f.char_slot(t if trans_b else nt), f.char_slot(t if trans_a else nt), f.int_slot(n), f.int_slot(m),
            f.int_slot(k), f.slot(e.constant(alpha, ftype), ftype), b, f.int_slot(ldb), a, f.int_slot(lda),
            f.slot(e.constant(beta, ftype), ftype), c, f.int_slot(ldc)]
    fn = e.fresh("fn")
    lines.append(f"{fn} = llvm.inttoptr {routine} : i64 to !llvm.ptr")
    lines.append(f"llvm.call {fn}({', '.join(args)}) : !llvm.ptr, ({', '.join(['!llvm.ptr'] * 13)}) -> ()")


_BUILDERS = {"gemm": gemm_function, "gemv": gemv_function, "ger": ger_function, "dot": dot_function,
             "gemm_raw": gemm_raw_function}


def blas_routine(kernel: str, dtype: str) -> str:
    """The BLAS routine a kernel calls: ``("gemm", "float32")`` -> ``"sgemm"``."""
    return ("s" if _element(dtype)[0] == "f32" else "d") + _ROUTINES[kernel]


def blas_kernel(kernel: str, name: str, dtype: str) -> str:
    """MLIR text of the kernel ``kernel`` of :data:`BLAS_KERNELS` for ``dtype``, named ``name``."""
    return _BUILDERS[kernel](name, dtype)


def blas_module(prefix: str, dtype: str) -> str:
    """MLIR text of every kernel of :data:`BLAS_KERNELS` for ``dtype``, named ``{prefix}_{kernel}``."""
    return "".join(build(f"{prefix}_{kernel}", dtype) for kernel, build in _BUILDERS.items())
