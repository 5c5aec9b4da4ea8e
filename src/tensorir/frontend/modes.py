"""Compilation modes: which rewrites run and which executor runs the result.

``FAST_RUN``: all rewrites, native code. ``FAST_COMPILE``: few rewrites, quick native code.
``REFERENCE``: all rewrites, the NumPy reference executor (the test oracle).
``NONE``: no rewrites, reference executor (the graph exactly as built).
``DEBUG_MODE`` (``DebugMode``) and ``NanGuardMode``: FAST_RUN's plan with every step checked
(frontend/debug_modes.py).
"""

from __future__ import annotations

from typing import Any

from tensorir.frontend.config import MODES, config
from tensorir.frontend.debug_modes import DebugMode, NanGuardMode
from tensorir.frontend.mode_class import Mode

__all__ = ["PREDEFINED", "DebugMode", "Mode", "NanGuardMode", "get_mode"]


PREDEFINED: dict[str, Mode] = {
    "FAST_RUN": Mode("fast_run", "native", "FAST_RUN"),
    "FAST_COMPILE": Mode("fast_compile", "native", "FAST_COMPILE"),
    "REFERENCE": Mode("fast_run", "reference", "REFERENCE"),
    "NONE": Mode(None, "reference", "NONE"),
    "DEBUG_MODE": DebugMode(),
    "NanGuardMode": NanGuardMode(),
}
PREDEFINED["DebugMode"] = PREDEFINED["DEBUG_MODE"]


def get_mode(mode: Any) -> Mode:
    if mode is None:
        mode = config.mode
    if isinstance(mode, Mode):
        return mode
    if isinstance(mode, str) and mode in PREDEFINED:
        return PREDEFINED[mode]
    raise ValueError(f"unknown mode {mode!r}; use one of {', '.join(MODES)} or a Mode instance")
