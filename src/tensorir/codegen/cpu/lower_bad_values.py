"""The kernel of the NaN/Inf guard: count the NaN, infinite and big elements of a float buffer.

``void tir_bad_values_<t>(i64 data, i64 n, i64 big_bits, i64 out)``: ``data`` is the address of
``n`` contiguous elements of type ``t`` (f32 or f64), ``big_bits`` the bit pattern of the
threshold of "big" in that type (widened to 64 bits), and ``out`` the address of three ``i64``
counts it writes: NaN, +-inf, finite elements whose magnitude exceeds the threshold. Counting
with selects (no early exit) keeps the loop branch-free, so LLVM vectorizes it and the guard
costs one read of each value at memory speed.
"""

from __future__ import annotations

__all__ = ["BAD_VALUE_TYPES", "bad_values_kernel", "bad_values_name"]

#: Element types the kernel is generated for, with their infinity's bit pattern.
BAD_VALUE_TYPES = {"f32": ("i32", "0x7F800000"), "f64": ("i64", "0x7FF0000000000000")}


def bad_values_name(element: str) -> str:
    """The kernel's symbol for elements of MLIR type ``element``."""
    return f"tir_bad_values_{element}"


def bad_values_kernel(element: str) -> str:
    """MLIR text of the counting kernel for ``element`` ('f32' or 'f64')."""
    if element not in BAD_VALUE_TYPES:
        raise ValueError(f"no bad-value kernel for {element!r}; have {', '.join(BAD_VALUE_TYPES)}")
    bits, inf_bits = BAD_VALUE_TYPES[element]
    big = "%bigw" if bits == "i64" else "%bign"
    narrow = "" if bits == "i64" else f"    %bign = arith.trunci %bigw : i64 to {bits}\n"
    return f"""module {{
  func.func @{bad_values_name(element)}(%data: i64, %n: i64, %bigw: i64, %out: i64) {{
    %p = llvm.inttoptr %data : i64 to !llvm.ptr
    %o = llvm.inttoptr %out : i64 to !llvm.ptr
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %z = arith.constant 0 : i64
{narrow}    %big = arith.bitcast {big} : {bits} to {element}
    %infb = arith.constant {inf_bits} : {bits}
    %inf = arith.bitcast %infb : {bits} to {element}
    %count = arith.index_cast %n : i64 to index
    %r:3 = scf.for %i = %c0 to %count step %c1 iter_args(%a = %z, %b = %z, %c = %z) -> (i64, i64, i64) {{
      %ii = arith.index_cast %i : index to i64
      %q = llvm.getelementptr %p[%ii] : (!llvm.ptr, i64) -> !llvm.ptr, {element}
      %x = llvm.load %q : !llvm.ptr -> {element}
      %isnan = arith.cmpf uno, %x, %x : {element}
      %ax = math.absf %x : {element}
      %isinf = arith.cmpf oeq, %ax, %inf : {element}
      %over = arith.cmpf ogt, %ax, %big : {element}
      %finite = arith.cmpf olt, %ax, %inf : {element}
      %isbig = arith.andi %over, %finite : i1
      %na = arith.extui %isnan : i1 to i64
      %nb = arith.extui %isinf : i1 to i64
      %nc = arith.extui %isbig : i1 to i64
      %a2 = arith.addi %a, %na : i64
      %b2 = arith.addi %b, %nb : i64
      %c2 = arith.addi %c, %nc : i64
      scf.yield %a2, %b2, %c2 : i64, i64, i64
    }}
    %o1 = llvm.getelementptr %o[1] : (!llvm.ptr) -> !llvm.ptr, i64
    %o2 = llvm.getelementptr %o[2] : (!llvm.ptr) -> !llvm.ptr, i64
    llvm.store %r#0, %o : i64, !llvm.ptr
    llvm.store %r#1, %o1 : i64, !llvm.ptr
    llvm.store %r#2, %o2 : i64, !llvm.ptr
    return
  }}
}}
"""
