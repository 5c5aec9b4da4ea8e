"""A small emitter of MLIR text for kernel bodies.

Lowering code builds the body of a kernel (the inside of an ``scf.for`` loop or of a
``linalg.generic`` region) one op at a time through :class:`KernelEmitter`. The emitter
hands out fresh SSA names, deduplicates constants and knows the textual syntax of the
``arith`` and ``math`` ops that the approximations in :mod:`.approx` use.

Types are MLIR type strings. Scalar float types (``"f32"``, ``"f64"``) and vector types
(``"vector<8xf32>"``) both work: every helper derives the matching integer and ``i1``
types from the float type, so one approximation emits scalar or vector code.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Callable, Sequence

__all__ = [
    "KernelEmitter",
    "range_kernel",
    "element_type",
    "float_bits",
    "integer_type_like",
    "mantissa_bits",
    "bool_type_like",
    "with_element_type",
]

_VECTOR_RE = re.compile(r"^vector<((?:\d+x)+)([a-z0-9]+)>$")
_FLOAT_BITS = {"f16": 16, "bf16": 16, "f32": 32, "f64": 64}
_MANTISSA_BITS = {"f16": 10, "bf16": 7, "f32": 23, "f64": 52}


def element_type(type_: str) -> str:
    """The element type of a scalar or vector type: ``vector<8xf32>`` -> ``f32``."""
    match = _VECTOR_RE.match(type_)
    return match.group(2) if match else type_


def with_element_type(type_: str, element: str) -> str:
    """``type_`` with its element type replaced: (``vector<8xf32>``, ``i32``) -> ``vector<8xi32>``."""
    match = _VECTOR_RE.match(type_)
    return f"vector<{match.group(1)}{element}>" if match else element


def float_bits(ftype: str) -> int:
    """Bit width of a float type (scalar or vector element)."""
    elem = element_type(ftype)
    if elem not in _FLOAT_BITS:
        raise ValueError(f"not a float type: {ftype!r}")
    return _FLOAT_BITS[elem]


def mantissa_bits(ftype: str) -> int:
    """Number of explicitly stored mantissa bits (23 for f32, 52 for f64)."""
    return _MANTISSA_BITS[element_type(ftype)]


def integer_type_like(ftype: str) -> str:
    """The integer type of the same width and shape as a float type (f32 -> i32)."""
    return with_element_type(ftype, f"i{float_bits(ftype)}")


def bool_type_like(type_: str) -> str:
    """The ``i1`` type of the same shape (result type of ``arith.cmpf``)."""
    return with_element_type(type_, "i1")


def _float_hex(value: float, elem: str) -> str:
    """Exact bit pattern of ``value`` as an MLIR hexadecimal float literal."""
    if elem == "f64":
        return f"0x{struct.unpack('<Q', struct.pack('<d', value))[0]:016X}"
    if elem == "f32":
        # struct rounds to nearest even and maps out-of-range values to inf.
        try:
            packed = struct.pack("<f", value)
        except OverflowError:
            packed = struct.pack("<f", math.copysign(math.inf, value))
        return f"0x{struct.unpack('<I', packed)[0]:08X}"
    raise ValueError(f"unsupported float constant type {elem!r}")


class KernelEmitter:
    """Builds MLIR text one op at a time, handing out fresh SSA names.

    ``e.op("arith.mulf", [a, b], "f32")`` appends ``%7 = arith.mulf %a, %b : f32`` and
    returns ``"%7"``. Constants are kept apart from the ops and deduplicated, so the caller
    places :attr:`constant_lines` once where they dominate every use (before a loop, or at
    the start of a ``linalg.generic`` region) and :attr:`lines` in the body. :meth:`render`
    joins both.
    """

    def __init__(self, prefix: str = "v") -> None:
        self.prefix = prefix
        self.lines: list[str] = []
        self.constant_lines: list[str] = []
        self._counter = 0
        self._constants: dict[tuple[str, str], str] = {}

    # -- names and raw lines -------------------------------------------------------------
    def fresh(self, hint: str | None = None) -> str:
        """A new unique SSA name such as ``%v12``."""
        self._counter += 1
        return f"%{hint or self.prefix}{self._counter}"

    def line(self, text: str) -> None:
        """Append a raw line (for ops the helpers do not cover, e.g. ``memref.load``)."""
        self.lines.append(text)

    def render(self, indent: str = "  ") -> str:
        """Constants then ops, one per line, each prefixed by ``indent``."""
        return "\n".join(indent + text for text in self.constant_lines + self.lines)

    # -- generic ops ---------------------------------------------------------------------
    def op(
        self,
        name: str,
        operands: Sequence[str],
        result_type: str,
        *,
        attributes: str = "",
        type_suffix: str | None = None,
    ) -> str:
        """Append ``%r = name operands [attributes] : type`` and return ``%r``.

        The custom syntax of the elementwise ``arith``/``math`` ops prints one type after the
        colon; ``type_suffix`` overrides it (e.g. ``"f32 to i32"`` for casts).
        """
        result = self.fresh()
        attr = f" {attributes}" if attributes else ""
        suffix = type_suffix if type_suffix is not None else result_type
        self.lines.append(f"{result} = {name} {', '.join(operands)}{attr} : {suffix}")
        return result

    def constant(self, value: float | int | bool, type_: str) -> str:
        """A deduplicated ``arith.constant`` of ``value``; floats use exact hex (inf, nan)."""
        elem = element_type(type_)
        if elem in _FLOAT_BITS:
            literal = _float_hex(float(value), elem)
        elif elem == "i1":
            # ``arith.constant true : i1`` does not parse (the type is implied); 1/0 with a type does.
            literal = "1" if value else "0"
        elif elem == "index" or elem.startswith("i"):
            literal = str(int(value))
        else:
            raise ValueError(f"unsupported constant type {type_!r}")
        key = (literal, type_)
        name = self._constants.get(key)
        if name is None:
            name = self.fresh("c")
            # Vector constants are splats: ``dense<literal>``.
            attr = literal if type_ == elem else f"dense<{literal}>"
            self.constant_lines.append(f"{name} = arith.constant {attr} : {type_}")
            self._constants[key] = name
        return name

    # -- float arithmetic ----------------------------------------------------------------
    def add(self, a: str, b: str, ftype: str) -> str:
        """``a + b``."""
        return self.op("arith.addf", [a, b], ftype)

    def sub(self, a: str, b: str, ftype: str) -> str:
        """``a - b``."""
        return self.op("arith.subf", [a, b], ftype)

    def mul(self, a: str, b: str, ftype: str) -> str:
        """``a * b``."""
        return self.op("arith.mulf", [a, b], ftype)

    def div(self, a: str, b: str, ftype: str) -> str:
        """``a / b`` (IEEE, correctly rounded)."""
        return self.op("arith.divf", [a, b], ftype)

    def neg(self, a: str, ftype: str) -> str:
        """``-a`` (flips the sign bit, also of zeros and NaN)."""
        return self.op("arith.negf", [a], ftype)

    def fma(self, a: str, b: str, c: str, ftype: str) -> str:
        """``a * b + c`` with one rounding (``math.fma``, a vector FMA on AVX2)."""
        return self.op("math.fma", [a, b, c], ftype)

    def unary_math(self, name: str, a: str, ftype: str) -> str:
        """A ``math`` op that LLVM keeps vectorized: absf, sqrt, floor, ceil, roundeven, trunc."""
        return self.op(f"math.{name}", [a], ftype)

    def abs(self, a: str, ftype: str) -> str:
        """``|a|``."""
        return self.op("math.absf", [a], ftype)

    def copysign(self, magnitude: str, sign: str, ftype: str) -> str:
        """``|magnitude|`` with the sign bit of ``sign``."""
        return self.op("math.copysign", [magnitude, sign], ftype)

    def polynomial(self, x: str, coefficients: Sequence[float], ftype: str) -> str:
        """Horner evaluation of ``c[0] + c[1] x + ... + c[n] x^n`` with FMAs."""
        acc = self.constant(coefficients[-1], ftype)
        for coefficient in reversed(coefficients[:-1]):
            acc = self.fma(acc, x, self.constant(coefficient, ftype), ftype)
        return acc

    # -- comparisons, selects, casts -----------------------------------------------------
    def cmpf(self, predicate: str, a: str, b: str, ftype: str) -> str:
        """``arith.cmpf`` (``oeq``, ``olt``, ``ogt``, ``uno``, ``une``, ...), an ``i1`` value."""
        return self._cmp("arith.cmpf", predicate, a, b, ftype)

    def cmpi(self, predicate: str, a: str, b: str, itype: str) -> str:
        """``arith.cmpi`` (``eq``, ``slt``, ``sgt``, ...), an ``i1`` value."""
        return self._cmp("arith.cmpi", predicate, a, b, itype)

    def _cmp(self, name: str, predicate: str, a: str, b: str, type_: str) -> str:
        result = self.fresh()
        self.lines.append(f"{result} = {name} {predicate}, {a}, {b} : {type_}")
        return result

    def select(self, condition: str, if_true: str, if_false: str, type_: str) -> str:
        """``condition ? if_true : if_false`` (lanewise for vectors)."""
        result = self.fresh()
        cond_type = bool_type_like(type_)
        if cond_type == "i1":
            self.lines.append(f"{result} = arith.select {condition}, {if_true}, {if_false} : {type_}")
        else:
            self.lines.append(
                f"{result} = arith.select {condition}, {if_true}, {if_false} : {cond_type}, {type_}"
            )
        return result

    def logical(self, name: str, a: str, b: str, type_: str) -> str:
        """``arith.andi``/``ori``/``xori`` on ``i1`` (or integer) values of the shape of ``type_``."""
        return self.op(f"arith.{name}", [a, b], type_)

    def cast(self, name: str, value: str, from_type: str, to_type: str) -> str:
        """A cast op (``arith.bitcast``, ``sitofp``, ``fptosi``, ``extf``, ``truncf``, ...)."""
        return self.op(f"arith.{name}", [value], to_type, type_suffix=f"{from_type} to {to_type}")

    def bitcast(self, value: str, from_type: str, to_type: str) -> str:
        """Reinterpret the bits of ``value`` (same width)."""
        return self.cast("bitcast", value, from_type, to_type)

    def int_op(self, name: str, a: str, b: str, itype: str) -> str:
        """An integer ``arith`` op (addi, subi, muli, andi, ori, shli, shrsi, shrui)."""
        return self.op(f"arith.{name}", [a, b], itype)


def range_kernel(
    name: str,
    input_types: Sequence[str],
    output_types: Sequence[str],
    body: Callable[[KernelEmitter, list[str]], list[str]],
    *,
    emit_c_interface: bool = False,
) -> str:
    """An elementwise kernel over an index range, as MLIR text.

    ``func.func @name(%start: index, %end: index, %in0: memref<?xT0>, ..., %out0: memref<?xU0>, ...)``
    loops ``scf.for %i = %start to %end`` and stores ``body(e, [loaded inputs])`` to the outputs.
    The ``(start, end, buffers...)`` signature is what :mod:`tensorir.runtime.threadpool` calls
    from several threads on disjoint chunks. After lowering each memref becomes five arguments
    (allocated pointer, aligned pointer, offset, size, stride).
    """
    e = KernelEmitter()
    values = []
    for k, type_ in enumerate(input_types):
        value = e.fresh("x")
        e.line(f"{value} = memref.load %in{k}[%i] : memref<?x{type_}>")
        values.append(value)
    results = body(e, values)
    if len(results) != len(output_types):
        raise ValueError(f"body returned {len(results)} values for {len(output_types)} outputs")
    for k, (value, type_) in enumerate(zip(results, output_types)):
        e.line(f"memref.store {value}, %out{k}[%i] : memref<?x{type_}>")
    params = ["%start: index", "%end: index"]
    params += [f"%in{k}: memref<?x{t}>" for k, t in enumerate(input_types)]
    params += [f"%out{k}: memref<?x{t}>" for k, t in enumerate(output_types)]
    attributes = " attributes {llvm.emit_c_interface}" if emit_c_interface else ""
    constants = "\n".join("  " + line for line in e.constant_lines)
    ops = "\n".join("    " + line for line in e.lines)
    return (
        f"func.func @{name}({', '.join(params)}){attributes} {{\n"
        f"  %step = arith.constant 1 : index\n{constants}\n"
        f"  scf.for %i = %start to %end step %step {{\n{ops}\n  }}\n"
        f"  return\n}}\n"
    )
