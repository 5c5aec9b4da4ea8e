"""The textual form: MLIR's generic op syntax inside ``func.func`` / ``func.return``.

Print then parse gives the same module (a tested invariant), so attribute spellings here and in
``parser`` are each other's inverse.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

import numpy as np

from tensorir.dialects.ir import Block, Module, Operation, Value
from tensorir.dialects.types import TensorType

_ID_RE = re.compile(r"[^A-Za-z0-9_$.]")
# Arrays up to this many elements print as nested lists, bigger ones as MLIR's hex form.
MAX_LITERAL_ELEMENTS = 32


class Namer:
    """SSA names for one function: ``%name`` from name hints (made unique) or ``%N``."""

    def __init__(self) -> None:
        self.names: dict[int, str] = {}
        self.used: set[str] = set()
        self.counter = 0

    def define(self, value: Value, arg: bool = False) -> str:
        hint = value.name
        if hint:
            base = _ID_RE.sub("_", hint)
            if not base or base[0].isdigit():
                base = "v" + base
            name = base
            k = 1
            while name in self.used:
                name = f"{base}_{k}"
                k += 1
        else:
            while str(self.counter) in self.used or f"arg{self.counter}" in self.used:
                self.counter += 1
            name = f"arg{self.counter}" if arg else str(self.counter)
            self.counter += 1
        self.used.add(name)
        self.names[id(value)] = "%" + name
        return "%" + name

    def define_results(self, op: Operation) -> str:
        if len(op.results) == 1:
            return self.define(op.results[0])
        if not op.results:
            return ""
        while str(self.counter) in self.used:
            self.counter += 1
        base = str(self.counter)
        self.counter += 1
        self.used.add(base)
        for r in op.results:
            self.names[id(r)] = f"%{base}#{r.index}"
        return f"%{base}:{len(op.results)}"

    def __getitem__(self, value: Value) -> str:
        try:
            return self.names[id(value)]
        except KeyError:
            return "%<<undefined>>"


# -- attributes ------------------------------------------------------------------------------------
def format_float(x: float, type_name: str = "f64") -> str:
    """A float literal MLIR parses back to the same value (hex for inf and nan)."""
    if math.isnan(x) or math.isinf(x):
        bits = np.asarray(x, dtype=np.float64).view(np.uint64)
        return f"0x{int(bits):016X}"
    text = repr(float(x))
    if "e" in text and "." not in text.split("e")[0]:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}.0e{exponent}"
    elif "." not in text and "e" not in text:
        text += ".0"
    return text


def format_string(s: str) -> str:
    out = []
    for ch in s:
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif 32 <= ord(ch) < 127:
            out.append(ch)
        else:
            out.extend(f"\\{b:02X}" for b in ch.encode("utf-8"))
    return '"' + "".join(out) + '"'


def _element(x: Any, dtype: str) -> str:
    if dtype == "bool":
        return "true" if x else "false"
    if dtype.startswith(("float", "complex")):
        return format_float(float(x))
    return str(int(x))


def format_dense(arr: np.ndarray) -> str:
    type_text = TensorType(arr.dtype.name, arr.shape).mlir()
    if arr.size > MAX_LITERAL_ELEMENTS or arr.size == 0:
        data = np.ascontiguousarray(arr)
        if arr.dtype == np.bool_:
            data = data.astype(np.uint8)
        return f'dense<"0x{data.tobytes().hex().upper()}"> : {type_text}'
    if arr.ndim == 0:
        return f"dense<{_element(arr.item(), arr.dtype.name)}> : {type_text}"

    def nest(a: np.ndarray) -> str:
        if a.ndim == 1:
            return "[" + ", ".join(_element(x, arr.dtype.name) for x in a.tolist()) + "]"
        return "[" + ", ".join(nest(sub) for sub in a) + "]"

    return f"dense<{nest(arr)}> : {type_text}"


def format_attribute(value: Any) -> str:
    if value is None:
        return "unit"
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return f"{int(value)} : i64"
    if isinstance(value, float | np.floating):
        return f"{format_float(float(value))} : f64"
    if isinstance(value, str):
        return format_string(value)
    if isinstance(value, TensorType):
        return value.mlir()
    if isinstance(value, np.ndarray):
        return format_dense(value)
    if isinstance(value, tuple | list):
        if value and all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in value):
            return "array<i64: " + ", ".join(str(int(v)) for v in value) + ">"
        if not value:
            return "array<i64>"
        return "[" + ", ".join(format_attribute(v) for v in value) + "]"
    if isinstance(value, dict):
        return format_attr_dict(value)
    raise TypeError(f"cannot print attribute value {value!r} of type {type(value).__name__}")


def format_attr_dict(attrs: dict[str, Any]) -> str:
    parts = []
    for key in sorted(attrs):
        name = key if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$.]*", key) else format_string(key)
        parts.append(f"{name} = {format_attribute(attrs[key])}")
    return "{" + ", ".join(parts) + "}"


def format_location(op: Operation) -> str:
    loc = op.location
    if loc is None:
        return ""
    return f" loc({format_string(loc.file)}:{loc.line}:{loc.col})"


# -- ops -------------------------------------------------------------------------------------------
class Printer:
    def __init__(self, debug_info: bool = False, indent: str = "  ") -> None:
        self.debug_info = debug_info
        self.indent = indent
        self.lines: list[str] = []

    def module(self, module: Module) -> str:
        self.lines.append("module {")
        for func in module.functions:
            self.func(func, 1)
        self.lines.append("}")
        return "\n".join(self.lines) + "\n"

    def func(self, func: Operation, depth: int) -> None:
        namer = Namer()
        block = func.regions[0].block
        pad = self.indent * depth
        args = ", ".join(f"{namer.define(a, arg=True)}: {a.type.mlir()}" for a in block.arguments)
        term = block.terminator
        results = [v.type.mlir() for v in term.operands] if term is not None else []
        res = ""
        if len(results) == 1:
            res = f" -> {results[0]}"
        elif results:
            res = " -> (" + ", ".join(results) + ")"
        extra = {k: v for k, v in func.attributes.items() if k != "sym_name"}
        attrs = f" attributes {format_attr_dict(extra)}" if extra else ""
        self.lines.append(f"{pad}func.func @{func.attributes['sym_name']}({args}){res}{attrs} {{")
        self.block_ops(block, namer, depth + 1)
        self.lines.append(pad + "}")

    def block_ops(self, block: Block, namer: Namer, depth: int) -> None:
        for op in block.operations:
            self.op(op, namer, depth)

    def op(self, op: Operation, namer: Namer, depth: int) -> None:
        pad = self.indent * depth
        if op.name == "func.return":
            operands = ", ".join(namer[v] for v in op.operands)
            types = ", ".join(v.type.mlir() for v in op.operands)
            text = f"func.return {operands} : {types}" if op.operands else "func.return"
            self.lines.append(pad + text + (format_location(op) if self.debug_info else ""))
            return
        operands = ", ".join(namer[v] for v in op.operands)
        head = f'"{op.name}"({operands})'
        if not op.regions:
            lhs = namer.define_results(op)
            self.lines.append(pad + (f"{lhs} = " if lhs else "") + head + self._tail(op))
            return
        lhs = namer.define_results(op)
        self.lines.append(pad + (f"{lhs} = " if lhs else "") + head + " ({")
        for k, region in enumerate(op.regions):
            if k:
                self.lines.append(pad + "}, {")
            for block in region.blocks:
                args = ", ".join(f"{namer.define(a, arg=True)}: {a.type.mlir()}" for a in block.arguments)
                self.lines.append(f"{pad}^bb0({args}):")
                self.block_ops(block, namer, depth + 1)
        self.lines.append(pad + "})" + self._tail(op))

    def _tail(self, op: Operation) -> str:
        attrs = f" {format_attr_dict(op.attributes)}" if op.attributes else ""
        ins = ", ".join(v.type.mlir() for v in op.operands)
        outs = [r.type.mlir() for r in op.results]
        out = outs[0] if len(outs) == 1 else "(" + ", ".join(outs) + ")"
        loc = format_location(op) if self.debug_info else ""
        return f"{attrs} : ({ins}) -> {out}{loc}"


def print_module(module: Module, debug_info: bool = False) -> str:
    """The module's text."""
    return Printer(debug_info).module(module)


def print_func(func: Operation, debug_info: bool = False) -> str:
    p = Printer(debug_info)
    p.func(func, 0)
    return "\n".join(p.lines) + "\n"


def types_text(types: Iterable[TensorType]) -> str:
    return ", ".join(t.mlir() for t in types)

