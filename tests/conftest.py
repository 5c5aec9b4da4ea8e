"""Shared test settings: hypothesis profiles sized for a 2-core CI machine."""

import os

from hypothesis import HealthCheck, settings

# Products are decided by the built-in rules, never by a table measured (timed) during the tests;
# the tests of runtime/product_table.py inject their own tables.
os.environ["TENSORIR_PRODUCT_TABLE"] = "off"
# Splits take the thread counts the tests ask for, whatever else the machine runs; the thread
# cap that follows the machine's load is tested on its own (tests/runtime/test_core_share.py).
os.environ["TENSORIR_DYNAMIC_THREADS"] = "0"

# CI runs the same examples every time (derandomize): a failure there reproduces; the
# "thorough" profile explores new ones (HYPOTHESIS_PROFILE=thorough).
settings.register_profile(
    "ci",
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("thorough", max_examples=300, deadline=None, derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
