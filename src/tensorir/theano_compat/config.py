"""``theano.config``: Theano's flags with Theano's defaults, over tensorir's own config.

Flags that tensorir has (``floatX``, ``mode``, ``device``...) read and write ``tensorir.config``
itself, so ``theano.config.floatX = 'float32'`` changes what tensorir builds. Theano-only flags
(``warn.*``, ``compute_test_value``, ``linker``, ``optimizer``...) are kept here: programs read
and set them, and the few that change behaviour (``optimizer``, ``linker``) are mapped onto
tensorir's modes when ``mode`` is the plain ``'Mode'``.

``THEANO_FLAGS`` and ``~/.theanorc`` (or the files in ``THEANORC``) are read when the layer is
installed, as Theano read them on import: the file first, then the environment variable.
"""

from __future__ import annotations

import configparser
import os
import warnings
from collections.abc import Mapping
from typing import Any

from tensorir.frontend.config import ConfigError
from tensorir.frontend.config import config as tensorir_config

# Theano flag -> tensorir flag of the same meaning (values pass through, checked by tensorir).
SHARED_FLAGS: dict[str, str] = {
    "floatX": "floatX",
    "device": "device",
    "on_unused_input": "on_unused_input",
    "int_division": "int_division",
    "exception_verbosity": "exception_verbosity",
    "compute_test_value": "compute_test_value",
    "optimizer_verbose": "optimizer_verbose",
    "base_compiledir": "compiledir",
    "compiledir": "compiledir",
}

# Theano's mode names -> tensorir's. 'Mode' means: build it from ``linker`` and ``optimizer``.
MODE_NAMES: dict[str, str] = {
    "FAST_RUN": "FAST_RUN",
    "FAST_COMPILE": "FAST_COMPILE",
    "DebugMode": "DEBUG_MODE",
    "DEBUG_MODE": "DEBUG_MODE",
    "NanGuardMode": "NanGuardMode",
    "Mode": "Mode",
}

# Theano-only flags and their Theano 1.0 defaults.
THEANO_DEFAULTS: dict[str, Any] = {
    "mode": "Mode",
    "linker": "cvm",
    "optimizer": "fast_run",
    "optimizer_including": "",
    "optimizer_excluding": "",
    "optimizer_requiring": "",
    "on_opt_error": "warn",
    "on_shape_error": "warn",
    "compute_test_value_opt": "off",
    "print_test_value": False,
    "warn_float64": "ignore",
    "cast_policy": "custom",
    "allow_gc": True,
    "openmp": False,
    "cxx": "",
    "profile": False,
    "profile_memory": False,
    "traceback.limit": 8,
    "deterministic": "default",
    "nocleanup": False,
    "warn.ignore_bug_before": "0.9",
    "warn.round": True,
    "warn.sum_div_dimshuffle_bug": True,
    "warn.subtensor_merge_bug": True,
    "warn.gpu_set_subtensor1": True,
    "warn.vm_gc_bug": False,
    "warn.signal_conv2d_interface": True,
    "warn.reduce_join": True,
    "warn.inc_set_subtensor1": True,
    "warn.argmax_pushdown_bug": True,
    "warn.identify_1pexp_bug": True,
    "scan.allow_gc": False,
    "scan.allow_output_prealloc": True,
    "vm.lazy": None,
    "NanGuardMode.nan_is_error": True,
    "NanGuardMode.inf_is_error": True,
    "NanGuardMode.big_is_error": True,
    "NanGuardMode.action": "raise",
}

_BOOL_WORDS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}


def _convert(default: Any, text: Any) -> Any:
    """A flag value read from text, with the type of the flag's default."""
    if not isinstance(text, str) or isinstance(default, str):
        return text
    if isinstance(default, bool):
        word = text.strip().lower()
        if word not in _BOOL_WORDS:
            raise ConfigError(f"expected a boolean, got {text!r}")
        return _BOOL_WORDS[word]
    if isinstance(default, int):
        return int(text)
    return text


class _Section:
    """``theano.config.warn`` and the other dotted groups, as attribute namespaces."""

    def __init__(self, owner: TheanoConfig, prefix: str) -> None:
        object.__setattr__(self, "_owner", owner)
        object.__setattr__(self, "_prefix", prefix)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._owner, f"{self._prefix}.{name}")

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._owner, f"{self._prefix}.{name}", value)


class TheanoConfig:
    """Theano's ``config`` object: tensorir's flags under Theano's names, plus Theano's own."""

    def __init__(self) -> None:
        object.__setattr__(self, "_values", dict(THEANO_DEFAULTS))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if name in SHARED_FLAGS:
            return getattr(tensorir_config, SHARED_FLAGS[name])
        values = object.__getattribute__(self, "_values")
        if name in values:
            return values[name]
        if any(key.startswith(name + ".") for key in values):
            return _Section(self, name)
        raise AttributeError(
            f"theano.config has no flag {name!r} in tensorir's compatibility layer; "
            f"known: {', '.join(sorted({*SHARED_FLAGS, *values}))}"
        )

    def __setattr__(self, name: str, value: Any) -> None:
        if name in SHARED_FLAGS:
            setattr(tensorir_config, SHARED_FLAGS[name], value)
            return
        if name == "mode":
            self._set_mode(value)
            return
        if name not in self._values:
            raise ConfigError(f"theano.config: unknown flag {name!r}")
        self._values[name] = _convert(THEANO_DEFAULTS[name], value)
        if name in ("linker", "optimizer") and self._values["mode"] == "Mode":
            self._set_mode("Mode")

    def _set_mode(self, value: Any) -> None:
        name = MODE_NAMES.get(str(value))
        if name is None:
            raise ConfigError(f"theano.config.mode: unknown mode {value!r}; use one of {', '.join(MODE_NAMES)}")
        self._values["mode"] = str(value)
        if name == "Mode":
            from tensorir.theano_compat.compile import mode_name_for

            name = mode_name_for(self._values["linker"], self._values["optimizer"])
        tensorir_config.mode = name

    def update(self, flags: Mapping[str, Any], source: str) -> None:
        """Set several flags (``mode`` last, since it reads ``linker`` and ``optimizer``)."""
        for key in sorted(flags, key=lambda k: k == "mode"):
            if key not in SHARED_FLAGS and key != "mode" and key not in self._values:
                # Theano had many flags for backends tensorir does not have (gpuarray.*, dnn.*);
                # a program's environment may set them, so they are ignored, but said so.
                warnings.warn(f"{source}: Theano flag {key!r} has no meaning in tensorir; ignored", stacklevel=3)
                continue
            try:
                setattr(self, key, flags[key])
            except (ConfigError, ValueError) as exc:
                raise ConfigError(f"{source}: {exc}") from None


def parse_flags(text: str) -> dict[str, str]:
    """``THEANO_FLAGS``: comma-separated ``key=value`` pairs, dotted keys for sections."""
    flags: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        if "=" not in item:
            raise ConfigError(f"THEANO_FLAGS: expected key=value, got {item!r}")
        key, value = (s.strip() for s in item.split("=", 1))
        flags[key] = value
    return flags


def read_theanorc(paths: list[str]) -> dict[str, str]:
    """Flags of ``.theanorc`` files: ``[global]`` keys as they are, ``[section]`` keys as ``section.key``."""
    parser = configparser.ConfigParser()
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # flags are case-sensitive
    try:
        parser.read(paths)
    except configparser.Error as exc:
        raise ConfigError(f"theanorc: {exc}") from None
    flags: dict[str, str] = {}
    for section in parser.sections():
        for key, value in parser.items(section):
            flags[key if section == "global" else f"{section}.{key}"] = value
    return flags


def theanorc_paths(environ: Mapping[str, str]) -> list[str]:
    listed = environ.get("THEANORC")
    if listed:
        return [os.path.expanduser(p) for p in listed.split(os.pathsep) if p]
    return [os.path.join(os.path.expanduser("~"), ".theanorc")]


def load_theano_flags(cfg: TheanoConfig, environ: Mapping[str, str] | None = None) -> None:
    """Apply ``.theanorc`` then ``THEANO_FLAGS`` (later wins), as Theano did on import."""
    env = os.environ if environ is None else environ
    cfg.update(read_theanorc(theanorc_paths(env)), "theanorc")
    cfg.update(parse_flags(env.get("THEANO_FLAGS", "")), "THEANO_FLAGS")


config = TheanoConfig()
