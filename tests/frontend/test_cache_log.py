"""TENSORIR_LOG=cache: compile cache misses and new argument signatures, explained."""

import logging

import numpy as np
import pytest

import tensorir as tr
import tensorir.tensor as T
from tensorir.codegen.cpu.lower_bad_values import bad_values_kernel
from tensorir.frontend.config import ConfigError, load_config
from tensorir.runtime.compile_cache import CompileCache


def test_log_flag_values():
    assert load_config({"TENSORIR_LOG": "cache"}).log == "cache"
    with pytest.raises(ConfigError, match="unknown log topic"):
        load_config({"TENSORIR_FLAGS": "log=everything"})


def test_new_signature_names_the_argument(caplog):
    x = T.matrix("xs")
    with tr.change_flags(log="cache"), caplog.at_level(logging.INFO, logger="tensorir.cache"):
        f = tr.function([x], T.exp(x) * 2, name="twice")
        f(np.ones((2, 3)))
        f(np.ones((2, 3)))
        f(np.ones((5, 3)))
    messages = [r.getMessage() for r in caplog.records if "function twice" in r.getMessage()]
    assert len(messages) == 2, messages
    assert "first call" in messages[0]
    assert "xs: ('float64', (2, 3), 'C') -> ('float64', (5, 3), 'C')" in messages[1]


def test_cache_miss_names_the_differing_part(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="tensorir.cache"):
        CompileCache(tmp_path).get_lazy("tir_bad_values_f32", lambda: bad_values_kernel("f32"), opt_level=1)
        CompileCache(tmp_path).get_lazy("tir_bad_values_f32", lambda: bad_values_kernel("f32"), opt_level=2)
    messages = [r.getMessage() for r in caplog.records]
    assert "never compiled" in messages[0], messages
    assert "the opt level differs (O1 -> O2)" in messages[1], messages


def test_nothing_is_recorded_while_the_log_is_off(tmp_path):
    logging.getLogger("tensorir.cache").setLevel(logging.WARNING)
    try:
        CompileCache(tmp_path).get_lazy("tir_bad_values_f64", lambda: bad_values_kernel("f64"), opt_level=1)
    finally:
        logging.getLogger("tensorir.cache").setLevel(logging.NOTSET)
    assert not (tmp_path / "explain").exists()
