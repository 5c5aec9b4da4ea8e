"""Reliability tests compile into a private cache directory per module, never the user's cache."""

from __future__ import annotations

import pytest
from tests.helpers import private_compile_cache

_private_cache = pytest.fixture(autouse=True, scope="module")(private_compile_cache)
