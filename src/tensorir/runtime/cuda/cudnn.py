"""cuDNN's convolutions through ctypes: the legacy C API of the ``nvidia-cudnn-cu13`` wheel's library.

Three calls, one per conv op: ``cudnnConvolutionForward`` (``tir.conv2d``),
``cudnnConvolutionBackwardData`` (``tir.conv2d_grad_input``) and
``cudnnConvolutionBackwardFilter`` (``tir.conv2d_grad_filters``), on NCHW tensors and KCRS
filters. The op's attributes map onto one convolution descriptor (:func:`descriptor_parameters`,
pure): symmetric pads (the references' resolved ``padding``), strides, dilations, the group
count, and ``filter_flip`` as the mode (``CUDNN_CONVOLUTION`` flips the filters, as Theano's
true convolution; ``CUDNN_CROSS_CORRELATION`` does not). Float32 runs with ``CUDNN_FMA_MATH``,
so no TF32 tensor-core rounding departs from the references.

The algorithm is chosen by cuDNN's heuristics (``cudnnGet...Algorithm_v7``): the first it ranks
whose status is success and whose workspace fits :data:`WORKSPACE_LIMIT_BYTES`; the choice is
made once per shape (``runtime/cuda/conv_choice.py``). :class:`CudnnRefused` says why cuDNN
will not run a configuration (the library is absent, a descriptor or every algorithm was
refused); the conv step then takes the implicit GEMM.

The library is found by ``cuda.pathfinder`` (``load_nvidia_dynamic_lib("cudnn")``), else in the
``nvidia.cudnn`` wheel's ``lib`` folder.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tensorir.runtime.cuda.conv_gemm import ConvShape

__all__ = ["ALGORITHM_NAMES", "WORKSPACE_LIMIT_BYTES", "Cudnn", "CudnnPlan", "CudnnRefused", "DescriptorParameters",
           "descriptor_parameters", "library_reason", "refusal_reason"]

#: The most workspace an algorithm may ask for. Not measured: cuDNN's fast algorithms for
#: LeNet-sized convolutions need far less; big ones fall back to an algorithm without workspace.
WORKSPACE_LIMIT_BYTES = 512 * 1024 * 1024
#: The legacy API's dims and strides are 32-bit ints.
_INT32_MAX = 2**31 - 1

# cuDNN enums (cudnn_graph.h / cudnn_cnn.h, stable since cuDNN 7).
_SUCCESS = 0
_NCHW = 0
_DATA_TYPE = {"float32": 0, "float64": 1}
_CONVOLUTION, _CROSS_CORRELATION = 0, 1
_FMA_MATH = 3
_DEFAULT_MATH = 0

#: Algorithm names per op, by enum value (for ``describe`` and the profiler).
ALGORITHM_NAMES = {
    "forward": ("IMPLICIT_GEMM", "IMPLICIT_PRECOMP_GEMM", "GEMM", "DIRECT", "FFT", "FFT_TILING", "WINOGRAD",
                "WINOGRAD_NONFUSED"),
    "grad_input": ("ALGO_0", "ALGO_1", "FFT", "FFT_TILING", "WINOGRAD", "WINOGRAD_NONFUSED"),
    "grad_filters": ("ALGO_0", "ALGO_1", "FFT", "ALGO_3", "WINOGRAD", "WINOGRAD_NONFUSED", "FFT_TILING"),
}


class CudnnRefused(RuntimeError):
    """cuDNN will not run this convolution (the message says why); take the implicit GEMM."""


@dataclass(frozen=True)
class DescriptorParameters:
    """What the descriptors of one convolution hold (pure: computed and tested without cuDNN)."""

    x: tuple[int, int, int, int]  # N, C, H, W
    w: tuple[int, int, int, int]  # F, C / G, kh, kw
    y: tuple[int, int, int, int]  # N, F, OH, OW
    pad: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    mode: int
    groups: int
    data_type: int
    math_type: int


def descriptor_parameters(s: ConvShape, dtype: str) -> DescriptorParameters:
    """The descriptors' parameters of the convolution ``s`` in ``dtype`` (module docstring)."""
    if dtype not in _DATA_TYPE:
        raise CudnnRefused(f"cuDNN convolutions here take float32 and float64, not {dtype}")
    return DescriptorParameters((s.N, s.C, s.H, s.W), (s.F, s.Cg, s.kh, s.kw), (s.N, s.F, s.OH, s.OW),
                                (s.ph, s.pw), (s.sh, s.sw), (s.dh, s.dw),
                                _CONVOLUTION if s.flip else _CROSS_CORRELATION, s.G, _DATA_TYPE[dtype],
                                _FMA_MATH if dtype == "float32" else _DEFAULT_MATH)


def cudnn_output_size(size: int, filter_size: int, pad: int, stride: int, dilation: int) -> int:
    """cuDNN's output size of one axis (``cudnnGetConvolution2dForwardOutputDim``'s formula)."""
    return 1 + (size + 2 * pad - ((filter_size - 1) * dilation + 1)) // stride


def refusal_reason(s: ConvShape, dtype: str) -> str | None:
    """Why cuDNN cannot take ``s`` before asking it (None when it may): an unsupported dtype,
    an empty tensor, sizes beyond the legacy API's 32-bit ints."""
    if dtype not in _DATA_TYPE:
        return f"cuDNN convolutions here take float32 and float64, not {dtype}"
    if min(s.N, s.C, s.H, s.W, s.F, s.OH, s.OW) == 0:
        return "an empty tensor (nothing to compute)"
    largest = max(s.N * s.C * s.H * s.W, s.N * s.F * s.OH * s.OW, s.F * s.Cg * s.kh * s.kw)
    if largest > _INT32_MAX:
        return f"a tensor of {largest} elements: beyond the legacy API's 32-bit sizes"
    return None


def _wheel_library() -> str | None:
    spec = importlib.util.find_spec("nvidia")
    for root in (spec.submodule_search_locations or []) if spec else []:
        for candidate in sorted(Path(root).glob("cudnn/lib/libcudnn.so*")):
            return str(candidate)
    return None


@functools.cache
def _library() -> ctypes.CDLL:
    reasons = []
    try:
        from cuda.pathfinder import load_nvidia_dynamic_lib

        return ctypes.CDLL(load_nvidia_dynamic_lib("cudnn").abs_path)
    except ImportError:
        reasons.append("cuda-python (cuda.pathfinder) is not installed")
    except Exception as exc:  # noqa: BLE001 - pathfinder's not-found and unknown-name errors
        reasons.append(f"cuda.pathfinder did not find cuDNN ({exc})")
    path = _wheel_library()
    if path is None:
        raise CudnnRefused("cuDNN is not installed (" + "; ".join(reasons)
                           + "): pip install 'tensorir[gpu]' (nvidia-cudnn-cu13)")
    return ctypes.CDLL(path)


def library_reason() -> str | None:
    """Why cuDNN cannot be used in this process (None when its library loads)."""
    try:
        _library()
    except (CudnnRefused, OSError) as exc:
        return str(exc)
    return None


class _Perf(ctypes.Structure):
    """``cudnnConvolution{Fwd,BwdData,BwdFilter}AlgoPerf_t`` (the same layout for all three)."""

    _fields_ = [("algo", ctypes.c_int), ("status", ctypes.c_int), ("time", ctypes.c_float),
                ("memory", ctypes.c_size_t), ("determinism", ctypes.c_int), ("mathType", ctypes.c_int),
                ("reserved", ctypes.c_int * 3)]


#: Per op: the heuristic, the workspace query and the call (cuDNN's names).
_CALLS = {
    "forward": ("cudnnGetConvolutionForwardAlgorithm_v7", "cudnnGetConvolutionForwardWorkspaceSize",
                "cudnnConvolutionForward"),
    "grad_input": ("cudnnGetConvolutionBackwardDataAlgorithm_v7", "cudnnGetConvolutionBackwardDataWorkspaceSize",
                   "cudnnConvolutionBackwardData"),
    "grad_filters": ("cudnnGetConvolutionBackwardFilterAlgorithm_v7",
                     "cudnnGetConvolutionBackwardFilterWorkspaceSize", "cudnnConvolutionBackwardFilter"),
}
_MAX_ALGORITHMS = 8


@dataclass
class CudnnPlan:
    """One convolution's descriptors and chosen algorithm (destroyed with the plan)."""

    kind: str
    dtype: str
    x: ctypes.c_void_p
    w: ctypes.c_void_p
    y: ctypes.c_void_p
    conv: ctypes.c_void_p
    algorithm: int
    workspace_bytes: int
    lib: Any

    @property
    def algorithm_name(self) -> str:
        names = ALGORITHM_NAMES[self.kind]
        return names[self.algorithm] if 0 <= self.algorithm < len(names) else str(self.algorithm)

    def __del__(self) -> None:
        lib = self.lib
        for handle, destroy in ((self.x, "cudnnDestroyTensorDescriptor"), (self.y, "cudnnDestroyTensorDescriptor"),
                                (self.w, "cudnnDestroyFilterDescriptor"),
                                (self.conv, "cudnnDestroyConvolutionDescriptor")):
            if handle:
                getattr(lib, destroy)(handle)


class Cudnn:
    """One cuDNN handle bound to one stream."""

    def __init__(self, stream: int) -> None:
        self.lib = lib = _library()
        self.handle = ctypes.c_void_p()
        self._check(lib.cudnnCreate(ctypes.byref(self.handle)), "cudnnCreate", CudnnRefused)
        self._check(lib.cudnnSetStream(self.handle, ctypes.c_void_p(stream)), "cudnnSetStream", CudnnRefused)

    def _check(self, status: int, call: str, error: type[Exception] = RuntimeError) -> None:
        if status != _SUCCESS:
            self.lib.cudnnGetErrorString.restype = ctypes.c_char_p
            text = self.lib.cudnnGetErrorString(ctypes.c_int(status)).decode()
            raise error(f"{call} failed: {text} (cuDNN status {status})")

    def _descriptor(self, create: str) -> ctypes.c_void_p:
        handle = ctypes.c_void_p()
        self._check(getattr(self.lib, create)(ctypes.byref(handle)), create, CudnnRefused)
        return handle

    def plan(self, kind: str, s: ConvShape, dtype: str) -> CudnnPlan:
        """The descriptors of ``kind`` (``forward``, ``grad_input``, ``grad_filters``) for ``s`` and
        the algorithm cuDNN's heuristics rank first among those that fit; :class:`CudnnRefused`."""
        reason = refusal_reason(s, dtype)
        if reason is not None:
            raise CudnnRefused(reason)
        p = descriptor_parameters(s, dtype)
        lib, c_int = self.lib, ctypes.c_int
        x, y = self._descriptor("cudnnCreateTensorDescriptor"), self._descriptor("cudnnCreateTensorDescriptor")
        w, conv = self._descriptor("cudnnCreateFilterDescriptor"), self._descriptor("cudnnCreateConvolutionDescriptor")
        plan = CudnnPlan(kind, dtype, x, w, y, conv, -1, 0, lib)  # destroys the descriptors if refused below
        for desc, dims in ((x, p.x), (y, p.y)):
            self._check(lib.cudnnSetTensor4dDescriptor(desc, c_int(_NCHW), c_int(p.data_type), *map(c_int, dims)),
                        "cudnnSetTensor4dDescriptor", CudnnRefused)
        self._check(lib.cudnnSetFilter4dDescriptor(w, c_int(p.data_type), c_int(_NCHW), *map(c_int, p.w)),
                    "cudnnSetFilter4dDescriptor", CudnnRefused)
        self._check(lib.cudnnSetConvolution2dDescriptor(conv, *map(c_int, (*p.pad, *p.stride, *p.dilation)),
                                                        c_int(p.mode), c_int(p.data_type)),
                    "cudnnSetConvolution2dDescriptor", CudnnRefused)
        self._check(lib.cudnnSetConvolutionGroupCount(conv, c_int(p.groups)), "cudnnSetConvolutionGroupCount",
                    CudnnRefused)
        self._check(lib.cudnnSetConvolutionMathType(conv, c_int(p.math_type)), "cudnnSetConvolutionMathType",
                    CudnnRefused)
        dims = [c_int() for _ in range(4)]
        self._check(lib.cudnnGetConvolution2dForwardOutputDim(conv, x, w, *map(ctypes.byref, dims)),
                    "cudnnGetConvolution2dForwardOutputDim", CudnnRefused)
        if tuple(d.value for d in dims) != p.y:
            raise CudnnRefused(f"cuDNN's output {tuple(d.value for d in dims)} is not the op's {p.y}")
        heuristic, workspace_query, _call = _CALLS[kind]
        perfs, returned = (_Perf * _MAX_ALGORITHMS)(), c_int()
        # The descriptor order of each query is cuDNN's: (x, w, conv, y), (w, dy, conv, dx), (x, dy, conv, dw).
        order = {"forward": (x, w, conv, y), "grad_input": (w, y, conv, x), "grad_filters": (x, y, conv, w)}[kind]
        self._check(getattr(lib, heuristic)(self.handle, *order, c_int(_MAX_ALGORITHMS), ctypes.byref(returned),
                                            perfs), heuristic, CudnnRefused)
        for perf in perfs[:returned.value]:
            if perf.status != _SUCCESS:
                continue
            size = ctypes.c_size_t()
            if getattr(lib, workspace_query)(self.handle, *order, c_int(perf.algo), ctypes.byref(size)) != _SUCCESS:
                continue
            if size.value <= WORKSPACE_LIMIT_BYTES:
                plan.algorithm, plan.workspace_bytes = perf.algo, size.value
                return plan
        raise CudnnRefused(f"no cuDNN algorithm for this {kind} convolution fits {WORKSPACE_LIMIT_BYTES} bytes "
                           "of workspace")

    def run(self, plan: CudnnPlan, x: int, w: int, y: int, workspace: int) -> None:
        """Run ``plan`` on the device addresses of the input ``x``, the filters ``w`` and the
        output ``y`` (for the gradients: ``x`` is the input gradient written by
        ``grad_input``, ``w`` the filter gradient written by ``grad_filters``, ``y`` the output
        gradient they read); the result is overwritten (beta 0)."""
        scalar = ctypes.c_float if plan.dtype == "float32" else ctypes.c_double
        one, zero, p = scalar(1.0), scalar(0.0), ctypes.c_void_p
        call = _CALLS[plan.kind][2]
        # cuDNN's argument order per call: two operands, then the result.
        (d1, a1), (d2, a2), (d3, a3) = {
            "forward": ((plan.x, x), (plan.w, w), (plan.y, y)),
            "grad_input": ((plan.w, w), (plan.y, y), (plan.x, x)),
            "grad_filters": ((plan.x, x), (plan.y, y), (plan.w, w)),
        }[plan.kind]
        self._check(getattr(self.lib, call)(self.handle, ctypes.byref(one), d1, p(a1), d2, p(a2), plan.conv,
                                            ctypes.c_int(plan.algorithm), p(workspace),
                                            ctypes.c_size_t(plan.workspace_bytes), ctypes.byref(zero), d3, p(a3)),
                    call)
