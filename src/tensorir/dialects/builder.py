"""Creating operations: type inference, verification of operands, insertion and the user's location."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from tensorir.dialects.ir import Block, Location, Operation, Region, Value
from tensorir.dialects.opdef import IRError, OpDef

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_internal_code: dict[Any, bool] = {}


def user_location() -> Location | None:
    """The first stack frame outside the tensorir package: the user's line that built an op."""
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        internal = _internal_code.get(code)
        if internal is None:
            internal = os.path.abspath(code.co_filename).startswith(_PACKAGE_DIR)
            _internal_code[code] = internal
        if not internal:
            return Location(code.co_filename, frame.f_lineno)
        frame = frame.f_back  # type: ignore[assignment]
    return None


class Builder:
    """Builds operations, optionally inserting them into a block.

    Without a block the operations stand alone (the frontend's graphs). ``location`` is a fixed
    location, or None to record the user's line for every op.
    """

    def __init__(
        self,
        block: Block | None = None,
        index: int | None = None,
        location: Location | None = None,
        registry: Mapping[str, OpDef] | None = None,
        track_location: bool = True,
    ) -> None:
        self.block = block
        self.index = index
        self.location = location
        self.track_location = track_location
        if registry is None:
            from tensorir.dialects.registry import OPS

            registry = OPS
        self.registry = registry

    @classmethod
    def before(cls, op: Operation, **kwargs: Any) -> Builder:
        """A builder inserting right before ``op`` in its block, with ``op``'s location."""
        assert op.parent is not None, "op is not in a block"
        kwargs.setdefault("location", op.location)
        return cls(op.parent, op.parent.index_of(op), **kwargs)

    def lookup(self, name: str) -> OpDef:
        try:
            return self.registry[name]
        except KeyError:
            raise IRError(f"unknown op {name!r}") from None

    def create(
        self,
        opdef: OpDef,
        operands: Sequence[Value],
        attrs: Mapping[str, Any] | None = None,
        regions: Sequence[Region] = (),
        result_types: Sequence[Any] | None = None,
    ) -> Operation:
        opdef.check_arity(len(operands))
        attributes = opdef.normalize_attributes(attrs or {})
        if result_types is None:
            result_types = opdef.infer([v.type for v in operands], attributes)
        location = self.location
        if location is None and self.track_location:
            location = user_location()
        op = Operation(opdef, operands, result_types, attributes, regions, location)
        if self.block is not None:
            if self.index is None:
                self.block.append(op)
            else:
                self.block.insert(self.index, op)
                self.index += 1
        return op

    def op(self, name: str | OpDef, *operands: Value, **attrs: Any) -> Any:
        """Create an op by name and return its result (a tuple when it has several)."""
        opdef = self.lookup(name) if isinstance(name, str) else name
        op = self.create(opdef, operands, attrs)
        if len(op.results) == 1:
            return op.results[0]
        return tuple(op.results)

    def constant(self, value: Any, dtype: str | None = None) -> Value:
        """A ``tir.constant`` holding ``value`` (converted to ``dtype`` when given)."""
        arr = np.asarray(value, dtype=dtype)
        return self.op("tir.constant", value=arr)

    def with_block(self, block: Block) -> Builder:
        return Builder(block, None, self.location, self.registry, self.track_location)


LocationProvider = Callable[[], Location | None]
