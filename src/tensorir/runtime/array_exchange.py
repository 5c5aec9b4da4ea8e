"""Arrays in and out without copies: the DLPack protocol and NumPy's array interface.

Inputs: any object with ``__dlpack__`` (PyTorch and JAX CPU arrays, CuPy, NumPy itself) or
``__array_interface__`` becomes a NumPy array over the same memory (``numpy.from_dlpack`` /
``numpy.asarray``); a copy happens only later, when the input's dtype must be converted.
Device memory cannot be read by the CPU executor: such an input is refused with its device named
(the GPU executor will take it without a copy when it exists).

Outputs: NumPy arrays already implement ``__dlpack__``, so ``torch.from_dlpack(f(x))`` shares
memory with the default format. ``output_format="dlpack"`` hands out DLPack capsules instead,
for consumers that take a capsule (``torch.utils.dlpack.from_dlpack``, C extensions).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["OUTPUT_FORMATS", "as_host_array", "check_output_format", "export_outputs", "exports_array"]

#: The forms a function may return its outputs in: name -> what the caller gets.
OUTPUT_FORMATS: dict[str, str] = {
    "numpy": "numpy.ndarray (which itself implements __dlpack__ and the array interface)",
    "dlpack": "a DLPack capsule per output (PyCapsule named 'dltensor'), read once by its consumer",
}

# DLPack's device type codes (dlpack.h, DLDeviceType) that the host can read directly.
_HOST_DEVICES = {1: "CPU", 3: "CUDA host (pinned)"}
_DEVICE_NAMES = {1: "CPU", 2: "CUDA", 3: "CUDA host", 4: "OpenCL", 7: "Vulkan", 8: "Metal", 9: "VPI", 10: "ROCm",
                 13: "CUDA managed", 14: "oneAPI"}


def exports_array(value: Any) -> bool:
    """Whether ``value`` offers its memory through DLPack or the array interface."""
    kind = type(value)
    return hasattr(kind, "__dlpack__") or hasattr(kind, "__array_interface__") or hasattr(value, "__array_interface__")


def as_host_array(value: Any, where: str) -> np.ndarray:
    """``value`` as a NumPy array over the same memory (no copy); ``where`` names the input in errors.

    DLPack first (it carries the device): a device array is refused with its device named.
    """
    if isinstance(value, np.ndarray):
        return value
    kind = type(value)
    if hasattr(kind, "__dlpack__"):
        device = _dlpack_device(value)
        if device is not None and device[0] not in _HOST_DEVICES:
            name = _DEVICE_NAMES.get(device[0], f"device type {device[0]}")
            raise TypeError(
                f"{where}: the array lives on {name} device {device[1]}; this function runs on the CPU. "
                "Move it to host memory first (e.g. tensor.cpu()) or compile for that device."
            )
        try:
            return np.from_dlpack(value)
        except (BufferError, TypeError, RuntimeError) as exc:
            if not hasattr(kind, "__array_interface__") and not hasattr(kind, "__array__"):
                raise TypeError(f"{where}: cannot read {kind.__name__} through DLPack: {exc}") from None
            # e.g. a tensor that requires grad, or a dtype DLPack cannot describe: NumPy's own rules
    return np.asarray(value)


def _dlpack_device(value: Any) -> tuple[int, int] | None:
    method = getattr(value, "__dlpack_device__", None)
    if method is None:
        return None
    try:
        device_type, device_id = method()
    except Exception:  # noqa: BLE001 - a producer that cannot say: let from_dlpack decide
        return None
    return int(device_type), int(device_id)


def check_output_format(output_format: str) -> str:
    """``output_format`` when it is a known one, else a ValueError listing them."""
    if output_format not in OUTPUT_FORMATS:
        known = "; ".join(f"{k!r}: {v}" for k, v in OUTPUT_FORMATS.items())
        raise ValueError(f"output_format={output_format!r} is not known; use one of {known}")
    return output_format


def export_outputs(outputs: Sequence[np.ndarray], output_format: str) -> list[Any]:
    """``outputs`` in ``output_format`` (see :data:`OUTPUT_FORMATS`), sharing their memory."""
    if output_format == "numpy":
        return list(outputs)
    # Zero-dimensional results are NumPy scalars in places; DLPack needs an array.
    return [np.asarray(o).__dlpack__() for o in outputs]
