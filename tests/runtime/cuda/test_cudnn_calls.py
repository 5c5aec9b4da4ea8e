"""cuDNN's C calls as ``runtime/cuda/cudnn.py`` makes them, against a recording stand-in for the
library (no cuDNN here): the descriptors' parameters, the heuristic's descriptor order per
convolution kind, the algorithm chosen (the first cuDNN ranks that succeeds and fits the
workspace limit), each call's operands in cuDNN's order, and refusals with cuDNN's message. The
library itself runs on a device (``pytest -m gpu``)."""

from __future__ import annotations

import ctypes
import itertools
from typing import Any

import pytest

from tensorir.runtime.cuda.conv_gemm import ConvShape
from tensorir.runtime.cuda.cudnn import WORKSPACE_LIMIT_BYTES, Cudnn, CudnnRefused

_ATTRS = {"padding": (1, 0), "subsample": (2, 1), "filter_dilation": (1, 2), "filter_flip": False, "num_groups": 2}


def _value(arg: Any) -> Any:  # noqa: ANN401
    return getattr(arg, "value", arg)


class RecordingLibrary:
    """cuDNN's legacy API in Python: every call recorded with its plain arguments."""

    def __init__(self, perfs: list[tuple[int, int, int]], fail: str | None = None) -> None:
        self.calls: list[tuple[str, tuple]] = []
        self.perfs = perfs  # (algo, status, workspace bytes) in cuDNN's ranking
        self.fail = fail
        self._handles = itertools.count(100)
        self.output_dims: tuple[int, int, int, int] | None = None

    def __getattr__(self, name: str):  # noqa: ANN204
        if not name.startswith("cudnn"):
            raise AttributeError(name)

        def call(*args: Any) -> int:  # noqa: ANN401
            self.calls.append((name, tuple(_value(a) for a in args)))
            if name == self.fail:
                return 9  # CUDNN_STATUS_NOT_SUPPORTED
            if name.startswith("cudnnCreate"):
                args[0]._obj.value = next(self._handles)
            elif name == "cudnnGetConvolution2dForwardOutputDim":
                for ref, d in zip(args[3:], self.output_dims):
                    ref._obj.value = d
            elif name.endswith("Algorithm_v7"):
                returned, perfs = args[6], args[7]
                for slot, (algo, status, _) in zip(perfs, self.perfs):
                    slot.algo, slot.status = algo, status
                returned._obj.value = len(self.perfs)
            elif name.endswith("WorkspaceSize"):
                algo = args[5].value
                args[6]._obj.value = next(w for a, _, w in self.perfs if a == algo)
            return 0

        if name == "cudnnGetErrorString":
            return type("ErrorString", (), {"restype": None, "__call__": staticmethod(
                lambda status: b"CUDNN_STATUS_NOT_SUPPORTED")})()
        return call

    def named(self, name: str) -> list[tuple]:
        return [args for n, args in self.calls if n == name]


def _cudnn(library: RecordingLibrary) -> Cudnn:
    cudnn = Cudnn.__new__(Cudnn)  # no library to load: the stand-in takes its place
    cudnn.lib, cudnn.handle = library, ctypes.c_void_p(7)
    return cudnn


@pytest.mark.parametrize(("kind", "order"), [("forward", "xwcy"), ("grad_input", "wycx"), ("grad_filters", "xycw")])
def test_plan_and_run_in_cudnns_order(kind: str, order: str) -> None:
    s = ConvShape.of((3, 4, 9, 11), (6, 2, 3, 3), _ATTRS)
    huge = WORKSPACE_LIMIT_BYTES + 1
    library = RecordingLibrary([(2, 9, 0), (1, 0, huge), (4, 0, 4096), (0, 0, 0)])
    library.output_dims = (s.N, s.F, s.OH, s.OW)
    plan = _cudnn(library).plan(kind, s, "float64")
    assert (plan.algorithm, plan.workspace_bytes) == (4, 4096)  # the first that succeeds and fits
    x, y = (args[0] for args in library.named("cudnnSetTensor4dDescriptor"))
    (w,) = (args[0] for args in library.named("cudnnSetFilter4dDescriptor"))
    (conv,) = (args[0] for args in library.named("cudnnSetConvolution2dDescriptor"))
    assert [args[1:] for args in library.named("cudnnSetTensor4dDescriptor")] == [
        (0, 1, 3, 4, 9, 11), (0, 1, 3, 6, s.OH, s.OW)]  # NCHW, DOUBLE
    assert library.named("cudnnSetFilter4dDescriptor")[0][1:] == (1, 0, 6, 2, 3, 3)
    assert library.named("cudnnSetConvolution2dDescriptor")[0][1:] == (1, 0, 2, 1, 1, 2, 1, 1)  # cross-correlation
    assert library.named("cudnnSetConvolutionGroupCount")[0][1:] == (2,)
    descriptors = {"x": x, "w": w, "c": conv, "y": y}
    (heuristic,) = [args for name, args in library.calls if name.endswith("Algorithm_v7")]
    assert heuristic[1:5] == tuple(descriptors[k] for k in order)
    _cudnn(library).run(plan, x=1000, w=2000, y=3000, workspace=4000)
    name, args = library.calls[-1]
    expected_call = {"forward": "cudnnConvolutionForward", "grad_input": "cudnnConvolutionBackwardData",
                     "grad_filters": "cudnnConvolutionBackwardFilter"}[kind]
    pointers = {"x": 1000, "w": 2000, "y": 3000}
    first, second, _, result = order
    assert name == expected_call
    assert (args[2], args[3], args[4], args[5]) == (descriptors[first], pointers[first], descriptors[second],
                                                      pointers[second])
    assert args[6] == conv and args[7] == 4 and args[8] == 4000 and args[9] == 4096
    assert (args[11], args[12]) == (descriptors[result], pointers[result])


def test_refusals_carry_cudnns_message() -> None:
    s = ConvShape.of((3, 4, 9, 11), (6, 2, 3, 3), _ATTRS)
    library = RecordingLibrary([(0, 0, 0)], fail="cudnnSetConvolutionGroupCount")
    library.output_dims = (s.N, s.F, s.OH, s.OW)
    with pytest.raises(CudnnRefused, match="cudnnSetConvolutionGroupCount failed: CUDNN_STATUS_NOT_SUPPORTED"):
        _cudnn(library).plan("forward", s, "float32")
    none_fit = RecordingLibrary([(1, 0, WORKSPACE_LIMIT_BYTES + 1), (2, 3, 0)])
    none_fit.output_dims = (s.N, s.F, s.OH, s.OW)
    with pytest.raises(CudnnRefused, match="no cuDNN algorithm"):
        _cudnn(none_fit).plan("grad_filters", s, "float32")
    wrong = RecordingLibrary([(0, 0, 0)])
    wrong.output_dims = (s.N, s.F, s.OH + 1, s.OW)
    with pytest.raises(CudnnRefused, match="is not the op's"):
        _cudnn(wrong).plan("forward", s, "float32")
