"""The cuBLAS products of the implicit-GEMM convolution, as data: which strided-batched gemm each
conv op makes per group and chunk, and the one ctypes call that runs such a product.

The kernels around them are ``codegen/gpu/lower_conv.py``'s (im2col, col2im, channels-first);
its docstring has the notation. Row-major products are written for the column-major library
as ``C^T = B^T @ A^T`` (``runtime/cuda/cublas.py``). Per group ``g`` and chunk of ``nb`` images:

- forward: per image ``n``, ``y[n, g] (Fg x P) = w[g] (Fg x Kg) @ cols[g][:, n*P:(n+1)*P]``,
  one strided-batched gemm over the chunk's images (the filters' stride is 0), written straight
  into the NCHW output;
- input gradient: per image, ``cols[g][:, n*P:(n+1)*P] = w[g]^T @ gy[n, g]``, then col2im;
- filter gradient: ``dw[g] (+)= gyt[g] (Fg x nb*P) @ cols[g]^T``, one gemm per chunk
  (``beta = 1`` after the first chunk), with ``gyt`` the channels-first copy of ``gy``.

Everything but :func:`run_product` is pure, so the plan is checked on the CPU against a NumPy
column-major gemm and the references (``tests/runtime/cuda/test_conv_gemm.py``).
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any

from tensorir.dialects.tir.conv import ConvGeometry, group_sizes

__all__ = ["SCRATCH_BUDGET_BYTES", "ConvShape", "StridedGemm", "chunk_images", "filter_gradient_products",
           "forward_products", "input_gradient_products", "run_product"]

CUBLAS_OP_N, CUBLAS_OP_T = 0, 1
#: The most bytes of im2col scratch a conv step holds (it takes the batch in chunks that fit).
#: Not measured: a bound that keeps LeNet's batch of 500 in one chunk and big inputs in memory.
SCRATCH_BUDGET_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class ConvShape:
    """A convolution's sizes, resolved (the reference's :class:`ConvGeometry` plus channels)."""

    N: int
    C: int
    H: int
    W: int
    F: int
    kh: int
    kw: int
    OH: int
    OW: int
    sh: int
    sw: int
    dh: int
    dw: int
    ph: int
    pw: int
    G: int
    flip: bool

    @classmethod
    def of(cls, x_shape: tuple[int, ...], w_shape: tuple[int, ...], attrs: dict[str, Any]) -> ConvShape:
        """From the input's and the filters' shapes and the op's attributes; the reference's
        errors (groups that do not split, a kernel larger than the padded input)."""
        n, c, h, w = (int(d) for d in x_shape)
        f, cin, kh, kw = (int(d) for d in w_shape)
        group_sizes(c, f, attrs["num_groups"], cin)
        geo = ConvGeometry((h, w), (kh, kw), attrs)
        return cls(n, c, h, w, f, kh, kw, geo.oh, geo.ow, geo.sh, geo.sw, geo.dh, geo.dw, int(geo.ph), int(geo.pw),
                   attrs["num_groups"], bool(attrs["filter_flip"]))

    @property
    def Cg(self) -> int:  # noqa: N802 - the notation of lower_conv
        return self.C // self.G

    @property
    def Fg(self) -> int:  # noqa: N802
        return self.F // self.G

    @property
    def Kg(self) -> int:  # noqa: N802
        return self.Cg * self.kh * self.kw

    @property
    def P(self) -> int:  # noqa: N802
        return self.OH * self.OW

    def geometry(self, n0: int, nb: int) -> list[int]:
        """The kernels' geometry sizes (``lower_conv._GEOMETRY``) for the chunk at ``n0``."""
        return [n0, nb, self.C, self.H, self.W, self.kh, self.kw, self.OH, self.OW, self.sh, self.sw, self.dh,
                self.dw, self.ph, self.pw, int(self.flip)]


@dataclass(frozen=True)
class StridedGemm:
    """One column-major ``cublas<t>gemmStridedBatched``: ``C_i = op_a(A_i) @ op_b(B_i)`` scaled,
    the operands named by buffer (``"w"``, ``"cols"``, ``"y"``, ``"gy"``, ``"gyt"``, ``"dw"``) with
    element offsets, leading dimensions and element strides between the batch's matrices."""

    op_a: int
    op_b: int
    m: int
    n: int
    k: int
    a: tuple[str, int, int, int]  # buffer, offset, lda, stride
    b: tuple[str, int, int, int]
    c: tuple[str, int, int, int]
    batch: int
    beta: float


def chunk_images(shape: ConvShape, itemsize: int, budget: int = SCRATCH_BUDGET_BYTES) -> int:
    """Images per chunk: as many as keep the ``C*kh*kw x nb*P`` im2col scratch within ``budget``
    (at least one)."""
    per_image = shape.C * shape.kh * shape.kw * shape.P * itemsize
    return max(1, min(shape.N, budget // max(per_image, 1)))


def forward_products(s: ConvShape, n0: int, nb: int) -> list[StridedGemm]:
    """``y[n0:n0+nb]`` from the chunk's ``cols``: per group, ``C^T (P x Fg) = cols^T @ w[g]^T``."""
    width = nb * s.P
    return [StridedGemm(CUBLAS_OP_N, CUBLAS_OP_N, s.P, s.Fg, s.Kg,
                        ("cols", g * s.Kg * width, width, s.P),
                        ("w", g * s.Fg * s.Kg, s.Kg, 0),
                        ("y", (n0 * s.F + g * s.Fg) * s.P, s.P, s.F * s.P), nb, 0.0)
            for g in range(s.G)]


def input_gradient_products(s: ConvShape, n0: int, nb: int) -> list[StridedGemm]:
    """The chunk's ``cols`` gradient: per group and image, ``C^T (P x Kg) = gy[n, g]^T @ w[g]``."""
    width = nb * s.P
    return [StridedGemm(CUBLAS_OP_N, CUBLAS_OP_T, s.P, s.Kg, s.Fg,
                        ("gy", (n0 * s.F + g * s.Fg) * s.P, s.P, s.F * s.P),
                        ("w", g * s.Fg * s.Kg, s.Kg, 0),
                        ("cols", g * s.Kg * width, width, s.P), nb, 0.0)
            for g in range(s.G)]


def filter_gradient_products(s: ConvShape, nb: int, first: bool) -> list[StridedGemm]:
    """``dw[g] (+)= gyt[g] @ cols[g]^T`` for one chunk: ``C^T (Kg x Fg) = cols[g] @ gyt[g]^T``."""
    width = nb * s.P
    return [StridedGemm(CUBLAS_OP_T, CUBLAS_OP_N, s.Kg, s.Fg, width,
                        ("cols", g * s.Kg * width, width, 0),
                        ("gyt", g * s.Fg * width, width, 0),
                        ("dw", g * s.Fg * s.Kg, s.Kg, 0), 1, 0.0 if first else 1.0)
            for g in range(s.G)]


def run_product(cublas: Any, dtype: str, product: StridedGemm, addresses: dict[str, int]) -> None:  # noqa: ANN401
    """``product`` on cuBLAS (``cublas``: a :class:`~tensorir.runtime.cuda.cublas.Cublas`), its
    buffers at the device ``addresses``."""
    lib, itemsize = cublas.lib, 4 if dtype == "float32" else 8
    fn = lib.cublasSgemmStridedBatched if dtype == "float32" else lib.cublasDgemmStridedBatched
    scalar = ctypes.c_float if dtype == "float32" else ctypes.c_double
    alpha, beta = scalar(1.0), scalar(product.beta)
    (an, ao, lda, sa), (bn, bo, ldb, sb), (cn, co, ldc, sc) = product.a, product.b, product.c
    c_int, ll, p = ctypes.c_int, ctypes.c_longlong, ctypes.c_void_p
    status = fn(cublas.handle, c_int(product.op_a), c_int(product.op_b), c_int(product.m), c_int(product.n),
                c_int(product.k), ctypes.byref(alpha), p(addresses[an] + ao * itemsize), c_int(max(lda, 1)), ll(sa),
                p(addresses[bn] + bo * itemsize), c_int(max(ldb, 1)), ll(sb), ctypes.byref(beta),
                p(addresses[cn] + co * itemsize), c_int(max(ldc, 1)), ll(sc), c_int(product.batch))
    if status != 0:
        raise RuntimeError(f"cublasGemmStridedBatched ({dtype}, {product}) failed: cuBLAS status {status}")
