"""``theano.config``: Theano's defaults, THEANO_FLAGS and .theanorc, and modes from linker/optimizer."""

from __future__ import annotations

import pytest

from tensorir.frontend.config import ConfigError
from tensorir.frontend.config import config as tensorir_config
from tensorir.frontend.modes import Mode as TensorirMode
from tensorir.theano_compat.compile import Mode, mode_name_for
from tensorir.theano_compat.config import load_theano_flags, parse_flags


def test_theano_defaults(theano):
    cfg = theano.config
    assert cfg.mode == "Mode" and cfg.linker == "cvm" and cfg.optimizer == "fast_run"
    assert cfg.compute_test_value == "off" and cfg.exception_verbosity == "low"
    assert cfg.warn.ignore_bug_before == "0.9" and cfg.warn.round is True


def test_shared_flags_write_through(theano):
    theano.config.floatX = "float32"
    assert tensorir_config.floatX == "float32"
    import theano.tensor as T

    assert T.matrix().dtype == "float32"


def test_theano_flags_and_theanorc(theano, tmp_path):
    rc = tmp_path / "theanorc"
    rc.write_text("[global]\nfloatX = float32\noptimizer = fast_compile\n[warn]\nround = False\n")
    env = {"THEANORC": str(rc), "THEANO_FLAGS": "exception_verbosity=high,compute_test_value=warn"}
    load_theano_flags(theano.config, env)
    assert theano.config.floatX == "float32" and tensorir_config.floatX == "float32"
    assert theano.config.warn.round is False
    assert theano.config.exception_verbosity == "high" and theano.config.compute_test_value == "warn"
    # mode 'Mode' follows linker and optimizer: fast_compile -> tensorir's FAST_COMPILE
    assert tensorir_config.mode == "FAST_COMPILE"


def test_flags_override_the_file_and_unknown_backend_flags_warn(theano, tmp_path):
    rc = tmp_path / "theanorc"
    rc.write_text("[global]\nfloatX = float32\n")
    with pytest.warns(UserWarning, match="gpuarray.preallocate"):
        load_theano_flags(theano.config, {"THEANORC": str(rc),
                                          "THEANO_FLAGS": "floatX=float64,gpuarray.preallocate=0.9"})
    assert theano.config.floatX == "float64"


def test_bad_values_are_reported_with_their_source(theano):
    with pytest.raises(ConfigError, match="THEANO_FLAGS"):
        load_theano_flags(theano.config, {"THEANORC": "/nonexistent", "THEANO_FLAGS": "floatX=float8"})
    with pytest.raises(ConfigError, match="key=value"):
        parse_flags("floatX")


@pytest.mark.parametrize(
    "linker, optimizer, executor, level",
    [
        ("cvm", "fast_run", "native", "fast_run"),
        ("vm", "fast_compile", "native", "fast_compile"),
        ("c", "o4", "native", "fast_run"),
        ("py", "fast_run", "reference", "fast_run"),
        ("py", "None", "reference", None),
        (None, "default", "native", "fast_run"),
    ],
)
def test_mode_from_linker_and_optimizer(linker, optimizer, executor, level):
    mode = Mode(linker=linker, optimizer=optimizer)
    assert isinstance(mode, TensorirMode)
    assert (mode.linker, mode.optimizer) == (executor, level)


def test_mode_names_and_unknown_linkers():
    assert mode_name_for("cvm", "fast_run") == "FAST_RUN"
    assert mode_name_for("vm", "fast_compile") == "FAST_COMPILE"
    assert mode_name_for("py", "None") == "NONE"
    assert mode_name_for("cvm", "None") == "NONE"  # no native mode without rewrites: the level wins
    assert mode_name_for("py", "fast_compile") == "FAST_COMPILE"
    with pytest.raises(ValueError, match="linker 'nope'"):
        Mode(linker="nope")


def test_config_mode_names(theano):
    theano.config.mode = "FAST_COMPILE"
    assert tensorir_config.mode == "FAST_COMPILE"
    theano.config.mode = "DebugMode"
    assert tensorir_config.mode == "DEBUG_MODE"
    with pytest.raises(ConfigError, match="unknown mode"):
        theano.config.mode = "ProfileMode"


def test_compute_test_value_through_theano_config(theano):
    import numpy as np

    theano.config.compute_test_value = "raise"
    x = theano.tensor.dvector("x")
    x.tag.test_value = np.arange(3.0)
    assert np.allclose((x * 2).tag.test_value, [0, 2, 4])
