"""The core IR: SSA values, operations, blocks, regions, functions and modules.

Lean Python objects (``__slots__``) because the frontend creates one operation per user call.
An operation may live in a block (inside a function) or stand alone: the frontend builds
free-standing graphs and ``function`` clones the part it needs into a ``func.func``.
Every traversal here is iterative so graphs of any depth are safe.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tensorir.dialects.types import TensorType

if TYPE_CHECKING:
    from tensorir.dialects.opdef import OpDef


class Location:
    """Where the user built an op: file, line and the code of that line (for messages)."""

    __slots__ = ("file", "line", "col")

    def __init__(self, file: str, line: int, col: int = 0) -> None:
        self.file = file
        self.line = line
        self.col = col

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"

    def __repr__(self) -> str:
        return f"Location({self.file!r}, {self.line})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Location) and (self.file, self.line, self.col) == (
            other.file,
            other.line,
            other.col,
        )

    def __hash__(self) -> int:
        return hash((self.file, self.line, self.col))


class Value:
    """An SSA value: the result of an operation or an argument of a block."""

    __slots__ = ("type", "uses", "name", "handle", "__weakref__")

    def __init__(self, type: TensorType, name: str | None = None) -> None:
        self.type = type
        # (operation, operand index) pairs, in creation order.
        self.uses: list[tuple[Operation, int]] = []
        self.name = name
        # Opaque slot for the frontend's Variable wrapping this value (the IR never reads it).
        self.handle: Any = None

    @property
    def owner(self) -> Operation | None:
        """The defining operation, or None for block arguments and free inputs."""
        return None

    @property
    def users(self) -> list[Operation]:
        seen: dict[int, Operation] = {}
        for op, _ in self.uses:
            seen.setdefault(id(op), op)
        return list(seen.values())

    def replace_all_uses_with(self, new: Value) -> None:
        """Point every use of this value at ``new``."""
        if new is self:
            return
        for op, index in self.uses:
            op.operands[index] = new
            new.uses.append((op, index))
        self.uses = []

    def __repr__(self) -> str:
        label = f" {self.name!r}" if self.name else ""
        return f"<{type(self).__name__}{label}: {self.type}>"


class FreeValue(Value):
    """A value with no definition: a symbolic input of a free-standing graph."""

    __slots__ = ()


class OpResult(Value):
    __slots__ = ("op", "index")

    def __init__(self, type: TensorType, op: Operation, index: int) -> None:
        # Fields set directly: this runs once per op result, on the frontend's hot path.
        self.type = type
        self.uses = []
        self.name = None
        self.handle = None
        self.op = op
        self.index = index

    @property
    def owner(self) -> Operation:
        return self.op


class BlockArgument(Value):
    __slots__ = ("block", "index")

    def __init__(self, type: TensorType, block: Block, index: int, name: str | None = None) -> None:
        super().__init__(type, name)
        self.block = block
        self.index = index


class Operation:
    """One operation: an op definition, operands, results, attributes, regions and a location."""

    __slots__ = ("opdef", "operands", "results", "attributes", "regions", "location", "parent", "__weakref__")

    def __init__(
        self,
        opdef: OpDef,
        operands: Sequence[Value],
        result_types: Sequence[TensorType],
        attributes: Mapping[str, Any] | None = None,
        regions: Sequence[Region] = (),
        location: Location | None = None,
    ) -> None:
        self.opdef = opdef
        self.operands: list[Value] = list(operands)
        for i, v in enumerate(self.operands):
            v.uses.append((self, i))
        self.results: list[OpResult] = [OpResult(t, self, i) for i, t in enumerate(result_types)]
        self.attributes: dict[str, Any] = dict(attributes) if attributes else {}
        self.regions: list[Region] = list(regions)
        for r in self.regions:
            r.parent = self
        self.location = location
        self.parent: Block | None = None

    @property
    def name(self) -> str:
        return self.opdef.name

    @property
    def result(self) -> OpResult:
        """The single result (raises for ops with several)."""
        if len(self.results) != 1:
            raise ValueError(f"{self.name} has {len(self.results)} results, not one")
        return self.results[0]

    def set_operand(self, index: int, value: Value) -> None:
        old = self.operands[index]
        old.uses.remove((self, index))
        self.operands[index] = value
        value.uses.append((self, index))

    def drop_operand_uses(self) -> None:
        """Forget this op as a user of its operands (before erasing it)."""
        for i, v in enumerate(self.operands):
            try:
                v.uses.remove((self, i))
            except ValueError:
                pass

    def erase(self) -> None:
        """Remove from the parent block and drop operand uses; results must be unused."""
        for r in self.results:
            if r.uses:
                raise ValueError(f"cannot erase {self.name}: result {r.index} still has uses")
        for op in walk(self):
            op.drop_operand_uses()
        if self.parent is not None:
            self.parent.remove(self)

    def where(self) -> str:
        """Human-readable location: ``file.py:12`` or the op name when unknown."""
        return str(self.location) if self.location else "<unknown location>"

    def __repr__(self) -> str:
        return f"<Operation {self.name} at {self.where()}>"


class Block:
    """A list of operations with typed arguments; the last op of a region's block is its terminator."""

    __slots__ = ("arguments", "operations", "parent")

    def __init__(self, arg_types: Iterable[TensorType] = (), arg_names: Iterable[str | None] = ()) -> None:
        names = list(arg_names)
        self.arguments: list[BlockArgument] = [
            BlockArgument(t, self, i, names[i] if i < len(names) else None) for i, t in enumerate(arg_types)
        ]
        self.operations: list[Operation] = []
        self.parent: Region | None = None

    def add_argument(self, type: TensorType, name: str | None = None) -> BlockArgument:
        arg = BlockArgument(type, self, len(self.arguments), name)
        self.arguments.append(arg)
        return arg

    def append(self, op: Operation) -> Operation:
        op.parent = self
        self.operations.append(op)
        return op

    def insert(self, index: int, op: Operation) -> Operation:
        op.parent = self
        self.operations.insert(index, op)
        return op

    def insert_before(self, anchor: Operation, op: Operation) -> Operation:
        return self.insert(self.index_of(anchor), op)

    def index_of(self, op: Operation) -> int:
        for i, o in enumerate(self.operations):
            if o is op:
                return i
        raise ValueError(f"{op!r} is not in this block")

    def remove(self, op: Operation) -> None:
        del self.operations[self.index_of(op)]
        op.parent = None

    @property
    def terminator(self) -> Operation | None:
        return self.operations[-1] if self.operations else None


class Region:
    """A list of blocks owned by an operation (tir uses single-block regions)."""

    __slots__ = ("blocks", "parent")

    def __init__(self, blocks: Iterable[Block] = ()) -> None:
        self.blocks: list[Block] = []
        self.parent: Operation | None = None
        for b in blocks:
            self.add_block(b)

    def add_block(self, block: Block) -> Block:
        block.parent = self
        self.blocks.append(block)
        return block

    @property
    def block(self) -> Block:
        return self.blocks[0]


class Module:
    """A list of ``func.func`` operations."""

    __slots__ = ("functions",)

    def __init__(self, functions: Iterable[Operation] = ()) -> None:
        self.functions: list[Operation] = list(functions)

    def lookup(self, name: str) -> Operation:
        for f in self.functions:
            if f.attributes.get("sym_name") == name:
                return f
        raise KeyError(f"no function @{name} in module")


# -- traversal -------------------------------------------------------------------------------------


def walk(root: Operation | Block | Region | Module) -> Iterator[Operation]:
    """Every operation under ``root`` (itself first if it is an op), pre-order, iteratively."""
    stack: list[Operation | Block | Region] = []
    if isinstance(root, Module):
        stack.extend(reversed(root.functions))
    else:
        stack.append(root)
    while stack:
        item = stack.pop()
        if isinstance(item, Operation):
            yield item
            stack.extend(reversed(item.regions))
        elif isinstance(item, Block):
            stack.extend(reversed(item.operations))
        else:
            stack.extend(reversed(item.blocks))


def ancestors_topological(outputs: Sequence[Value], stop: Iterable[Value] = ()) -> list[Operation]:
    """Operations that ``outputs`` depend on, in dependency order, not crossing ``stop`` values.

    Iterative depth-first post-order, so chains of any length are fine.
    """
    stop_ids = {id(v) for v in stop}
    order: list[Operation] = []
    visited: set[int] = set()
    stack: list[tuple[Operation, int]] = []
    for out in outputs:
        if id(out) in stop_ids:
            continue
        op = out.owner
        if op is None or id(op) in visited:
            continue
        visited.add(id(op))
        stack.append((op, 0))
        while stack:
            cur, i = stack[-1]
            if i < len(cur.operands):
                stack[-1] = (cur, i + 1)
                v = cur.operands[i]
                if id(v) in stop_ids:
                    continue
                dep = v.owner
                if dep is not None and id(dep) not in visited:
                    visited.add(id(dep))
                    stack.append((dep, 0))
            else:
                stack.pop()
                order.append(cur)
    return order


def graph_inputs(outputs: Sequence[Value], stop: Iterable[Value] = ()) -> list[Value]:
    """Values without a defining op (or in ``stop``) that ``outputs`` depend on, in first-seen order."""
    stop_list = list(stop)
    stop_ids = {id(v) for v in stop_list}
    seen: set[int] = set()
    result: list[Value] = []
    for out in outputs:
        if (out.owner is None or id(out) in stop_ids) and id(out) not in seen:
            seen.add(id(out))
            result.append(out)
    for op in ancestors_topological(outputs, stop_list):
        for v in op.operands:
            if (v.owner is None or id(v) in stop_ids) and id(v) not in seen:
                seen.add(id(v))
                result.append(v)
        for region in op.regions:
            for inner in walk(region):
                for v in inner.operands:
                    if isinstance(v, FreeValue) and id(v) not in seen:
                        seen.add(id(v))
                        result.append(v)
    return result


# -- cloning ---------------------------------------------------------------------------------------


def clone_operation(op: Operation, value_map: dict[Value, Value]) -> Operation:
    """A copy of ``op`` (regions included) with operands looked up in ``value_map``.

    Results of the copy (and of everything inside its regions) are added to ``value_map``.
    Operands missing from the map are used as they are (values from an enclosing scope).
    """
    new_regions = [_clone_region(r, value_map) for r in op.regions]
    new = Operation(
        op.opdef,
        [value_map.get(v, v) for v in op.operands],
        [r.type for r in op.results],
        op.attributes,
        new_regions,
        op.location,
    )
    for old_r, new_r in zip(op.results, new.results):
        new_r.name = old_r.name
        value_map[old_r] = new_r
    return new


def _clone_region(region: Region, value_map: dict[Value, Value]) -> Region:
    new_region = Region()
    for block in region.blocks:
        nb = Block([a.type for a in block.arguments], [a.name for a in block.arguments])
        for old_a, new_a in zip(block.arguments, nb.arguments):
            value_map[old_a] = new_a
        new_region.add_block(nb)
        for inner in block.operations:
            nb.append(clone_operation(inner, value_map))
    return new_region


def clone_graph(
    outputs: Sequence[Value], replace: Mapping[Value, Value], stop: Iterable[Value] = ()
) -> list[Value]:
    """Copies of ``outputs`` with ``replace`` substituted, sharing everything not affected.

    Ops whose inputs are unchanged are reused, so cloning is proportional to what changes.
    """
    value_map: dict[Value, Value] = dict(replace)
    for op in ancestors_topological(outputs, list(replace) + list(stop)):
        if any(v in value_map for v in op.operands) or _region_uses_any(op, value_map):
            clone_operation(op, value_map)
    return [value_map.get(v, v) for v in outputs]


def _region_uses_any(op: Operation, value_map: Mapping[Value, Value]) -> bool:
    if not op.regions:
        return False
    for inner in walk(op):
        if inner is not op and any(v in value_map for v in inner.operands):
            return True
    return False
