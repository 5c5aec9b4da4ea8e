"""``Mode``: which rewrites run and which executor runs the result (the predefined modes are
in frontend/modes.py, the checking ones in frontend/debug_modes.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tensorir.dialects.ir import Module, clone_operation
from tensorir.frontend.config import config
from tensorir.passes.assumed_shapes import ShapeGuard, assuming
from tensorir.passes.device_transfer import insert_transfers
from tensorir.passes.pipelines import run_pipeline
from tensorir.runtime.allocation import reuse_large_buffers
from tensorir.runtime.cuda.device_flag import DeviceChoice, on_device, parse_device, require_device
from tensorir.runtime.executors import make_executor
from tensorir.runtime.guarded_executor import GuardedExecutor

__all__ = ["Mode"]


@dataclass(frozen=True)
class Mode:
    """``Mode(optimizer, linker)``: optimizer 'fast_run' | 'fast_compile' | None; linker 'native' | 'reference'."""

    optimizer: str | None = "fast_run"
    linker: str = "native"
    name: str = "custom"

    def compile(self, module: Module, shape_hints: Mapping[int, tuple[int, ...]] | None = None,
                donations: Mapping[int, int] | None = None, return_device_arrays: bool = False) -> Any:
        """The executor of ``module``'s function after this mode's rewrites; ``shape_hints``:
        likely shapes of some arguments (by index), e.g. shared variables' current values;
        ``donations``: result -> argument whose buffer it may overwrite (shared updates);
        ``return_device_arrays``: under ``device=cuda``, outputs stay on the GPU."""
        device = parse_device(config.device)
        if device.is_cuda and self.linker == "native":
            run_pipeline(module, self.optimizer, fast_math=config.fast_math)
            return _compile_for_cuda(module, device, 3 if self.optimizer == "fast_run" else 1, donations,
                                     return_device_arrays)
        return compile_assuming(module, self.optimizer, self.linker,
                                lambda m: self._executor(m, shape_hints, donations))

    def _executor(self, module: Module, shape_hints: Mapping[int, tuple[int, ...]] | None,
                  donations: Mapping[int, int] | None) -> Any:  # noqa: ANN401
        if self.linker == "native" and config.reuse_large_buffers:
            reuse_large_buffers()
        return make_executor(
            module.functions[0],
            self.linker,
            opt_level=3 if self.optimizer == "fast_run" else 1,
            cache_dir=config.compiledir,
            num_threads=config.threads or None,
            native_loops=config.native_loops,
            native_calls=config.native_calls,
            shape_hints=shape_hints,
            donations=donations,
        )

    def including(self, *tags: str) -> Mode:
        return self

    def excluding(self, *tags: str) -> Mode:
        if "fusion" in tags or "all" in tags:
            return self
        return self


def compile_assuming(module: Module, optimizer: str | None, linker: str,
                     build: Callable[[Module], Any]) -> Any:  # noqa: ANN401
    """``build``'s executor of ``module`` after ``optimizer``'s rewrites, made under the shape
    assumption of ``passes/assumed_shapes.py`` when the rewrites used it (then guarded, with
    ``build``'s executor of the function rewritten without it for calls that break it)."""
    fast_math = config.fast_math
    if linker != "native" or not optimizer or not config.assume_shapes:
        run_pipeline(module, optimizer, fast_math=fast_math)
        return build(module)
    general = Module([clone_operation(f, {}) for f in module.functions])
    with assuming(module.functions[0]) as facts:
        run_pipeline(module, optimizer, fast_math=fast_math)
    guard = facts.guard()
    assumed = build(module)
    if guard is None:
        return assumed

    def build_general() -> Any:  # noqa: ANN401
        run_pipeline(general, optimizer, fast_math=fast_math)
        return build(general)

    return GuardedExecutor(assumed, _guard_check(guard), build_general, guard.source())


def _guard_check(guard: ShapeGuard) -> Any:  # noqa: ANN401
    """``guard`` as one Python expression over the argument list: a few index reads and
    comparisons per call, no loop."""
    return eval(f"lambda a: {guard.source()}")  # noqa: S307 - the text is made of ints and indexes only


def _compile_for_cuda(module: Module, device: DeviceChoice, opt_level: int, donations: Mapping[int, int] | None,
                      return_device_arrays: bool) -> Any:  # noqa: ANN401
    """The GPU executor: transfers inserted where values cross (debugprint shows them), then
    the plan of GPU steps (runtime/cuda/executor.py)."""
    require_device(device)
    from tensorir.runtime.cuda.executor import CudaExecutor
    from tensorir.runtime.cuda.steps import host_operands, runs_on_device

    func = module.functions[0]
    insert_transfers(func, runs_on_device, lambda t: on_device(t.dtype, t.ndim), host_operands)
    return CudaExecutor(func, device.ordinal, opt_level, config.compiledir, donations, return_device_arrays)
