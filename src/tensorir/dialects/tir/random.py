"""tir ops: random family (being written)."""

from __future__ import annotations

from tensorir.dialects.opdef import OpDef

OPS: list[OpDef] = []
