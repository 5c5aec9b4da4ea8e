"""The tir dialect: one module per op family. ``ALL_OPS`` lists every op explicitly."""

from tensorir.dialects.tir import elementwise, reduction, shape

ALL_OPS = [*elementwise.OPS, *reduction.OPS, *shape.OPS]

__all__ = ["ALL_OPS", "elementwise", "reduction", "shape"]
