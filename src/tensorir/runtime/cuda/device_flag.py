"""The ``device`` flag: ``cpu``, or an NVIDIA GPU as ``cuda`` (device 0), ``cuda0``, ``cuda1``, ...

``gpu`` and ``gpuN`` are Theano's spellings of the same. Parsing is pure; what a CUDA device
needs (cuda-python, a driver, a device of that number) is checked when a function or a shared
variable is first placed on it (:func:`require_device`), so setting the flag on a machine without
a GPU fails only where the GPU is used, with the driver layer's reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["DEVICE_DTYPES", "DeviceChoice", "normalize_device", "on_device", "parse_device", "require_device",
           "shared_on_device"]

_PATTERN = re.compile(r"^(cpu|cuda|gpu)(\d*)$")

#: Theano's rule for what lives in GPU memory: arrays of rank >= 1 of these dtypes. Scalars
#: (rank 0) and the other dtypes (bool, complex) stay on the host, and transfers move them.
DEVICE_DTYPES = frozenset({"float32", "float64", "int8", "int16", "int32", "int64"})


@dataclass(frozen=True)
class DeviceChoice:
    """Where functions run: ``kind`` is ``"cpu"`` or ``"cuda"``; ``ordinal`` the CUDA device's number."""

    kind: str
    ordinal: int = 0

    @property
    def is_cuda(self) -> bool:
        return self.kind == "cuda"

    def __str__(self) -> str:
        return "cpu" if self.kind == "cpu" else f"cuda{self.ordinal}"


def parse_device(text: object) -> DeviceChoice:
    """The :class:`DeviceChoice` a flag value names; ``ValueError`` saying what is allowed."""
    match = _PATTERN.match(str(text).strip().lower())
    if match is None or (match.group(1) == "cpu" and match.group(2)):
        raise ValueError(f"expected cpu, cuda, cudaN or gpu (N a device number), got {text!r}")
    if match.group(1) == "cpu":
        return DeviceChoice("cpu")
    return DeviceChoice("cuda", int(match.group(2) or 0))


def normalize_device(text: object) -> str:
    """The flag's stored spelling: ``cpu`` or ``cudaN`` (``cuda`` and ``gpu`` are ``cuda0``)."""
    return str(parse_device(text))


def on_device(dtype: str, ndim: int) -> bool:
    """Whether a value of this dtype and rank lives in GPU memory under ``device=cuda``."""
    return ndim >= 1 and dtype in DEVICE_DTYPES


def shared_on_device(choice: DeviceChoice, dtype: str, ndim: int) -> bool:
    """Whether a shared variable made now is stored in GPU memory (not while only preparing PTX
    without a GPU, ``runtime/cuda/prepare.py``: then it stays in host memory)."""
    from tensorir.runtime.cuda.prepare import prepare_directory

    return choice.is_cuda and on_device(dtype, ndim) and prepare_directory() is None


def require_device(choice: DeviceChoice) -> None:
    """Raise :class:`~tensorir.runtime.cuda.driver.CudaUnavailable` naming the flag and what is
    missing (cuda-python, the driver, the device) unless ``choice``'s device can be used."""
    from tensorir.runtime.cuda.driver import CudaUnavailable, device_count, require_driver
    from tensorir.runtime.cuda.prepare import prepare_directory

    if prepare_directory() is not None:
        return  # compiling for a GPU without one (runtime/cuda/prepare.py)
    try:
        require_driver()
        count = device_count()
    except CudaUnavailable as exc:
        raise CudaUnavailable(f"device={choice}: {exc}") from None
    if choice.ordinal >= count:
        raise CudaUnavailable(f"device={choice}: the CUDA driver sees {count} device(s), numbered from 0")
