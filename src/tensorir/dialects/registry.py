"""The op registry: op name -> declaration, built from the explicit lists of each family."""

from __future__ import annotations

from tensorir.dialects import builtin
from tensorir.dialects.opdef import OpDef
from tensorir.dialects.tir import ALL_OPS


def _build() -> dict[str, OpDef]:
    table: dict[str, OpDef] = {}
    for op in [*builtin.OPS, *ALL_OPS]:
        if op.name in table:
            raise RuntimeError(f"op {op.name} declared twice")
        table[op.name] = op
    return table


OPS: dict[str, OpDef] = _build()


def lookup(name: str) -> OpDef:
    return OPS[name]
