"""The CUDA driver through ``cuda.bindings.driver``: is there one, and the few calls the GPU runtime
makes (initialize, pick a device, load PTX, launch).

Without a usable driver nothing here raises at import: :func:`unavailable_reason` says what is
missing (cuda-python not installed, no driver library, no device), and :func:`require_driver`
raises :class:`CudaUnavailable` with that sentence. GPU tests skip with it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from tensorir.codegen.gpu.ptx import CHIPS
from tensorir.runtime.cuda.launch import DeviceLimits, LaunchConfig
from tensorir.runtime.cuda.parameters import ParameterBlock

__all__ = ["DRIVER_PTX", "CudaError", "CudaUnavailable", "Device", "GpuModule", "check_driver_reads",
           "chip_for_capability", "device_count", "driver_ptx", "require_driver", "unavailable_reason"]


class CudaUnavailable(RuntimeError):
    """No usable CUDA driver or device; the message says what is missing and what to do."""


class CudaError(RuntimeError):
    """A driver call failed; the message names the call and the driver's error."""


def _bindings() -> Any:  # noqa: ANN401 - the cuda.bindings.driver module
    try:
        from cuda.bindings import driver
    except ImportError:
        raise CudaUnavailable("cuda-python is not installed: pip install 'tensorir[gpu]'") from None
    return driver


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def check(result: tuple, call: str) -> Any:  # noqa: ANN401 - the call's values
    """The values of a ``cuda.bindings.driver`` call's ``(CUresult, *values)``; raises
    :class:`CudaError` naming ``call`` unless the result is ``CUDA_SUCCESS``."""
    driver = _bindings()
    status, *values = result if isinstance(result, tuple) else (result,)
    if status != driver.CUresult.CUDA_SUCCESS:
        _, name = driver.cuGetErrorName(status)
        _, text = driver.cuGetErrorString(status)
        raise CudaError(f"{call} failed: {_text(name)} ({_text(text)})")
    return values[0] if len(values) == 1 else tuple(values)


@functools.cache
def _initialized() -> Any:  # noqa: ANN401
    driver = _bindings()
    try:
        result = driver.cuInit(0)
    except RuntimeError as exc:  # cuda.pathfinder's DynamicLibNotFoundError: no libcuda.so
        raise CudaUnavailable(f"no NVIDIA driver: {exc}") from None
    try:
        check(result, "cuInit")
    except CudaError as exc:
        raise CudaUnavailable(f"the CUDA driver did not initialize: {exc}") from None
    if check(driver.cuDeviceGetCount(), "cuDeviceGetCount") == 0:
        raise CudaUnavailable("the CUDA driver found no device")
    return driver


def require_driver() -> Any:  # noqa: ANN401 - the cuda.bindings.driver module
    """``cuda.bindings.driver``, initialized; :class:`CudaUnavailable` says why there is none."""
    return _initialized()


def device_count() -> int:
    """How many CUDA devices the driver sees (raises :class:`CudaUnavailable` without a driver)."""
    return int(check(require_driver().cuDeviceGetCount(), "cuDeviceGetCount"))


def unavailable_reason() -> str | None:
    """Why there is no usable CUDA device (None when there is one): the GPU tests' skip reason."""
    try:
        require_driver()
    except CudaUnavailable as exc:
        return str(exc)
    return None


def chip_for_capability(major: int, minor: int) -> str:
    """The chip our PTX targets on a device of compute capability ``major.minor``: the newest
    chip we emit for that the device runs (the driver JIT-compiles PTX for newer devices)."""
    capability = major * 10 + minor
    eligible = [chip for chip in CHIPS if int(chip[3:]) <= capability]
    if not eligible:
        raise CudaUnavailable(f"a device of compute capability {major}.{minor}: tensorir needs sm_80 or newer")
    return max(eligible, key=lambda chip: int(chip[3:]))


#: The newest PTX ISA (times ten) a driver of each CUDA version (major, minor) JIT-compiles, from
#: NVIDIA's PTX ISA release notes. A driver reads PTX up to its own version, so code for a chip is
#: loadable where the chip's PTX version (``codegen/gpu/ptx.py``'s ``CHIPS``) is at most this.
DRIVER_PTX = {
    (11, 0): 70, (11, 1): 71, (11, 2): 72, (11, 3): 73, (11, 4): 74, (11, 5): 75, (11, 6): 76, (11, 7): 77,
    (11, 8): 78, (12, 0): 80, (12, 1): 81, (12, 2): 82, (12, 3): 83, (12, 4): 84, (12, 5): 85, (12, 6): 85,
    (12, 8): 87, (12, 9): 88, (13, 0): 90,
}


def driver_ptx(version: int) -> int:
    """The newest PTX ISA (times ten) of a driver whose ``cuDriverGetVersion`` is ``version``
    (``12040`` is CUDA 12.4); a driver newer than the table reads at least the table's newest."""
    major, minor = version // 1000, version % 1000 // 10
    known = [ptx for release, ptx in DRIVER_PTX.items() if release <= (major, minor)]
    if not known:
        raise CudaUnavailable(f"the NVIDIA driver supports CUDA {major}.{minor}: tensorir needs CUDA 11.0 or newer")
    return max(known)


def check_driver_reads(chip: str, version: int) -> None:
    """Raise :class:`CudaUnavailable` unless a driver of ``version`` JIT-compiles our PTX for ``chip``."""
    needed, readable = CHIPS[chip].ptx, driver_ptx(version)
    if needed > readable:
        raise CudaUnavailable(f"the NVIDIA driver (CUDA {version // 1000}.{version % 1000 // 10}) reads PTX up to "
                              f"{readable / 10:.1f}; code for {chip} is PTX {needed / 10:.1f}: update the driver")


@dataclass
class Device:
    """One CUDA device with its primary context made current on the calling thread."""

    ordinal: int
    handle: Any
    context: Any
    limits: DeviceLimits
    chip: str

    @classmethod
    def open(cls, ordinal: int = 0) -> Device:
        driver = require_driver()
        handle = check(driver.cuDeviceGet(ordinal), f"cuDeviceGet({ordinal})")
        context = check(driver.cuDevicePrimaryCtxRetain(handle), "cuDevicePrimaryCtxRetain")
        check(driver.cuCtxSetCurrent(context), "cuCtxSetCurrent")
        attribute = driver.CUdevice_attribute

        def get(name: str) -> int:
            return int(check(driver.cuDeviceGetAttribute(getattr(attribute, name), handle), name))

        limits = DeviceLimits(get("CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT"),
                              get("CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK"),
                              get("CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR"),
                              get("CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X"))
        chip = chip_for_capability(get("CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR"),
                                   get("CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR"))
        check_driver_reads(chip, int(check(driver.cuDriverGetVersion(), "cuDriverGetVersion")))
        return cls(ordinal, handle, context, limits, chip)

    def load(self, ptx: str) -> GpuModule:
        """Load PTX (the driver JIT-compiles it for this device)."""
        driver = require_driver()
        check(driver.cuCtxSetCurrent(self.context), "cuCtxSetCurrent")
        module = check(driver.cuModuleLoadData(ptx.encode() + b"\0"), "cuModuleLoadData")
        return GpuModule(module)

    def load_image(self, cubin: bytes) -> GpuModule:
        """Load a cubin made by ``ptxas`` for this device's chip."""
        driver = require_driver()
        check(driver.cuCtxSetCurrent(self.context), "cuCtxSetCurrent")
        return GpuModule(check(driver.cuModuleLoadData(cubin), "cuModuleLoadData(cubin)"))


@dataclass
class GpuModule:
    """A loaded module: its kernels by name, launched with a parameter block."""

    handle: Any

    def function(self, name: str) -> Any:  # noqa: ANN401 - a CUfunction
        return check(require_driver().cuModuleGetFunction(self.handle, name.encode()), f"cuModuleGetFunction({name})")

    @staticmethod
    def launch(function: Any, config: LaunchConfig, parameters: ParameterBlock, stream: Any = 0) -> None:  # noqa: ANN401
        """Launch ``function`` with ``parameters`` (their pointer array's address is passed as is)."""
        check(require_driver().cuLaunchKernel(function, *config.grid, *config.block, config.shared_bytes, stream,
                                              parameters.address, 0), "cuLaunchKernel")
