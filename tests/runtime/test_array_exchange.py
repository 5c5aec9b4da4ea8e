"""Zero-copy array exchange: inputs through DLPack / the array interface, outputs through DLPack.

Pointer equality is checked where the executor receives its arguments and hands out its
results (a spy around ``executor.run``), so a copy anywhere between the caller and the native
code would fail these tests. torch and jax are optional: their tests skip without them.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tensorir as tr
import tensorir.tensor as T
from tensorir.runtime.arguments import InputError, convert_argument
from tensorir.runtime.array_exchange import as_host_array, check_output_format


class _Spy:
    """Wraps an executor: records the data pointers of the arrays it is given and returns."""

    def __init__(self, executor):  # noqa: ANN001
        self.executor = executor
        self.fresh_results = getattr(executor, "fresh_results", None)
        self.arguments: list[int] = []
        self.results: list[int] = []

    def run(self, args):  # noqa: ANN001, ANN201
        self.arguments = [a.__array_interface__["data"][0] for a in args]
        out = self.executor.run(args)
        self.results = [r.__array_interface__["data"][0] for r in out]
        return out


def _spied(fn: tr.Function) -> _Spy:
    spy = _Spy(fn.executor)
    fn.executor = spy
    return spy


@pytest.fixture(params=["float32", "float64"])
def dtype(request: pytest.FixtureRequest) -> str:
    return request.param


def _function(dtype: str, **kwargs) -> tr.Function:  # noqa: ANN003
    x = T.matrix("x", dtype=dtype)
    return tr.function([x], T.exp(x) * 2 + 1, **kwargs)


def _expected(a: np.ndarray) -> np.ndarray:
    return np.exp(a) * 2 + 1


class _InterfaceOnly:
    """An object that offers its memory through ``__array_interface__`` alone."""

    def __init__(self, arr: np.ndarray) -> None:
        self._arr = arr
        self.__array_interface__ = arr.__array_interface__


def test_array_interface_input_is_not_copied(dtype: str) -> None:
    a = np.random.default_rng(0).standard_normal((5, 7)).astype(dtype)
    fn = _function(dtype)
    spy = _spied(fn)
    out = fn(_InterfaceOnly(a))
    np.testing.assert_allclose(out, _expected(a), rtol=1e-5)
    assert spy.arguments == [a.ctypes.data]


class _DLPackOnly:
    """An object that offers its memory through ``__dlpack__`` alone."""

    def __init__(self, arr: np.ndarray) -> None:
        self._arr = arr

    def __dlpack__(self, **kwargs):  # noqa: ANN003, ANN204
        return self._arr.__dlpack__(**kwargs)

    def __dlpack_device__(self) -> tuple[int, int]:
        return self._arr.__dlpack_device__()


def test_dlpack_only_input_keeps_the_pointer(dtype: str) -> None:
    a = np.arange(12, dtype=dtype).reshape(3, 4)
    converted = convert_argument(_DLPackOnly(a), T.matrix(dtype=dtype).ir_type, "x", 0, None)
    assert converted.ctypes.data == a.ctypes.data
    fn = _function(dtype)
    spy = _spied(fn)
    np.testing.assert_allclose(fn(_DLPackOnly(a)), _expected(a), rtol=1e-5)
    assert spy.arguments == [a.ctypes.data]


def test_torch_cpu_tensor_input_and_dlpack_output_share_memory(dtype: str) -> None:
    torch = pytest.importorskip("torch")
    t = torch.randn(6, 3, dtype=getattr(torch, dtype))
    fn = _function(dtype)
    spy = _spied(fn)
    out = fn(t)
    assert spy.arguments == [t.data_ptr()]
    np.testing.assert_allclose(out, _expected(t.numpy()), rtol=1e-5)
    # The default output (a NumPy array) is read by torch through __dlpack__ without a copy.
    assert torch.from_dlpack(out).data_ptr() == out.ctypes.data == spy.results[0]


def test_torch_strided_view_is_read_in_place(dtype: str) -> None:
    torch = pytest.importorskip("torch")
    base = torch.randn(8, 10, dtype=getattr(torch, dtype))
    view = base[:, ::2]  # non-contiguous: strides (10, 2)
    fn = _function(dtype)
    spy = _spied(fn)
    out = fn(view)
    assert spy.arguments == [view.data_ptr()]
    np.testing.assert_allclose(out, _expected(view.numpy()), rtol=1e-5)


def test_output_format_dlpack_hands_out_the_result_memory(dtype: str) -> None:
    torch = pytest.importorskip("torch")
    fn = _function(dtype, output_format="dlpack")
    spy = _spied(fn)
    a = np.random.default_rng(1).standard_normal((4, 4)).astype(dtype)
    capsule = fn(a)
    assert type(capsule).__name__ == "PyCapsule"
    received = torch.utils.dlpack.from_dlpack(capsule)
    assert received.data_ptr() == spy.results[0]
    np.testing.assert_allclose(received.numpy(), _expected(a), rtol=1e-5)


def test_output_format_dlpack_read_by_numpy(dtype: str) -> None:
    fn = _function(dtype, output_format="dlpack")
    spy = _spied(fn)
    a = np.ones((2, 3), dtype=dtype)

    class _Holder:  # np.from_dlpack wants an object with __dlpack__; hand it the capsule we got
        def __init__(self, capsule) -> None:  # noqa: ANN001
            self.capsule = capsule

        def __dlpack__(self, **kwargs):  # noqa: ANN003, ANN204
            return self.capsule

        def __dlpack_device__(self) -> tuple[int, int]:
            return (1, 0)

    received = np.from_dlpack(_Holder(fn(a)))
    assert received.ctypes.data == spy.results[0]
    np.testing.assert_allclose(received, _expected(a), rtol=1e-6)


def test_jax_cpu_array_input_is_not_copied(dtype: str) -> None:
    jax = pytest.importorskip("jax")
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)  # float64 arrays; restored for the other tests
    try:
        j = jax.device_put(np.random.default_rng(2).standard_normal((3, 5)).astype(dtype))
        assert j.dtype == dtype
        pointer = j.unsafe_buffer_pointer()
        fn = _function(dtype)
        spy = _spied(fn)
        out = fn(j)
    finally:
        jax.config.update("jax_enable_x64", previous)
    assert spy.arguments == [pointer]
    np.testing.assert_allclose(out, _expected(np.asarray(j)), rtol=1e-5)


def test_wrong_dtype_still_converts_with_a_copy() -> None:
    torch = pytest.importorskip("torch")
    t = torch.ones(2, 2, dtype=torch.float32)
    fn = _function("float64")
    out = fn(t)  # float32 -> float64 is a safe cast: converted, so a new buffer
    np.testing.assert_allclose(out, _expected(np.ones((2, 2))), rtol=1e-12)


def test_device_array_is_refused_naming_its_device() -> None:
    class _OnCuda:
        def __dlpack__(self, **kwargs):  # noqa: ANN003, ANN204
            raise AssertionError("must not be read")

        def __dlpack_device__(self) -> tuple[int, int]:
            return (2, 1)

    with pytest.raises(TypeError, match="CUDA device 1"):
        as_host_array(_OnCuda(), "input x")
    fn = _function("float64")
    with pytest.raises(InputError, match='input "x".*CUDA device 1'):
        fn(_OnCuda())


def test_unknown_output_format_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="'numpy'.*'dlpack'"):
        check_output_format("arrow")
    x = T.vector("x")
    with pytest.raises(ValueError, match="output_format='arrow'"):
        tr.function([x], x + 1, output_format="arrow")


@given(rows=st.integers(0, 12), cols=st.integers(1, 12), step=st.integers(1, 3),
       dtype=st.sampled_from(["float32", "float64"]))
def test_strided_dlpack_views_of_any_shape(rows: int, cols: int, step: int, dtype: str) -> None:
    base = np.random.default_rng(rows * 31 + cols).standard_normal((rows, cols * step)).astype(dtype)
    view = base[:, ::step]
    fn = _FUNCTIONS[dtype]
    spy = _spied(fn)
    try:
        out = fn(_DLPackOnly(view))
    finally:
        fn.executor = spy.executor
    np.testing.assert_allclose(out, _expected(view), rtol=1e-5)
    if view.size:
        assert spy.arguments == [view.__array_interface__["data"][0]]


_FUNCTIONS = {d: _function(d) for d in ("float32", "float64")}
