"""Parser of the textual form (MLIR generic op syntax inside ``func.func``).

Errors are ``ParseError`` with ``line:col`` and what was expected. Ops are parsed in a loop per
block; only region nesting recurses, so long functions are fine.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from tensorir.dialects.builtin import FUNC, RETURN
from tensorir.dialects.ir import Block, Location, Module, Operation, Region, Value
from tensorir.dialects.opdef import IRError, OpDef
from tensorir.dialects.types import MLIR_TO_DTYPE, TensorType


class ParseError(Exception):
    """A syntax or semantic error in IR text, at ``line:col``."""

    def __init__(self, message: str, line: int, col: int) -> None:
        super().__init__(f"{line}:{col}: {message}")
        self.message = message
        self.line = line
        self.col = col


_WS = re.compile(r"(?:\s+|//[^\n]*)+")
_BARE_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_$.]*")
_SUFFIX_ID = re.compile(r"(?:[0-9]+|[A-Za-z_$.\-][A-Za-z0-9_$.\-]*)")
_NUMBER = re.compile(r"[-+]?(?:0x[0-9A-Fa-f]+|[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)")
_INT_TYPE = re.compile(r"(?:i|ui|si)[0-9]+")


class Parser:
    def __init__(self, text: str, registry: Mapping[str, OpDef] | None = None) -> None:
        if registry is None:
            from tensorir.dialects.registry import OPS

            registry = OPS
        self.text = text
        self.pos = 0
        self.registry = registry
        self.values: dict[str, Value] = {}

    # -- low-level scanning --------------------------------------------------------------------
    def where(self, pos: int | None = None) -> tuple[int, int]:
        pos = self.pos if pos is None else pos
        line = self.text.count("\n", 0, pos) + 1
        col = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        return line, col

    def error(self, message: str, pos: int | None = None) -> ParseError:
        line, col = self.where(pos)
        return ParseError(message, line, col)

    def skip(self) -> None:
        m = _WS.match(self.text, self.pos)
        if m:
            self.pos = m.end()

    def peek(self, s: str) -> bool:
        self.skip()
        return self.text.startswith(s, self.pos)

    def accept(self, s: str) -> bool:
        if self.peek(s):
            self.pos += len(s)
            return True
        return False

    def expect(self, s: str, what: str | None = None) -> None:
        if not self.accept(s):
            found = self.text[self.pos : self.pos + 12].split("\n")[0] or "end of input"
            raise self.error(f"expected {what or repr(s)}, found {found!r}")

    def regex(self, pattern: re.Pattern[str], what: str) -> str:
        self.skip()
        m = pattern.match(self.text, self.pos)
        if not m:
            found = self.text[self.pos : self.pos + 12].split("\n")[0] or "end of input"
            raise self.error(f"expected {what}, found {found!r}")
        self.pos = m.end()
        return m.group(0)

    def at_end(self) -> bool:
        self.skip()
        return self.pos >= len(self.text)

    # -- types -----------------------------------------------------------------------------------
    def type(self) -> TensorType:
        self.skip()
        start = self.pos
        if not self.accept("tensor<"):
            raise self.error("expected a tensor type like tensor<?x4xf32>")
        depth, end = 1, self.pos
        while depth and end < len(self.text):
            depth += {"<": 1, ">": -1}.get(self.text[end], 0)
            end += 1
        if depth:
            raise self.error("unterminated tensor type", start)
        body = self.text[self.pos : end - 1].replace(" ", "")
        self.pos = end
        cut = body.find("complex<")
        if cut >= 0:
            dims_text, elem = [d for d in body[:cut].split("x") if d], body[cut:]
        else:
            *dims_text, elem = body.split("x")
        dtype = MLIR_TO_DTYPE.get(elem)
        if dtype is None:
            raise self.error(f"unknown element type {elem!r}", start)
        dims: list[int | None] = []
        for d in dims_text:
            if d == "?":
                dims.append(None)
            elif d.isdigit():
                dims.append(int(d))
            else:
                raise self.error(f"bad dimension {d!r} in tensor type", start)
        return TensorType(dtype, dims)

    def type_list(self) -> list[TensorType]:
        if self.accept("("):
            types: list[TensorType] = []
            if not self.accept(")"):
                types.append(self.type())
                while self.accept(","):
                    types.append(self.type())
                self.expect(")")
            return types
        return [self.type()]

    # -- attributes --------------------------------------------------------------------------------
    def attribute(self) -> Any:
        self.skip()
        if self.peek('"'):
            return self.string()
        if self.peek("["):
            self.expect("[")
            items: list[Any] = []
            if not self.accept("]"):
                items.append(self.attribute())
                while self.accept(","):
                    items.append(self.attribute())
                self.expect("]")
            return tuple(items)
        if self.peek("{"):
            return self.attr_dict()
        if self.peek("array<"):
            self.expect("array<")
            self.regex(_INT_TYPE, "an integer element type")
            values: list[int] = []
            if self.accept(":"):
                values.append(int(self.regex(_NUMBER, "an integer")))
                while self.accept(","):
                    values.append(int(self.regex(_NUMBER, "an integer")))
            self.expect(">")
            return tuple(values)
        if self.peek("dense<"):
            return self.dense()
        if self.peek("tensor<"):
            return self.type()
        m = _BARE_ID.match(self.text, self.pos)
        if m and m.group(0) in ("true", "false", "unit"):
            self.pos = m.end()
            return {"true": True, "false": False, "unit": None}[m.group(0)]
        start = self.pos
        literal = self.regex(_NUMBER, "an attribute value")
        self.expect(":", "':' and the type of the number")
        type_name = self.regex(_BARE_ID, "a number type")
        if type_name.startswith("f"):
            return self._float_literal(literal, start)
        if _INT_TYPE.fullmatch(type_name):
            return int(literal, 16) if literal.lower().startswith("0x") else int(literal)
        raise self.error(f"unknown number type {type_name!r}", start)

    def _float_literal(self, literal: str, pos: int) -> float:
        if literal.lower().startswith("0x"):
            return float(np.asarray(int(literal, 16), dtype=np.uint64).view(np.float64))
        try:
            return float(literal)
        except ValueError:
            raise self.error(f"bad float literal {literal!r}", pos) from None

    def string(self) -> str:
        self.expect('"')
        out = bytearray()
        while True:
            if self.pos >= len(self.text):
                raise self.error("unterminated string")
            ch = self.text[self.pos]
            if ch == '"':
                self.pos += 1
                return out.decode("utf-8")
            if ch == "\\":
                nxt = self.text[self.pos + 1 : self.pos + 3]
                if nxt[:1] in ('"', "\\"):
                    out += nxt[:1].encode()
                    self.pos += 2
                elif re.fullmatch(r"[0-9A-Fa-f]{2}", nxt):
                    out.append(int(nxt, 16))
                    self.pos += 3
                elif nxt[:1] == "n":
                    out += b"\n"
                    self.pos += 2
                else:
                    raise self.error("bad escape in string")
            else:
                out += ch.encode("utf-8")
                self.pos += 1

    def attr_dict(self) -> dict[str, Any]:
        self.expect("{")
        attrs: dict[str, Any] = {}
        if self.accept("}"):
            return attrs
        while True:
            key = self.string() if self.peek('"') else self.regex(_BARE_ID, "an attribute name")
            if self.accept("="):
                attrs[key] = self.attribute()
            else:
                attrs[key] = None
            if self.accept("}"):
                return attrs
            self.expect(",", "',' or '}'")

    def dense(self) -> np.ndarray:
        start = self.pos
        self.expect("dense<")
        if self.peek('"'):
            payload: Any = self.string()
        else:
            payload = self._dense_elements()
        self.expect(">")
        self.expect(":", "':' and the tensor type of the dense attribute")
        t = self.type()
        if t.shape and None in t.shape:
            raise self.error("dense attribute needs a static shape", start)
        shape = tuple(d for d in t.shape if d is not None)
        if isinstance(payload, str):
            if not payload.startswith("0x"):
                raise self.error("hex dense payload must start with 0x", start)
            raw = bytes.fromhex(payload[2:])
            storage = np.uint8 if t.dtype == "bool" else t.dtype
            arr = np.frombuffer(raw, dtype=storage).copy()
            if t.dtype == "bool":
                arr = arr.astype(bool)
            if arr.size != int(np.prod(shape)):
                raise self.error(f"hex payload has {arr.size} elements, type needs {int(np.prod(shape))}", start)
            return arr.reshape(shape)
        arr = np.array(payload, dtype=t.dtype)
        if arr.shape != shape:
            if arr.ndim == 0:
                arr = np.full(shape, arr, dtype=t.dtype)
            else:
                raise self.error(f"dense literal of shape {arr.shape} for type {t}", start)
        return arr

    def _dense_elements(self) -> Any:
        if self.accept("["):
            items: list[Any] = []
            if not self.accept("]"):
                items.append(self._dense_elements())
                while self.accept(","):
                    items.append(self._dense_elements())
                self.expect("]")
            return items
        m = _BARE_ID.match(self.text, self.pos)
        if m and m.group(0) in ("true", "false"):
            self.pos = m.end()
            return m.group(0) == "true"
        start = self.pos
        literal = self.regex(_NUMBER, "a number")
        if literal.lower().startswith("0x"):
            return self._float_literal(literal, start)
        return float(literal) if any(c in literal for c in ".eE") else int(literal)

    # -- values ----------------------------------------------------------------------------------
    def value_ref(self) -> Value:
        start = self.pos
        self.expect("%", "a value like %0")
        name = self.regex(_SUFFIX_ID, "a value name")
        if self.text.startswith("#", self.pos):
            self.pos += 1
            name += "#" + self.regex(re.compile(r"[0-9]+"), "a result number")
        try:
            return self.values[name]
        except KeyError:
            raise self.error(f"use of undefined value %{name}", start) from None

    def define(self, name: str, value: Value, pos: int) -> None:
        if name in self.values:
            raise self.error(f"redefinition of value %{name}", pos)
        self.values[name] = value
        if not name.isdigit() and not re.fullmatch(r"arg[0-9]+", name):
            value.name = name

    def block_args(self, block: Block) -> None:
        self.expect("(")
        if self.accept(")"):
            return
        while True:
            start = self.pos
            self.expect("%", "a block argument")
            name = self.regex(_SUFFIX_ID, "an argument name")
            self.expect(":")
            arg = block.add_argument(self.type())
            self.define(name, arg, start)
            if self.accept(")"):
                return
            self.expect(",", "',' or ')'")

    # -- ops -------------------------------------------------------------------------------------
    def module(self) -> Module:
        module = Module()
        wrapped = self.accept("module")
        if wrapped:
            self.expect("{")
        while not (self.peek("}") if wrapped else self.at_end()):
            if self.at_end():
                raise self.error("expected '}' closing the module")
            module.functions.append(self.func())
        if wrapped:
            self.expect("}")
        if not self.at_end():
            raise self.error("unexpected text after the module")
        return module

    def func(self) -> Operation:
        self.expect("func.func", "func.func")
        self.values = {}
        self.expect("@", "a function name like @main")
        name = self.regex(_SUFFIX_ID, "a function name")
        block = Block()
        self.block_args(block)
        declared: list[TensorType] | None = None
        if self.accept("->"):
            declared = self.type_list()
        attrs: dict[str, Any] = {"sym_name": name}
        if self.accept("attributes"):
            attrs.update(self.attr_dict())
        self.expect("{")
        self.ops_until(block, "}")
        self.expect("}")
        term = block.terminator
        if term is None or term.opdef is not RETURN:
            raise self.error(f"function @{name} must end with func.return")
        got = [v.type for v in term.operands]
        if declared is not None and declared != got:
            raise self.error(f"function @{name} declares results {declared} but returns {got}")
        return Operation(FUNC, [], [], FUNC.normalize_attributes(attrs), [Region([block])])

    def ops_until(self, block: Block, closer: str) -> None:
        while not self.peek(closer):
            if self.at_end():
                raise self.error(f"expected {closer!r}")
            block.append(self.operation())

    def operation(self) -> Operation:
        self.skip()
        start = self.pos
        if self.accept("func.return"):
            operands: list[Value] = []
            if self.peek("%"):
                operands.append(self.value_ref())
                while self.accept(","):
                    operands.append(self.value_ref())
                self.expect(":")
                types = [self.type()]
                while self.accept(","):
                    types.append(self.type())
                if types != [v.type for v in operands]:
                    raise self.error("func.return types do not match its operands", start)
            loc = self.location()
            return Operation(RETURN, operands, [], {}, [], loc)
        result_names: list[tuple[str, int]] = []
        if self.peek("%"):
            while True:
                self.expect("%")
                name = self.regex(_SUFFIX_ID, "a result name")
                count = 1
                if self.accept(":"):
                    count = int(self.regex(re.compile(r"[0-9]+"), "a result count"))
                result_names.append((name, count))
                if not self.accept(","):
                    break
            self.expect("=")
        self.skip()
        name_pos = self.pos
        op_name = self.string()
        opdef = self.registry.get(op_name)
        if opdef is None:
            raise self.error(f"unknown operation {op_name!r}", name_pos)
        self.expect("(")
        operands = []
        if not self.accept(")"):
            operands.append(self.value_ref())
            while self.accept(","):
                operands.append(self.value_ref())
            self.expect(")")
        regions: list[Region] = []
        if self.accept("("):
            while True:
                self.expect("{")
                regions.append(self.region())
                self.expect("}")
                if self.accept(")"):
                    break
                self.expect(",", "',' or ')' after a region")
        attrs = self.attr_dict() if self.peek("{") else {}
        self.expect(":", "':' and the op's function type")
        in_types = self.type_list()
        self.expect("->")
        out_types = self.type_list()
        loc = self.location()
        if in_types != [v.type for v in operands]:
            raise self.error(
                f"operand types ({', '.join(map(str, in_types))}) do not match the operands' types "
                f"({', '.join(str(v.type) for v in operands)})",
                name_pos,
            )
        try:
            attributes = opdef.normalize_attributes(attrs)
            op = Operation(opdef, operands, out_types, attributes, regions, loc)
            opdef.verify(op)
        except (IRError, ValueError, TypeError) as exc:
            raise self.error(f"invalid {op_name}: {exc}", name_pos) from None
        total = sum(c for _, c in result_names)
        if total != len(op.results):
            raise self.error(f"{op_name} has {len(op.results)} results but {total} names", start)
        k = 0
        for name, count in result_names:
            if count == 1 and len(result_names) > 1 or count == 1 and len(op.results) == 1:
                self.define(name, op.results[k], start)
                k += 1
            else:
                for j in range(count):
                    self.define(f"{name}#{j}", op.results[k], start)
                    k += 1
        return op

    def region(self) -> Region:
        block = Block()
        if self.accept("^"):
            self.regex(_SUFFIX_ID, "a block label")
            self.block_args(block)
            self.expect(":")
        self.ops_until(block, "}")
        return Region([block])

    def location(self) -> Location | None:
        if not self.accept("loc("):
            return None
        file = self.string()
        self.expect(":")
        line = int(self.regex(re.compile(r"[0-9]+"), "a line number"))
        col = 0
        if self.accept(":"):
            col = int(self.regex(re.compile(r"[0-9]+"), "a column number"))
        self.expect(")")
        return Location(file, line, col)


def parse_module(text: str) -> Module:
    """Parse IR text into a module; raises ``ParseError`` with line:col."""
    return Parser(text).module()


def parse_attribute(text: str) -> Any:
    p = Parser(text)
    value = p.attribute()
    if not p.at_end():
        raise p.error("unexpected text after the attribute")
    return value
