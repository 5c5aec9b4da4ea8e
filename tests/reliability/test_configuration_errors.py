"""Configuration and argument errors name the file, flag, variable or argument, and what is allowed."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import tensorir as tr
import tensorir.tensor as T
from tensorir.frontend.config import ConfigError, change_flags, config, load_config
from tensorir.frontend.variable import GraphError


def _rc(tmp_path, content: bytes) -> dict[str, str]:  # noqa: ANN001
    path = tmp_path / "tensorirrc"
    path.write_bytes(content)
    return {"TENSORIRRC": str(path)}


def test_percent_in_a_config_value_is_just_a_character(tmp_path) -> None:  # noqa: ANN001
    env = _rc(tmp_path, b"[global]\ncompiledir = /tmp/cache%user\nfloatX = float32\n")
    loaded = load_config(env)
    assert loaded.compiledir == "/tmp/cache%user"
    assert loaded.floatX == "float32"


def test_non_utf8_config_file_names_the_file(tmp_path) -> None:  # noqa: ANN001
    env = _rc(tmp_path, b"[global]\nfloatX = float32 \xff\xfe\n")
    with pytest.raises(ConfigError, match=r"tensorirrc.*UTF-8"):
        load_config(env)


def test_malformed_config_file_names_the_file_and_the_format(tmp_path) -> None:  # noqa: ANN001
    env = _rc(tmp_path, b"floatX = float32\n")
    with pytest.raises(ConfigError, match=r"tensorirrc.*\[global\]"):
        load_config(env)


def test_unknown_flag_in_a_config_file_is_named(tmp_path) -> None:  # noqa: ANN001
    env = _rc(tmp_path, b"[global]\nflaotX = float32\n")
    with pytest.raises(ConfigError, match=r"tensorirrc.*'flaotX'.*floatX"):
        load_config(env)


def test_unknown_flag_in_the_environment_is_named() -> None:
    with pytest.raises(ConfigError, match=r"TENSORIR_FLAGS.*'optimiser'"):
        load_config({"TENSORIR_FLAGS": "optimiser=fast_run", "TENSORIRRC": "/nonexistent"})


@pytest.mark.parametrize("value", ["0", "abc", "-2", "1.5"])
def test_bad_thread_variable_is_named_with_what_is_allowed(value: str) -> None:
    with pytest.raises(ConfigError, match=r"TENSORIR_NUM_THREADS=.*positive integer"):
        load_config({"TENSORIR_NUM_THREADS": value, "TENSORIRRC": "/nonexistent"})


@pytest.mark.parametrize(("variable", "value", "allowed"), [
    ("TENSORIR_DYNAMIC_THREADS", "sometimes", "0/false/off"),
    ("TENSORIR_VECTOR_BITS", "1024", "must be one of 256"),
    ("TENSORIR_VECTOR_BITS", "wide", "must be one of 256"),
])
def test_bad_runtime_variables_are_named_with_what_is_allowed(variable: str, value: str, allowed: str) -> None:
    with pytest.raises(ConfigError, match=rf"{variable}='{value}'.*{allowed}"):
        load_config({variable: value, "TENSORIRRC": "/nonexistent"})


@pytest.mark.parametrize("value", ["-1", "abc", "2.5"])
def test_bad_threads_flag_is_named_with_what_is_allowed(value: str) -> None:
    with pytest.raises(ConfigError, match=r"TENSORIR_FLAGS: flag threads.*0 \(all cores\) or a positive integer"):
        load_config({"TENSORIR_FLAGS": f"threads={value}", "TENSORIRRC": "/nonexistent"})
    with pytest.raises(ConfigError, match=r"flag threads"):
        config.threads = value
    assert load_config({"TENSORIR_FLAGS": "threads=2", "TENSORIRRC": "/nonexistent"}).threads == 2


def test_thread_variable_set_after_import_is_checked_at_compile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENSORIR_NUM_THREADS", "0")
    x = T.vector("x")
    with change_flags(threads=0), pytest.raises(ValueError, match=r"TENSORIR_NUM_THREADS='0'.*positive integer"):
        tr.function([x], x + 1, mode="FAST_RUN")


@pytest.mark.parametrize("content", [b"[global]\ncompiledir = a%b\n", b"[global]\nfloatX = \xe9\n"])
def test_import_survives_or_names_the_file(tmp_path, content: bytes) -> None:  # noqa: ANN001
    """``import tensorir`` with a bad config file: no raw configparser or UnicodeDecodeError."""
    rc = tmp_path / "rc"
    rc.write_bytes(content)
    env = {"TENSORIRRC": str(rc), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", "import tensorir"], env=env, capture_output=True, text=True,
                          timeout=300)
    if done.returncode:
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith("tensorir.frontend.config.ConfigError") and str(rc) in last, done.stderr
        assert "UTF-8" in last
    else:
        assert b"%" in content


def test_negative_n_steps_says_it_must_be_non_negative() -> None:
    x0 = T.scalar("x0")
    with pytest.raises(GraphError, match=r"n_steps must be >= 0, got -2"):
        tr.scan(lambda h: h * 2, outputs_info=[x0], n_steps=-2)


@pytest.mark.parametrize("mode", ["FAST_RUN", "NONE"])
def test_negative_symbolic_n_steps_says_it_must_be_non_negative(mode: str) -> None:
    x0, n = T.scalar("x0"), T.iscalar("n")
    out, _ = tr.scan(lambda h: h * 2, outputs_info=[x0], n_steps=n)
    f = tr.function([x0, n], out, mode=mode)
    assert f(1.0, 3).tolist() == [2.0, 4.0, 8.0]
    with pytest.raises(ValueError, match=r"n_steps must be >= 0, got -2"):
        f(1.0, -2)
    assert f(1.0, 0).shape == (0,)


def test_grad_of_an_integer_cost_says_it_must_be_a_float() -> None:
    x = T.vector("x")
    with pytest.raises(TypeError, match=r"cost must be a float, got dtype int64"):
        tr.grad(T.cast(x, "int64").sum(), x)
    g = tr.grad(T.cast(T.cast(x, "int64").sum(), "float64"), x, disconnected_inputs="ignore")
    assert tr.function([x], g)(np.ones(2)).tolist() == [0.0, 0.0]
