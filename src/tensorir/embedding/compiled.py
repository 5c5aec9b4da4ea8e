"""Compiling a tir module with a chosen pipeline, and calling it with array buffers.

A :class:`CompiledModule` owns a compile cache object of its own (over the usual cache
directory, so nothing compiles twice): every kernel it looks up, while it is built and while it
runs, is noted, which is what :mod:`tensorir.embedding.artifact` packs into a file. A cache of
its own also makes the set of kernels the executor asks for at construction the same in every
process (the runtime loads some helpers once per cache object).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tensorir.dialects.builtin import func_outputs
from tensorir.dialects.ir import Module, Operation
from tensorir.dialects.types import TensorType
from tensorir.passes.pass_manager import PassManager
from tensorir.passes.pipelines import LEVELS, pipeline
from tensorir.passes.registry import lookup_pass
from tensorir.runtime.arguments import convert_argument
from tensorir.runtime.array_exchange import check_output_format, export_outputs
from tensorir.runtime.compile_cache import CompileCache, default_cache_dir
from tensorir.runtime.executors import make_executor

__all__ = ["CompiledModule", "Parameter", "Signature", "compile_module"]

#: Executors a module can be compiled for: name -> what runs it.
EXECUTORS = {"native": "machine code through MLIR and LLVM (cached)", "reference": "the NumPy reference interpreter"}
# Caches of compiled modules stay alive for the process: the runtime keys per-cache helpers by the
# cache object's id, which a new cache must never inherit from a collected one.
_LIVE_CACHES: list[CompileCache] = []
_LIVE_LOCK = threading.Lock()


@dataclass(frozen=True)
class Parameter:
    """One input or output: its name, dtype and shape (None: any size)."""

    name: str
    dtype: str
    shape: tuple[int | None, ...]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Parameter:
        return cls(str(data["name"]), str(data["dtype"]), tuple(data["shape"]))


@dataclass(frozen=True)
class Signature:
    """What a compiled module takes and returns."""

    inputs: tuple[Parameter, ...]
    outputs: tuple[Parameter, ...]

    @classmethod
    def of(cls, func: Operation) -> Signature:
        block = func.regions[0].block
        ins = tuple(Parameter(a.name or f"arg{k}", a.type.dtype, a.type.shape) for k, a in enumerate(block.arguments))
        outs = tuple(Parameter(f"result{k}", v.type.dtype, v.type.shape) for k, v in enumerate(func_outputs(func)))
        return cls(ins, outs)

    def to_json(self) -> dict[str, Any]:
        return {"inputs": [p.to_json() for p in self.inputs], "outputs": [p.to_json() for p in self.outputs]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Signature:
        return cls(tuple(map(Parameter.from_json, data["inputs"])), tuple(map(Parameter.from_json, data["outputs"])))


def run_named_pipeline(module: Module, pipeline_spec: str | Sequence[str] | None, fast_math: bool = False) -> None:
    """Rewrite ``module`` in place: a level ('fast_run', 'fast_compile', 'none' or None) or a list of
    pass names (``tensorir-opt``'s names, in order)."""
    if isinstance(pipeline_spec, str) and pipeline_spec.lower() == "none":
        pipeline_spec = None
    if pipeline_spec is None or isinstance(pipeline_spec, str):
        if pipeline_spec not in LEVELS:
            raise ValueError(f"pipeline={pipeline_spec!r}: use one of 'fast_run', 'fast_compile', 'none' "
                             "or a list of pass names")
        passes = pipeline(pipeline_spec, fast_math)
    else:
        passes = [lookup_pass(name)() for name in pipeline_spec]
    PassManager(passes).run(module)


class CompiledModule:
    """A module's function compiled for an executor: call it with arrays, read its signature,
    save it (:meth:`save`) for another process."""

    def __init__(self, func: Operation, executor_name: str, opt_level: int, cache: CompileCache | None,
                 output_format: str = "numpy", num_threads: int | None = None) -> None:
        if executor_name not in EXECUTORS:
            raise ValueError(f"executor={executor_name!r}: use one of {sorted(EXECUTORS)}")
        self.func = func
        self.executor_name = executor_name
        self.opt_level = opt_level
        self.output_format = check_output_format(output_format)
        self.signature = Signature.of(func)
        #: keys of every kernel this module's executor looked up (see tensorir.embedding.artifact)
        self.kernel_keys: list[str] = []
        self.cache = cache
        if cache is not None:
            seen: set[str] = set()

            def note(key: str) -> None:
                if key not in seen:
                    seen.add(key)
                    self.kernel_keys.append(key)

            cache.key_observers.append(note)
            with _LIVE_LOCK:
                _LIVE_CACHES.append(cache)
        self.executor = make_executor(func, executor_name, opt_level=opt_level,
                                      cache_dir=cache if cache is not None else None, num_threads=num_threads)
        self._types: list[TensorType] = [a.type for a in func.regions[0].block.arguments]
        self._names = [p.name for p in self.signature.inputs]

    def __call__(self, *args: Any, **kwargs: Any) -> list[Any]:
        """The outputs for ``args`` (positional, or by input name): any arrays with ``__dlpack__``
        or the array interface, read without a copy when their dtype is the input's."""
        values = self._bind(args, kwargs)
        arrays = [convert_argument(v, t, n, k, False, self.func.attributes.get("sym_name"))
                  for k, (v, t, n) in enumerate(zip(values, self._types, self._names))]
        results = self.executor.run(arrays)
        fresh = getattr(self.executor, "fresh_results", None) or (False,) * len(results)
        outputs = [r if fresh[k] else _owned(r, arrays) for k, r in enumerate(results)]
        return export_outputs(outputs, self.output_format)

    def _bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
        n = len(self._names)
        if not kwargs and len(args) == n:
            return list(args)
        if len(args) > n:
            raise TypeError(f"{self.signature_text()} takes {n} argument(s), got {len(args)}")
        values = list(args) + [None] * (n - len(args))
        for key, value in kwargs.items():
            if key not in self._names:
                raise TypeError(f"no input named {key!r}; inputs: {self._names}")
            values[self._names.index(key)] = value
        missing = [self._names[k] for k, v in enumerate(values) if v is None]
        if missing:
            raise TypeError(f"missing argument(s) {missing} of {self.signature_text()}")
        return values

    def signature_text(self) -> str:
        """The signature as one line, e.g. ``main(x: float32[?,3]) -> (float32[?,2])``."""
        def one(p: Parameter) -> str:
            return f"{p.dtype}[{','.join('?' if d is None else str(d) for d in p.shape)}]"

        ins = ", ".join(f"{p.name}: {one(p)}" for p in self.signature.inputs)
        return f"{self.func.attributes.get('sym_name')}({ins}) -> ({', '.join(one(p) for p in self.signature.outputs)})"

    def ir(self) -> str:
        """The compiled (rewritten) module as versioned text."""
        from tensorir.embedding.textual_ir import print_ir

        return print_ir(Module([self.func]))

    def save(self, path: str, example_inputs: Sequence[Sequence[Any]] = ()) -> None:
        """Write the artifact (tensorir.embedding.artifact); each of ``example_inputs`` is called
        twice first, so the kernels of those shapes and layouts, and the whole-call replay, are in it."""
        from tensorir.embedding.artifact import save_artifact

        save_artifact(self, path, example_inputs)

    def __repr__(self) -> str:
        return f"<tensorir.embedding.CompiledModule {self.signature_text()} on {self.executor_name}>"


def _owned(result: np.ndarray, arguments: Sequence[np.ndarray]) -> np.ndarray:
    """``result`` when the caller may keep and write it; a copy when it is read-only (a constant)
    or shares memory with an argument."""
    if not result.flags.writeable or any(np.may_share_memory(result, a) for a in arguments):
        return result.copy()
    return result


def compile_module(module: Module, pipeline: str | Sequence[str] | None = "fast_run", executor: str = "native",
                   function: str | None = None, fast_math: bool = False, cache_dir: str | None = "",
                   output_format: str = "numpy", num_threads: int | None = None) -> CompiledModule:
    """Compile one function of ``module`` (its first, or the one named ``function``).

    ``pipeline``: 'fast_run', 'fast_compile', 'none' or a list of pass names. ``executor``:
    'native' or 'reference'. ``cache_dir``: the compile cache directory ('' the default, None memory
    only: such a module cannot be saved). The module is rewritten in place.
    """
    func = module.lookup(function) if function is not None else module.functions[0]
    target = Module([func]) if len(module.functions) > 1 else module
    run_named_pipeline(target, pipeline, fast_math)
    opt_level = 3 if pipeline == "fast_run" or not isinstance(pipeline, str | type(None)) else 1
    cache = None
    if executor == "native":
        directory = default_cache_dir() if cache_dir == "" else cache_dir
        cache = CompileCache(None if directory is None else os.path.abspath(directory))
    return CompiledModule(target.functions[0], executor, opt_level, cache, output_format, num_threads)
