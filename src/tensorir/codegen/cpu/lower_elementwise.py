"""Lowering of elementwise bodies (``tir.fused`` regions and lone elementwise ops) to kernels.

The kernel ABI. Every kernel is ``void k(i64 start, i64 end, i64 a0, i64 a1, ...)``: a range of
iterations and then one ``i64`` per argument. Array arguments are the addresses of the NumPy
array *objects* (``id(array)`` in CPython); the kernel reads the data pointer, the dims and the
byte strides from the object itself (``PyArrayObject``'s public, stable field layout, checked at
import by the runtime). Python thus passes a handful of integers per call: no ``ctypes`` views,
no descriptors, no packing (about 1 us a call). Other arguments are plain sizes.

Two variants of an elementwise kernel:

- **flat**: every operand is either full (C-contiguous with the output's shape) or a single
  element (a scalar broadcast everywhere); iterations are flat element indices. LLVM vectorizes
  this loop; the runtime splits ``[0, size)`` over threads.
- **strided** (one per output rank): operands of any layout and broadcasting (a size-1 dim of an
  operand gets stride 0, missing leading dims are absent); the output is C-contiguous, or, with
  ``strided_output``, addressed through its own strides (an in-place write into a view).
  Iterations are the flat indices of the outer dims; the innermost dim is the inner loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tensorir.codegen.cpu.mlir_text import KernelEmitter
from tensorir.codegen.cpu.scalar_ops import (
    LOWERINGS,
    NotLowerable,
    OpContext,
    cast_scalar,
    compute_dtype,
    memory_type,
    mlir_type,
)
from tensorir.dialects.ir import Block, Operation

__all__ = ["ARRAY_LAYOUT", "ElementwiseBody", "KernelBuilder", "flat_kernel", "strided_kernel"]

#: Byte offsets of ``data``, ``nd``, ``dimensions`` and ``strides`` in CPython's PyArrayObject.
ARRAY_LAYOUT = {"data": 16, "nd": 24, "dimensions": 32, "strides": 40}

_ITEMSIZE = {"i1": 1, "i8": 1, "i16": 2, "i32": 4, "i64": 8, "f32": 4, "f64": 8}
_PREDICATE_OPS = {"tir.lt", "tir.gt", "tir.le", "tir.ge", "tir.eq", "tir.neq", "tir.isnan", "tir.isinf"}


@dataclass
class ElementwiseBody:
    """A per-element computation: operand dtypes in, result dtypes out, and its ops.

    ``ops`` are (op name, attributes, operand indices into the value list, result dtype) in
    order; values 0..n-1 are the operands, each op appends one value; ``outputs`` index values.
    Constants are ``("const", {"value": v}, (), dtype)``.
    """

    input_dtypes: list[str]
    output_dtypes: list[str]
    ops: list[tuple[str, dict, tuple[int, ...], str]] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)

    @classmethod
    def from_block(cls, block: Block, output_dtypes: Sequence[str] | None = None) -> ElementwiseBody:
        """The body of a ``tir.fused`` region (rank-0 arguments, ends in ``tir.yield``)."""
        index = {id(a): i for i, a in enumerate(block.arguments)}
        body = cls([a.type.dtype for a in block.arguments], [])
        for op in block.operations:
            if op.name == "tir.yield":
                body.outputs = [index[id(v)] for v in op.operands]
                body.output_dtypes = list(output_dtypes or [v.type.dtype for v in op.operands])
                break
            if op.name == "tir.constant":
                value = op.attributes["value"]
                if value.ndim != 0:
                    raise NotLowerable("non-scalar constant in a fused body")
                body.ops.append(("const", {"value": value.item()}, (), op.results[0].type.dtype))
            else:
                body.ops.append((op.name, dict(op.attributes), tuple(index[id(v)] for v in op.operands),
                                 op.results[0].type.dtype))
            index[id(op.results[0])] = len(body.input_dtypes) + len(body.ops) - 1
        body.validate()
        return body

    @classmethod
    def from_op(cls, op: Operation) -> ElementwiseBody:
        """A lone elementwise op as a body."""
        n = len(op.operands)
        body = cls([v.type.dtype for v in op.operands], [op.results[0].type.dtype])
        body.ops.append((op.name, dict(op.attributes), tuple(range(n)), op.results[0].type.dtype))
        body.outputs = [n]
        body.validate()
        return body

    @classmethod
    def identity(cls, dtype: str) -> ElementwiseBody:
        """``x -> x`` (a reduction of materialized values)."""
        return cls([dtype], [dtype], [], [0])

    @classmethod
    def of_reduction(cls, op: Operation) -> tuple[ElementwiseBody, list[int], str]:
        """(per-element body, operand ranks, reduction op name) of a reduction: a ``tir.fused``
        with a trailing ``reduce``, or a lone reduction op over materialized values."""
        if op.name == "tir.fused":
            return cls.from_block(op.regions[0].block), [v.type.ndim for v in op.operands], op.attributes["reduce"]
        (t,) = [v.type for v in op.operands]
        return cls.identity(t.dtype), [t.ndim], op.name

    def validate(self) -> None:
        """Raise :class:`NotLowerable` unless every op and dtype has a lowering."""
        for dtype in (*self.input_dtypes, *self.output_dtypes):
            mlir_type(dtype)
        for name, _, _, dtype in self.ops:
            mlir_type(dtype)
            if name != "const" and name not in LOWERINGS:
                raise NotLowerable(f"{name} has no scalar lowering")
        # Try the emission once, so unsupported dtype combinations are found at plan time.
        e = KernelEmitter()
        self.emit(e, [e.fresh() for _ in self.input_dtypes])

    def emit(self, e: KernelEmitter, inputs: Sequence[str]) -> list[str]:
        """Append the body's ops to ``e``; ``inputs`` are SSA names in the operand dtypes."""
        values: list[tuple[str, str]] = list(zip(inputs, self.input_dtypes))
        for name, attrs, operands, out_dtype in self.ops:
            if name == "const":
                values.append((e.constant(attrs["value"], mlir_type(out_dtype)), out_dtype))
                continue
            in_dtypes = [values[i][1] for i in operands]
            dtype = compute_dtype(name, in_dtypes, out_dtype)
            args = []
            for k, i in enumerate(operands):
                target = "bool" if name == "tir.switch" and k == 0 else dtype
                args.append(cast_scalar(e, values[i][0], values[i][1], target))
            if name == "tir.broadcast_like" or name in ("tir.alloc",):
                args = args[:1]
            result = LOWERINGS[name](e, args, OpContext(dtype, out_dtype, attrs))
            result_dtype = "bool" if name in _PREDICATE_OPS else dtype
            values.append((cast_scalar(e, result, result_dtype, out_dtype), out_dtype))
        return [cast_scalar(e, values[i][0], values[i][1], d) for i, d in zip(self.outputs, self.output_dtypes)]

    def key(self) -> str:
        """A stable text naming the computation (part of kernel names and cache keys)."""
        return repr((self.input_dtypes, self.output_dtypes, self.ops, self.outputs))


class KernelBuilder:
    """Text of one kernel function: parameters, a preamble, loops; see the module docstring."""

    def __init__(self, name: str, n_args: int) -> None:
        self.name = name
        self.e = KernelEmitter()
        self.args = [f"%a{i}" for i in range(n_args)]
        self.preamble: list[str] = []

    def emit_into(self, target: list[str], fn, *args, **kwargs):  # noqa: ANN001, ANN003, ANN201
        """Run ``fn(*args, **kwargs)`` with the emitter's ops going to ``target``."""
        saved = self.e.lines
        self.e.lines = target
        try:
            return fn(*args, **kwargs)
        finally:
            self.e.lines = saved

    def array_field(self, target: list[str], arg: str, name: str) -> str:
        """Load the data pointer (``name='data'``) or the dims/strides pointer of an array object."""
        e = self.e
        obj, addr, value = e.fresh("obj"), e.fresh("fa"), e.fresh("f")
        target.append(f"{obj} = llvm.inttoptr {arg} : i64 to !llvm.ptr")
        target.append(f"{addr} = llvm.getelementptr inbounds {obj}[{ARRAY_LAYOUT[name]}] "
                      f": (!llvm.ptr) -> !llvm.ptr, i8")
        target.append(f"{value} = llvm.load {addr} : !llvm.ptr -> !llvm.ptr")
        return value

    def load_i64(self, target: list[str], pointer: str, index: int) -> str:
        """``pointer[index]`` as i64 (a dim or a stride)."""
        e = self.e
        addr, value = e.fresh("ia"), e.fresh("iv")
        target.append(f"{addr} = llvm.getelementptr inbounds {pointer}[{index}] : (!llvm.ptr) -> !llvm.ptr, i64")
        target.append(f"{value} = llvm.load {addr} : !llvm.ptr -> i64")
        return value

    # -- alias scopes --------------------------------------------------------------------------
    def scope_declarations(self) -> str:
        """One LLVM alias scope per array argument (module-level attribute aliases), for accesses
        that say which argument they go through (:meth:`scope_attributes`)."""
        name = self.name
        lines = [f'#{name}_domain = #llvm.alias_scope_domain<id = distinct[0]<>, description = "{name}">']
        lines += [f"{self.scope_name(k)} = #llvm.alias_scope<id = distinct[{k + 1}]<>, domain = #{name}_domain>"
                  for k in range(len(self.args))]
        return "\n".join(lines) + "\n"

    def scope_name(self, k: int) -> str:
        return f"#{self.name}_arg{k}"

    def scope_attributes(self, k: int, alignment: int | None = None) -> str:
        """The attributes of an access through argument ``k``: it aliases no other argument's
        (LLVM then needs no run-time overlap checks), and ``alignment`` in bytes if given."""
        others = ", ".join(self.scope_name(j) for j in range(len(self.args)) if j != k)
        align = f", alignment = {alignment} : i64" if alignment else ""
        return f" {{alias_scopes = [{self.scope_name(k)}], noalias_scopes = [{others}]{align}}}"

    # -- memory --------------------------------------------------------------------------------
    def load(self, target: list[str], base: str, index: str, dtype: str, *, byte_offset: bool = False,
             scope: int | None = None) -> str:
        """Element ``index`` (or the element at byte offset ``index``) of dtype ``dtype``, in registers;
        ``scope``: the argument ``base`` points into (see :meth:`scope_attributes`)."""
        e = self.e
        mem = memory_type(dtype)
        addr, value = e.fresh("la"), e.fresh("lv")
        elem = "i8" if byte_offset else mem
        attrs = "" if scope is None else self.scope_attributes(scope)
        target.append(f"{addr} = llvm.getelementptr inbounds {base}[{index}] : (!llvm.ptr, i64) -> !llvm.ptr, {elem}")
        target.append(f"{value} = llvm.load {addr}{attrs} : !llvm.ptr -> {mem}")
        if dtype == "bool":
            return self.emit_into(target, e.cmpi, "ne", value, e.constant(0, "i8"), "i8")
        return value

    def store(self, target: list[str], value: str, base: str, index: str, dtype: str, *,
              byte_offset: bool = False, scope: int | None = None) -> None:
        """Store a register value as element ``index`` (or at byte offset ``index``) of an array of
        ``dtype``; ``scope`` as for :meth:`load`."""
        e = self.e
        mem = memory_type(dtype)
        if dtype == "bool":
            value = self.emit_into(target, e.cast, "extui", value, "i1", "i8")
        addr = e.fresh("sa")
        elem = "i8" if byte_offset else mem
        attrs = "" if scope is None else self.scope_attributes(scope)
        target.append(f"{addr} = llvm.getelementptr inbounds {base}[{index}] : (!llvm.ptr, i64) -> !llvm.ptr, {elem}")
        target.append(f"llvm.store {value}, {addr}{attrs} : {mem}, !llvm.ptr")

    def render(self, body: list[str], attributes: str = "") -> str:
        """The whole ``func.func``: constants, preamble, then ``body`` (loops) and a return;
        ``attributes``: the function's (``passthrough`` becomes LLVM function attributes)."""
        params = ", ".join(["%start: i64", "%end: i64"] + [f"{a}: i64" for a in self.args])
        extra = f" attributes {{{attributes}}}" if attributes else ""
        return self.function_text(f"func.func @{self.name}({params}){extra}", body, "return")

    def function_text(self, header: str, body: list[str], terminator: str) -> str:
        """``header { constants; preamble; body; terminator }``: the layout both devices' kernels share."""
        lines = [f"{header} {{", "  %one = arith.constant 1 : i64", "  %zero = arith.constant 0 : i64"]
        lines += ["  " + line for line in (*self.e.constant_lines, *self.preamble, *body)]
        lines += [f"  {terminator}", "}"]
        return "\n".join(lines) + "\n"


def flat_kernel(name: str, body: ElementwiseBody, scalar_operands: Sequence[bool]) -> str:
    """Flat elementwise kernel; arguments: operand arrays then output arrays (see module doc).

    Its loads and stores carry one alias scope per argument. The runtime writes a result over an
    operand it no longer needs (the same array for both), and without the scopes LLVM guards the
    vector loop with an overlap check that such a call fails: every element then took the scalar
    loop (seven times slower for a tanh). Element ``i`` of the single output is computed from
    element ``i`` of the operands, loaded in the same iteration, so a write over an operand
    reads nothing it has written."""
    n_in, n_out = len(body.input_dtypes), len(body.output_dtypes)
    kb = KernelBuilder(name, n_in + n_out)
    e = kb.e
    pre = kb.preamble
    bases = [kb.array_field(pre, kb.args[k], "data") for k in range(n_in + n_out)]
    loop: list[str] = []
    values: list[str] = []
    for k, dtype in enumerate(body.input_dtypes):
        if scalar_operands[k]:
            values.append(kb.load(pre, bases[k], "%zero", dtype))
        else:
            values.append(kb.load(loop, bases[k], "%i", dtype, scope=k))
    results = kb.emit_into(loop, body.emit, e, values)
    for k, (value, dtype) in enumerate(zip(results, body.output_dtypes)):
        kb.store(loop, value, bases[n_in + k], "%i", dtype, scope=n_in + k)
    text = ["scf.for %i = %start to %end step %one : i64 {"] + ["  " + line for line in loop] + ["}"]
    return kb.scope_declarations() + kb.render(text)


def _operand_strides(kb: KernelBuilder, arg: str, rank: int, out_rank: int) -> list[str | None]:
    """Per output dim, the operand's byte stride (0 where it broadcasts), None where it has no dim."""
    e, pre = kb.e, kb.preamble
    if rank == 0:
        return [None] * out_rank
    dims = kb.array_field(pre, arg, "dimensions")
    strides = kb.array_field(pre, arg, "strides")
    out: list[str | None] = [None] * (out_rank - rank)
    for d in range(rank):
        size = kb.load_i64(pre, dims, d)
        stride = kb.load_i64(pre, strides, d)
        is_one = kb.emit_into(pre, e.cmpi, "eq", size, e.constant(1, "i64"), "i64")
        out.append(kb.emit_into(pre, e.select, is_one, "%zero", stride, "i64"))
    return out


def _inner_stride(kb: KernelBuilder, strides: list[str | None], mode: str, dtype: str) -> None:
    """Replace the last-dim byte stride by what ``mode`` says it is known to be (see
    :func:`strided_kernel`); "s" keeps the run-time value."""
    if strides[-1] is not None and mode != "s":
        strides[-1] = None if mode == "z" else kb.e.constant(_ITEMSIZE[memory_type(dtype)], "i64")


def _row_offset(kb: KernelBuilder, target: list[str], strides: list[str | None], index_of: list[str]) -> str:
    """Byte offset of the row at outer indices ``index_of`` for an array of these per-dim strides."""
    e = kb.e
    offset = "%zero"
    for d, index in enumerate(index_of):
        if strides[d] is not None:
            term = kb.emit_into(target, e.int_op, "muli", index, strides[d], "i64")
            offset = kb.emit_into(target, e.int_op, "addi", offset, term, "i64")
    return offset


def _element_offset(kb: KernelBuilder, target: list[str], row: str, stride: str | None) -> str:
    """Byte offset of element ``%j`` of a row: ``row + j * stride`` (``row`` when it broadcasts)."""
    if stride is None:
        return row
    e = kb.e
    return kb.emit_into(target, e.int_op, "addi", row, kb.emit_into(target, e.int_op, "muli", "%j", stride, "i64"),
                        "i64")


def strided_kernel(name: str, body: ElementwiseBody, operand_ranks: Sequence[int], out_rank: int,
                   inner: Sequence[str] | None = None, *, strided_output: bool = False,
                   output_inner: str = "s", inplace_operand: int | None = None) -> str:
    """Strided N-D elementwise kernel for outputs of rank ``out_rank`` >= 1 (see module doc).

    Iterations ``[start, end)`` are flat indices over the output's dims but the last.
    ``inner``: per operand, what its stride along the last dim is known to be: ``"u"`` one element
    (contiguous rows, e.g. a column slice), ``"z"`` zero (broadcast), ``"s"`` read at run time.
    Known strides make the row loop's addresses affine with a constant step, which LLVM
    vectorizes; a run-time stride leaves it scalar.

    ``strided_output``: the outputs are addressed through their own byte strides, read from the
    array objects like the operands' (a view of a bigger buffer, e.g. ``x[:, 2:5]`` written in
    place), instead of being C-contiguous; ``output_inner`` ("u" or "s") is then what their
    last-dim stride is known to be. All outputs have the first output's dims. Operands must not
    overlap the outputs (a row could read elements already written), but see ``inplace_operand``,
    or be exactly the single output (a write over a dead operand: element for element, as in
    :func:`flat_kernel`, whose alias scopes these loads and stores carry too).

    ``inplace_operand``: operand ``k`` is the first output itself (``region += y``; the caller
    passes the same array twice). Each element is read before it is written, in the same
    iteration, so that is safe; and the kernel reads it through the output's address, not the
    operand's: LLVM then sees a load and a store of one location, which vectorizes, where two
    pointers it cannot tell apart get a run-time overlap check that fails (equal arrays overlap)
    and sends every row to the scalar loop. Needs ``strided_output``.
    """
    if output_inner not in ("u", "s"):
        raise ValueError(f"output_inner must be 'u' or 's', got {output_inner!r}")
    if inplace_operand is not None and (not strided_output or operand_ranks[inplace_operand] != out_rank):
        raise ValueError("inplace_operand needs strided_output and an operand of the output's rank")
    n_in, n_out = len(body.input_dtypes), len(body.output_dtypes)
    kb = KernelBuilder(name, n_in + n_out)
    e, pre = kb.e, kb.preamble
    bases = [kb.array_field(pre, kb.args[k], "data") for k in range(n_in + n_out)]
    strides = [_operand_strides(kb, kb.args[k], operand_ranks[k], out_rank) for k in range(n_in)]
    for k, mode in enumerate(inner or ()):
        _inner_stride(kb, strides[k], mode, body.input_dtypes[k])
    out_strides: list[list[str | None]] = []
    if strided_output:
        for k, dtype in enumerate(body.output_dtypes):
            out_strides.append(_operand_strides(kb, kb.args[n_in + k], out_rank, out_rank))
            _inner_stride(kb, out_strides[-1], output_inner, dtype)
    if inplace_operand is not None:
        # The same addresses as the output's (see the docstring): same base, same strides.
        bases[inplace_operand] = bases[n_in]
        strides[inplace_operand] = out_strides[0]
    out_dims_ptr = kb.array_field(pre, kb.args[n_in], "dimensions")
    dims = [kb.load_i64(pre, out_dims_ptr, d) for d in range(out_rank)]
    row_size = dims[-1]
    outer: list[str] = []
    # Decompose the outer flat index into the indices of dims 0..r-2 (last varies fastest).
    index_of: list[str] = [""] * (out_rank - 1)
    rest = "%o"
    for d in range(out_rank - 2, -1, -1):
        index_of[d] = kb.emit_into(outer, e.op, "arith.remsi", [rest, dims[d]], "i64")
        rest = kb.emit_into(outer, e.op, "arith.divsi", [rest, dims[d]], "i64")
    row_offsets = [_row_offset(kb, outer, strides[k], index_of) for k in range(n_in)]
    out_rows = [_row_offset(kb, outer, s, index_of) for s in out_strides]
    out_row = None if strided_output else kb.emit_into(outer, e.int_op, "muli", "%o", row_size, "i64")
    loop: list[str] = []
    values = []
    for k, dtype in enumerate(body.input_dtypes):
        address = _element_offset(kb, loop, row_offsets[k], strides[k][-1])
        scope = n_in if k == inplace_operand else k
        values.append(kb.load(loop, bases[k], address, dtype, byte_offset=True, scope=scope))
    results = kb.emit_into(loop, body.emit, e, values)
    flat = None if strided_output else kb.emit_into(loop, e.int_op, "addi", out_row, "%j", "i64")
    for k, (value, dtype) in enumerate(zip(results, body.output_dtypes)):
        if strided_output:
            address = _element_offset(kb, loop, out_rows[k], out_strides[k][-1])
            kb.store(loop, value, bases[n_in + k], address, dtype, byte_offset=True, scope=n_in + k)
        else:
            kb.store(loop, value, bases[n_in + k], flat, dtype, scope=n_in + k)
    text = ["scf.for %o = %start to %end step %one : i64 {"] + ["  " + line for line in outer]
    text += ["  scf.for %j = %zero to " + row_size + " step %one : i64 {"] + ["    " + line for line in loop]
    text += ["  }", "}"]
    return kb.scope_declarations() + kb.render(text)
