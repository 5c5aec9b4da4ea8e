"""Runtime tests compile into a private cache directory per module, never the user's cache."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="module")
def _private_cache(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN202
    mp = pytest.MonkeyPatch()
    mp.setenv("TENSORIR_COMPILEDIR", str(tmp_path_factory.mktemp("compiledir")))
    yield
    mp.undo()
