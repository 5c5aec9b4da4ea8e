"""The compatibility layer installed for a test, then removed with every flag it changed restored."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import tensorir.theano_compat as compat
from tensorir.frontend.config import config as tensorir_config


@pytest.fixture
def theano() -> Iterator[Any]:
    saved = dict(tensorir_config._values)
    saved_compat = dict(compat.config._values)
    compat.install(read_flags=False)
    import theano as module

    try:
        yield module
    finally:
        compat.uninstall()
        tensorir_config._values.clear()
        tensorir_config._values.update(saved)
        compat.config._values.clear()
        compat.config._values.update(saved_compat)
