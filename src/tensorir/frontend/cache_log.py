"""``TENSORIR_LOG=cache`` (``config.log = "cache"``): why a function compiles or specializes again.

Two things make a call slower than the one before it: a kernel that is not in the compile
cache (runtime/cache_log.py explains each miss: which part of its key differs from the kernels
compiled before under that name) and a new argument signature, which a function meets as new
shapes, dtypes or layouts (its kernels' variants and its one-call replay are per signature).
:class:`SignatureLog` logs each new signature of a function, naming the arguments whose
shape, dtype or layout differ from the closest signature seen before.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from tensorir.runtime.cache_log import CACHE_LOG

__all__ = ["SignatureLog", "enable_cache_log"]

_MAX_SIGNATURES = 64


def enable_cache_log() -> None:
    """Let the ``tensorir.cache`` logger's INFO records through, to stderr unless the program
    configured logging itself."""
    if CACHE_LOG.level == logging.NOTSET or CACHE_LOG.level > logging.INFO:
        CACHE_LOG.setLevel(logging.INFO)
    if not CACHE_LOG.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("tensorir.cache: %(message)s"))
        CACHE_LOG.addHandler(handler)


def _signature(arg: Any) -> tuple:  # noqa: ANN401
    if type(arg) is not np.ndarray:
        return (type(arg).__name__,)
    layout = "C" if arg.flags.c_contiguous else "F" if arg.flags.f_contiguous else f"strides {arg.strides}"
    return (str(arg.dtype), arg.shape, layout)


class SignatureLog:
    """An executor that logs each new argument signature of its function (module docstring)."""

    def __init__(self, inner: Any, name: str, input_names: Sequence[str]) -> None:  # noqa: ANN401
        self.inner = inner
        self.name = name
        self.input_names = list(input_names)
        self.kind = getattr(inner, "kind", "native")
        self.fresh_results = getattr(inner, "fresh_results", None)
        self.seen: list[tuple] = []

    def __getattr__(self, name: str) -> Any:  # noqa: ANN401 - the inner executor's other attributes
        return getattr(self.__dict__["inner"], name)

    def run(self, args: Sequence[np.ndarray]) -> list[np.ndarray]:
        signature = tuple(_signature(a) for a in args)
        if signature not in self.seen and len(self.seen) < _MAX_SIGNATURES:
            self._log(signature)
            self.seen.append(signature)
        return self.inner.run(args)

    def _label(self, k: int) -> str:
        return self.input_names[k] if k < len(self.input_names) else f"shared value #{k - len(self.input_names)}"

    def _log(self, signature: tuple) -> None:
        if not self.seen:
            CACHE_LOG.info("function %s: first call, argument signature %s", self.name,
                           ", ".join(f"{self._label(k)}: {s}" for k, s in enumerate(signature)))
            return
        closest = min(self.seen, key=lambda s: sum(a != b for a, b in zip(s, signature)))
        changes = "; ".join(f"{self._label(k)}: {old} -> {new}"
                            for k, (old, new) in enumerate(zip(closest, signature)) if old != new)
        CACHE_LOG.info("function %s: new argument signature (specializes its kernels and replay again): %s",
                       self.name, changes)
