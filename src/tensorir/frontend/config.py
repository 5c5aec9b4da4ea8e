"""User configuration: ``tensorir.config``, read from ``TENSORIR_FLAGS`` and a config file.

Only the edges (frontend entry points) read it; passes and backends get explicit options.
Sources, later ones winning: defaults, the config file (``TENSORIRRC`` or ``~/.tensorirrc``,
an INI file with a ``[global]`` section), then ``TENSORIR_FLAGS="floatX=float32,mode=FAST_RUN"``.
"""

from __future__ import annotations

import configparser
import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tensorir.codegen.cpu.registers import VECTOR_BITS_VARIABLE, host_vector_bits, parse_vector_bits
from tensorir.runtime.core_share import DYNAMIC_VARIABLE, parse_dynamic, parse_switch
from tensorir.runtime.cuda.device_flag import normalize_device
from tensorir.runtime.threadpool import THREADS_VARIABLE, parse_thread_count


class ConfigError(ValueError):
    """An unknown flag or a value a flag does not accept."""


def _cache_dir() -> str:
    from tensorir.runtime.compile_cache import default_cache_dir

    return default_cache_dir()


@dataclass(frozen=True)
class Flag:
    name: str
    default: Any
    doc: str
    choices: tuple[str, ...] | None = None
    convert: Callable[[str], Any] = str


def _bool(text: str) -> bool:
    value = parse_switch(text)
    if value is None:
        raise ValueError(f"expected a boolean, got {text!r}")
    return value


def _thread_count(value: Any) -> int:
    """0 (every core this process may run on) or a positive number of kernel threads."""
    try:
        count = int(str(value).strip())
    except ValueError:
        count = -1
    if count < 0:
        raise ValueError(f"expected 0 (all cores) or a positive integer, got {value!r}")
    return count


LOG_TOPICS = ("cache",)


def _log_topics(value: Any) -> str:
    """Comma-separated names from LOG_TOPICS (empty: no log)."""
    topics = [t.strip() for t in str(value).split(",") if t.strip()]
    unknown = [t for t in topics if t not in LOG_TOPICS]
    if unknown:
        raise ValueError(f"unknown log topic(s) {', '.join(unknown)}; topics: {', '.join(LOG_TOPICS)}")
    return ",".join(topics)


MODES = ("FAST_RUN", "FAST_COMPILE", "REFERENCE", "DEBUG_MODE", "DebugMode", "NanGuardMode", "NONE")

FLAGS: tuple[Flag, ...] = (
    Flag("floatX", "float64", "default float dtype of variables and Python float constants",
         ("float64", "float32", "float16")),
    Flag("device", "cpu", "where functions run: cpu, or an NVIDIA GPU as cuda (device 0), cuda0, cuda1, ... "
         "(gpu, gpuN: Theano's spellings)", None, normalize_device),
    Flag("mode", "FAST_RUN", "default compilation mode", MODES),
    Flag("compiledir", "", "directory of the on-disk compile cache (default: user cache dir)"),
    Flag("on_unused_input", "raise", "what function() does with unused inputs", ("raise", "warn", "ignore")),
    Flag("int_division", "floatX", "what x / y does for integers", ("floatX", "int", "raise")),
    Flag("fast_math", False, "allow rewrites that hold for finite values only (x - x -> 0 turns inf - inf and "
         "nan - nan into 0); off: results propagate nan and inf as NumPy does", None, _bool),
    Flag("optimizer_verbose", False, "print each rewrite as it applies", None, _bool),
    Flag("exception_verbosity", "low", "detail of run-time error messages", ("low", "high")),
    Flag("compute_test_value", "off", "evaluate each op on its operands' tag.test_value as it is built "
         "(frontend/eager_values.py)", ("off", "ignore", "warn", "raise", "pdb")),
    Flag("threads", 0, "threads for native kernels (0: all available cores)", None, _thread_count),
    Flag("native_loops", True, "run a scan whose body is native calls as one native loop after a recorded "
         "first step (False: a Python loop over the body)", None, _bool),
    Flag("native_calls", True, "replay a function's native calls, recorded once per argument signature, as one "
         "native call (False: a Python loop over the plan's steps on every call)", None, _bool),
    Flag("nan_guard", False, "compile every function with the NaN/Inf guard (NanGuardMode's checks on the mode's "
         "rewrites): the first op making a NaN or inf raises, naming it and the line that built it", None, _bool),
    Flag("profile", False, "profile every function (as function(..., profile=True)) and print each summary at exit",
         None, _bool),
    Flag("log", "", "comma-separated topics to log through Python's logging (also TENSORIR_LOG): 'cache' "
         "explains each compile cache miss and each new argument signature of a function", None, _log_topics),
    Flag("assume_shapes", True, "compile assuming that dynamic argument dims meeting in an elementwise op are "
         "equal (no size-1 dim broadcast at run time), checked at each call; a call breaking it runs the function "
         "compiled without the assumption (passes/assumed_shapes.py)", None, _bool),
    Flag("reuse_large_buffers", True, "keep freed large arrays in the process (no page faults on the next call's "
         "outputs; the resident size stays at its peak)", None, _bool),
)
_BY_NAME = {f.name: f for f in FLAGS}


class Config:
    """Attribute access to the flags; assignment validates."""

    def __init__(self) -> None:
        object.__setattr__(self, "_values", {f.name: f.default for f in FLAGS})

    def __getattr__(self, name: str) -> Any:
        values = object.__getattribute__(self, "_values")
        if name in values:
            value = values[name]
            if name == "compiledir" and not value:
                return _cache_dir()
            return value
        raise AttributeError(f"tensorir.config has no flag {name!r}; flags: {', '.join(sorted(values))}")

    def __setattr__(self, name: str, value: Any) -> None:
        self._values[name] = validate(name, value)

    def __dir__(self) -> list[str]:
        return sorted(self._values)

    def __repr__(self) -> str:
        return "Config(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in sorted(self._values)) + ")"

    def update_from_string(self, text: str, source: str) -> None:
        for item in filter(None, (p.strip() for p in text.split(","))):
            if "=" not in item:
                raise ConfigError(f"{source}: expected key=value, got {item!r}")
            key, value = (s.strip() for s in item.split("=", 1))
            try:
                setattr(self, key, value)
            except ConfigError as exc:
                raise ConfigError(f"{source}: {exc}") from None


def validate(name: str, value: Any) -> Any:
    flag = _BY_NAME.get(name)
    if flag is None:
        raise ConfigError(f"unknown flag {name!r}; known flags: {', '.join(sorted(_BY_NAME))}")
    # Converters also check values set from Python (config.threads = -1), not only text.
    if flag.convert is not str and (isinstance(value, str) or flag.convert is not _bool):
        try:
            value = flag.convert(value)
        except ValueError as exc:
            raise ConfigError(f"flag {name}: {exc}") from None
    if name == "mode" and value is None:
        value = "NONE"
    if flag.choices is not None and value not in flag.choices:
        raise ConfigError(f"flag {name} does not accept {value!r}; choose one of {', '.join(flag.choices)}")
    return value


#: Variables the runtime and codegen read themselves, checked here at import so that a bad value
#: stops there with a ConfigError naming it.
_ENVIRONMENT_CHECKS: dict[str, Callable[[str], object]] = {
    THREADS_VARIABLE: parse_thread_count,
    DYNAMIC_VARIABLE: parse_dynamic,
    VECTOR_BITS_VARIABLE: lambda text: parse_vector_bits(text, host_vector_bits()),
}


def load_config(environ: dict[str, str] | None = None) -> Config:
    env = os.environ if environ is None else environ
    config = Config()
    path = env.get("TENSORIRRC") or os.path.join(os.path.expanduser("~"), ".tensorirrc")
    if os.path.isfile(path):
        parser = _read_config_file(path)
        if parser.has_section("global"):
            for key, value in parser.items("global"):
                try:
                    setattr(config, key, value)
                except ConfigError as exc:
                    raise ConfigError(f"config file {path}: {exc}") from None
    config.update_from_string(env.get("TENSORIR_FLAGS", ""), "TENSORIR_FLAGS")
    if env.get("TENSORIR_LOG"):
        config.log = env["TENSORIR_LOG"]
    for variable, check in _ENVIRONMENT_CHECKS.items():
        text = env.get(variable)
        if text:
            try:
                check(text)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
    return config


def _read_config_file(path: str) -> configparser.RawConfigParser:
    """The INI file at ``path``, or a ConfigError naming it and what it must be.

    No interpolation: a ``%`` in a value (a directory name, say) is just a character.
    """
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path}: not UTF-8 text (byte {exc.start} is {exc.object[exc.start]:#x}); "
                          "save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot read it ({exc.strerror})") from None
    parser = configparser.RawConfigParser()
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # flags are case-sensitive
    try:
        parser.read_string(text, source=path)
    except configparser.Error as exc:
        problem = " ".join(str(exc).split())  # configparser's messages span lines
        raise ConfigError(f"config file {path}: {problem}; expected an INI file with flags as "
                          "'name = value' lines under a [global] section") from None
    return parser


config = load_config()


@contextlib.contextmanager
def change_flags(**flags: Any) -> Iterator[None]:
    """Temporarily set flags: ``with change_flags(floatX='float32'): ...``."""
    old = {k: config._values[k] for k in flags if k in config._values}
    try:
        for k, v in flags.items():
            setattr(config, k, v)
        yield
    finally:
        for k, v in old.items():
            config._values[k] = v
