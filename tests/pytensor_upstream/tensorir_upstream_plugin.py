"""pytest plugin for PyTensor's own tests: tensorir's mode becomes PyTensor's default mode.

Loaded by ``run.py`` with ``-p tensorir_upstream_plugin``. Setting ``pytensor.config.mode`` to a
``Mode`` instance is what PyTensor's tests read through ``get_default_mode()``.
"""

from __future__ import annotations

import warnings


def pytest_configure(config: object) -> None:
    import pytensor

    import tensorir.pytensor as tp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tp.register()
    pytensor.config.mode = tp.mode()


def pytest_report_header(config: object) -> str:
    import pytensor

    return f"tensorir upstream run: pytensor {pytensor.__version__}, default mode {pytensor.config.mode!r}"
