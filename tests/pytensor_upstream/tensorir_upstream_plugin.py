"""pytest plugin for PyTensor's own tests: tensorir's mode becomes PyTensor's default mode.

Loaded by ``run.py`` with ``-p tensorir_upstream_plugin``. Setting ``pytensor.config.mode`` to a
``Mode`` instance is what PyTensor's tests read through ``get_default_mode()``. At the end it
reports how many graphs tensorir compiled and which ops fell back to PyTensor, and why.
"""

from __future__ import annotations

import collections
import warnings
from typing import Any

_GRAPHS = collections.Counter()
_FALLBACKS: collections.Counter[tuple[str, str]] = collections.Counter()


def pytest_configure(config: Any) -> None:
    import pytensor

    import tensorir.pytensor as tp
    from tensorir.pytensor.linker import TensorirLinker

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tp.register()
    pytensor.config.mode = tp.mode()
    convert = TensorirLinker.fgraph_convert

    def counting(self: TensorirLinker, *args: Any, **kwargs: Any) -> Any:
        runner = convert(self, *args, **kwargs)
        _GRAPHS["with fallbacks" if self.fallbacks else "whole in tensorir"] += 1
        for fallback in self.fallbacks:
            _FALLBACKS[(fallback.op, fallback.reason)] += 1
        return runner

    TensorirLinker.fgraph_convert = counting


def pytest_report_header(config: Any) -> str:
    import pytensor

    return f"tensorir upstream run: pytensor {pytensor.__version__}, default mode {pytensor.config.mode!r}"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    write = terminalreporter.write_line
    write(f"tensorir: graphs compiled whole in tensorir: {_GRAPHS['whole in tensorir']}, "
          f"with some nodes left to PyTensor: {_GRAPHS['with fallbacks']}")
    for (op, reason), count in _FALLBACKS.most_common():
        write(f"tensorir fallback: {count:4d} x {op}: {reason}")
