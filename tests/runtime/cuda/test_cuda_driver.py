"""The CUDA driver layer. Without a driver: a clear reason (the GPU tests' skip message). With one
(``pytest -m gpu``): a device opens, PTX loads and a kernel computes what NumPy does. Nothing in
the ``gpu`` tests has run on a GPU yet."""

from __future__ import annotations

import numpy as np
import pytest

from tensorir.codegen.cpu.lower_elementwise import ElementwiseBody
from tensorir.codegen.gpu.kernel_builder import gpu_module
from tensorir.codegen.gpu.lower_elementwise import flat_kernel
from tensorir.runtime.cuda.driver import (
    CudaUnavailable,
    check_driver_reads,
    chip_for_capability,
    driver_ptx,
    unavailable_reason,
)
from tensorir.runtime.cuda.launch import elementwise_launch
from tensorir.runtime.cuda.parameters import ParameterBlock
from tensorir.runtime.cuda.prepare import module_ptx, prepare_directory

REASON = unavailable_reason()


def test_no_driver_is_a_sentence_not_a_crash() -> None:
    if REASON is None:
        pytest.skip("a CUDA device is present")
    assert REASON.startswith(("no NVIDIA driver", "cuda-python is not installed", "the CUDA driver"))


def test_chip_for_capability() -> None:
    assert chip_for_capability(8, 0) == "sm_80"
    assert chip_for_capability(8, 6) == "sm_86"
    assert chip_for_capability(9, 0) == "sm_90"
    assert chip_for_capability(10, 0) == "sm_90"  # newer devices JIT the newest PTX we write
    with pytest.raises(CudaUnavailable, match="sm_80 or newer"):
        chip_for_capability(7, 5)


def test_the_drivers_ptx_version() -> None:
    assert driver_ptx(12040) == 84 and driver_ptx(12060) == 85 and driver_ptx(13000) == 90
    assert driver_ptx(12070) == 85  # no CUDA 12.7: the newest release at or before it
    assert driver_ptx(14020) == 90  # newer than the table: at least its newest
    with pytest.raises(CudaUnavailable, match="CUDA 10.2"):
        driver_ptx(10020)
    check_driver_reads("sm_80", 11080)
    check_driver_reads("sm_90", 12000)
    with pytest.raises(CudaUnavailable, match="reads PTX up to 7.8; code for sm_90 is PTX 8.0: update the driver"):
        check_driver_reads("sm_90", 11080)


@pytest.fixture(scope="module")
def device():  # noqa: ANN201 - a tensorir.runtime.cuda.driver.Device
    if REASON is not None:
        pytest.skip(REASON)
    from tensorir.runtime.cuda.driver import Device

    return Device.open(0)


def _flat_module() -> str:
    body = ElementwiseBody(["float32", "float32"], ["float32"],
                           [("tir.exp", {}, (0,), "float32"), ("tir.mul", {}, (2, 1), "float32")], [3])
    return gpu_module([flat_kernel("k", body, [False, True])])


@pytest.mark.gpu
@pytest.mark.skipif(prepare_directory() is None, reason="only when preparing PTX for a device run")
def test_prepare_the_flat_kernel() -> None:
    """Under ``TENSORIR_CUDA_PREPARE``: the next test's PTX goes into the bundle a device reads."""
    assert ".visible .entry k(" in module_ptx(_flat_module(), "sm_90", None)


@pytest.mark.gpu
def test_a_flat_kernel_runs(device) -> None:  # noqa: ANN001
    from tensorir.runtime.cuda.driver import GpuModule, check, require_driver

    driver = require_driver()
    # Through the PTX bundle where there is one (a device run has no MLIR bindings).
    module = device.load(module_ptx(_flat_module(), device.chip, None))
    x = np.linspace(-3, 3, 1000, dtype=np.float32)
    y = np.float32(0.5)
    buffers = [check(driver.cuMemAlloc(size), "cuMemAlloc") for size in (x.nbytes, 4, x.nbytes)]
    try:
        check(driver.cuMemcpyHtoD(buffers[0], x.ctypes.data, x.nbytes), "cuMemcpyHtoD")
        check(driver.cuMemcpyHtoD(buffers[1], np.array([y]).ctypes.data, 4), "cuMemcpyHtoD")
        params = ParameterBlock(4)
        params.set([int(buffers[0]), int(buffers[1]), int(buffers[2]), x.size])
        GpuModule.launch(module.function("k"), elementwise_launch(x.size, device.limits), params)
        check(driver.cuCtxSynchronize(), "cuCtxSynchronize")
        out = np.empty_like(x)
        check(driver.cuMemcpyDtoH(out.ctypes.data, buffers[2], out.nbytes), "cuMemcpyDtoH")
    finally:
        for buffer in buffers:
            driver.cuMemFree(buffer)
    np.testing.assert_allclose(out, np.exp(x) * y, rtol=2e-6)
