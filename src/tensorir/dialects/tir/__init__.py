"""The tir dialect: one module per op family. ``ALL_OPS`` lists every op explicitly."""

from tensorir.dialects.tir import (
    autodiff_ops,
    blas,
    collective,
    control,
    conv,
    elementwise,
    fused,
    indexing,
    linalg,
    nn,
    random,
    reduction,
    shape,
    shape_alloc,
    transfer,
)

FAMILIES = (
    elementwise, reduction, shape, shape_alloc, indexing, linalg, blas, nn, conv, random, control, fused,
    autodiff_ops, collective, transfer,
)
ALL_OPS = [op for family in FAMILIES for op in family.OPS]

__all__ = ["ALL_OPS", "FAMILIES"]
