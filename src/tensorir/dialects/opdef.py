"""How an op is declared: one ``OpDef`` object carries everything about the op.

An op family subclasses ``OpDef`` once (elementwise, reduction, ...); a concrete op is an instance
of its family with its name and its rules. Everything about the op stands together:

- ``attributes``: names and defaults of its attributes,
- ``infer``: result types from operand types and attributes (dynamic dims stay dynamic),
- ``verify``: extra checks beyond inference,
- ``reference``: the NumPy implementation (interpreter, constant folding, debug mode, tests),
- ``vjp`` / ``jvp``: the two modes of differentiation, as graph building,
- ``fusion``: ``elementwise``, ``reduction``, ``shape``, ``opaque`` or ``control``,
- ``shape_operands``: the operands it reads only for their shape,
- lowering rules live with the backend families that read these declarations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tensorir.dialects.types import TensorType

if TYPE_CHECKING:
    from tensorir.dialects.builder import Builder
    from tensorir.dialects.ir import Operation, Value


class IRError(Exception):
    """An invalid operation: bad operand types, bad attributes or a failed verification."""


class OpDef:
    """Declaration of one op. Families override the methods; instances are the concrete ops."""

    name: str = ""
    #: attribute names with defaults; an attribute without default is required (``REQUIRED``).
    attributes: Mapping[str, Any] = {}
    #: number of operands, or None when variadic.
    arity: int | None = None
    fusion: str = "opaque"
    #: False for ops whose outputs carry no gradient (comparisons, argmax, shapes, random draws).
    differentiable: bool = True
    #: no side effects: an unused result may be removed and identical ops merged.
    pure: bool = True
    num_regions: int = 0
    #: operands read only for their shape, never their values: whatever computed them may be
    #: freed (or fused away) once its other uses are done.
    shape_operands: tuple[int, ...] = ()
    doc: str = ""

    def __init__(self, name: str | None = None, **kwargs: Any) -> None:
        if name is not None:
            self.name = name
        for key, value in kwargs.items():
            setattr(self, key, value)

    def __repr__(self) -> str:
        return f"<OpDef {self.name}>"

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        # A declaration is one object per op for the whole process, holding functions (many of
        # them lambdas, which cannot be pickled): a pickled graph names it, and loading looks the
        # name up in the registry of the loading process.
        return (_registered_opdef, (self.name,))

    # -- construction --------------------------------------------------------------------------
    def normalize_attributes(self, attrs: Mapping[str, Any]) -> dict[str, Any]:
        """Fill defaults and reject unknown or missing attributes."""
        out: dict[str, Any] = {}
        given = 0
        for key, default in self.attributes.items():
            if key in attrs:
                out[key] = attrs[key]
                given += 1
            elif default is REQUIRED:
                raise IRError(f"{self.name}: missing required attribute {key!r}")
            else:
                out[key] = default
        # Every op built goes through here: the sets naming unknown attributes are made only when
        # some given attribute was not among the known ones.
        if given != len(attrs):
            extra = set(attrs) - set(self.attributes)
            raise IRError(f"{self.name}: unknown attribute(s) {sorted(extra)}; known: {sorted(self.attributes)}")
        return out

    def check_arity(self, n: int) -> None:
        if self.arity is not None and n != self.arity:
            raise IRError(f"{self.name} takes {self.arity} operand(s), got {n}")

    def infer(self, types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        raise NotImplementedError(f"{self.name} has no type inference")

    def verify(self, op: Operation) -> None:
        """Check that the op's result types agree with inference (static dims may be refined)."""
        self.check_arity(len(op.operands))
        inferred = self.infer([v.type for v in op.operands], op.attributes)
        if len(inferred) != len(op.results):
            raise IRError(f"{self.name}: expected {len(inferred)} results, has {len(op.results)}")
        for i, (t, r) in enumerate(zip(inferred, op.results)):
            if not types_compatible(t, r.type):
                raise IRError(f"{self.name}: result {i} has type {r.type}, inference gives {t}")

    # -- semantics -----------------------------------------------------------------------------
    def reference(
        self, inputs: Sequence[np.ndarray], attrs: Mapping[str, Any], types: Sequence[TensorType]
    ) -> list[np.ndarray]:
        raise NotImplementedError(f"{self.name} has no reference implementation")

    def vjp(self, b: Builder, op: Operation, grads: Sequence[Value | None]) -> list[Value | None]:
        """Cotangents of the operands given cotangents of the results (None means zero)."""
        raise NotImplementedError(f"{self.name} has no vjp rule")

    def jvp(self, b: Builder, op: Operation, tangents: Sequence[Value | None]) -> list[Value | None]:
        """Tangents of the results given tangents of the operands (None means zero)."""
        raise NotImplementedError(f"{self.name} has no jvp rule")

    @property
    def has_vjp(self) -> bool:
        return type(self).vjp is not OpDef.vjp or "vjp" in self.__dict__

    @property
    def has_jvp(self) -> bool:
        return type(self).jvp is not OpDef.jvp or "jvp" in self.__dict__


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


def types_compatible(inferred: TensorType, actual: TensorType) -> bool:
    """Same dtype and rank; a static dim on both sides must agree."""
    if inferred.dtype != actual.dtype or inferred.ndim != actual.ndim:
        return False
    return all(a is None or b is None or a == b for a, b in zip(inferred.shape, actual.shape))


def cast_result(value: Any, type_: TensorType) -> np.ndarray:
    """A reference result as an ndarray of the declared dtype (NumPy sometimes returns scalars)."""
    arr = np.asarray(value)
    if arr.dtype.name != type_.dtype:
        arr = arr.astype(type_.dtype)
    return arr


def _registered_opdef(name: str) -> OpDef:
    """The declaration of op ``name`` (unpickling an op refers to it by name)."""
    from tensorir.dialects.registry import OPS

    try:
        return OPS[name]
    except KeyError:
        raise IRError(f"cannot load a graph with op {name!r}: no such op is declared in this tensorir") from None
