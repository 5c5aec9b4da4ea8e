"""Why did this recompile: the compile cache's misses, explained on the ``tensorir.cache`` logger.

A miss means no entry has the kernel's key, a hash of its name (or text), the opt level, the
MLIR pipeline and the environment (tensorir, llvmlite and MLIR versions, a digest of the code
generators' sources, the host CPU). A hash cannot say which part changed, so while the log is
on every compiled kernel leaves a small record of its key's parts under ``explain/`` in the
cache directory (a few records per kernel name); the next miss of that name is compared with
them and the log names the parts that differ, or says the kernel was never compiled there (a
new op, dtype, layout or shape class). Nothing is recorded or compared while the log is off.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

__all__ = ["CACHE_LOG", "log_miss", "key_parts"]

CACHE_LOG = logging.getLogger("tensorir.cache")
#: Records kept per kernel name.
_RECORDS_PER_NAME = 8
#: What each part of a key means, for the message.
_MEANING = {"opt_level": "the opt level", "pipeline": "the MLIR pipeline", "format": "the cache format",
            "codegen": "the code generators' sources (tensorir was edited or upgraded)",
            "tensorir": "tensorir's version", "llvmlite": "llvmlite's version",
            "xtc-mlir-python-bindings": "the MLIR bindings' version", "cpu": "the host CPU"}


def key_parts(opt_level: int, pipeline: str, fingerprint: str) -> dict[str, str]:
    """The parts of a cache key besides the kernel's name (see the module docstring)."""
    parts = {"opt_level": f"O{opt_level}", "pipeline": pipeline}
    head, _, cpu = fingerprint.partition("\ncpu=")
    for line in head.splitlines():
        name, _, value = line.partition("=")
        parts[name] = value
    parts["cpu"] = cpu
    return parts


def _record_path(directory: Path, identity: str) -> Path:
    return directory / "explain" / (hashlib.sha256(identity.encode()).hexdigest()[:40] + ".json")


def log_miss(directory: Path | None, identity: str, parts: dict[str, str]) -> None:
    """Log why the kernel ``identity`` is compiled, and record its key's parts (log on only)."""
    if not CACHE_LOG.isEnabledFor(logging.INFO):
        return
    names = identity.split()  # a module of several kernels is named by all of them
    label = names[0] if len(names) == 1 else f"{names[0]} and {len(names) - 1} more kernels compiled together"
    if directory is None:
        CACHE_LOG.info("compile cache miss: %s (%s): the cache keeps nothing on disk", label, parts["opt_level"])
        return
    path = _record_path(directory, identity)
    try:
        records = json.loads(path.read_text())
    except (OSError, ValueError):
        records = []
    if not records:
        CACHE_LOG.info("compile cache miss: %s (%s): never compiled in %s before (a new kernel: op, dtype, "
                       "layout or shape class)", label, parts["opt_level"], directory)
    else:
        closest = min(records, key=lambda r: sum(r.get(k) != v for k, v in parts.items()))
        differ = [k for k, v in parts.items() if closest.get(k) != v]
        reasons = "; ".join(f"{_MEANING.get(k, k)} differs ({_short(closest.get(k))} -> {_short(parts[k])})"
                            for k in differ) or "the same key parts (the entry was removed or damaged)"
        CACHE_LOG.info("compile cache miss: %s (%s): compiled before with another key: %s",
                       label, parts["opt_level"], reasons)
    records = [r for r in records if r != parts][-(_RECORDS_PER_NAME - 1):] + [parts]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(records))
    except OSError:
        pass  # a read-only cache: explanations need the record, the kernel does not


def _short(value: str | None) -> str:
    if value is None:
        return "none"
    text = " ".join(value.split())
    return text if len(text) <= 24 else text[:12] + "..." + text[-8:]
