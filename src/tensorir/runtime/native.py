"""The native executor of FAST_RUN / FAST_COMPILE: a plan of steps over native kernels.

At construction the executor walks the rewritten function once and turns each op into a step
with precomputed operand and result slot indices; :meth:`NativeExecutor.run` is one loop over
the steps (no dictionary lookups, no per-op type tests). The kind of each step comes from the
CPU's step table (``codegen/cpu/step_table.py``, which ``tensorir-opt --emit=mlir`` reads too),
and ``_STEP_BUILDERS`` maps each kind to the method that builds its step. The steps:

- native kernels (MLIR -> LLVM, vectorized, split over threads for large sizes): ``tir.fused``
  bodies and lone elementwise ops (:class:`ElementwiseStep`), reductions with or without a fused
  body (:class:`ReductionStep`), the softmax family (:class:`RowStep`);
- BLAS: ``tir.gemm``, ``tir.gemv``, ``tir.ger``, ``tir.dot`` on SciPy's BLAS, called from
  generated kernels (:class:`BlasStep`);
- convolution and pooling (``tir.conv2d`` and its gradients, ``tir.pool2d``, ``tir.pool2d_grad``,
  ``tir.max_pool2d_select``): generated loops plus per-thread products (runtime/native_conv.py);
- basic indexing and ``tir.sum_to``: the reference's semantics without the interpreter's
  per-call cost, writes in place into dead buffers (runtime/native_indexing.py);
- ``tir.scan``: a native loop (runtime/native_loop.py) when its body's first step records
  cleanly, else the reference loop over the body's own plan;
- collectives (``tir.allreduce``): a Python step calling the group's communicator, MPI or NCCL
  (runtime/collectives.py);
- everything else, shape ops included (their references are NumPy views, O(1)), runs the op's
  NumPy reference, so every graph runs.

The kernels the static types predict are compiled together as one module when the executor is
built (one MLIR and one LLVM run, or one disk-cache hit); other variants (a broadcast or a
strided layout seen at run time) compile on first use. A step names its predicted kernels
through ``predicted_kernels(op) -> {name: (text, n_args)}`` (a :class:`PredictsKernels`;
elementwise steps are predicted here directly); kernel text is passed as a function, so a cache
hit never builds it. What a step can do (be recorded, write in place, ...) it declares as
:class:`~tensorir.runtime.step_traits.StepTraits`, read through ``traits_of``.
A failing step raises
:class:`~tensorir.dialects.interpret.EvaluationError` naming the op and the user's line; shapes
are checked in Python before any kernel runs, so bad input never reaches native code.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from tensorir.codegen.cpu.lower_elementwise import ElementwiseBody
from tensorir.codegen.cpu.lower_nn import LABELLED
from tensorir.codegen.cpu.lower_replay import REPLAY_FUNCTION, replay_runner
from tensorir.codegen.cpu.scalar_ops import NotLowerable
from tensorir.codegen.cpu.step_table import step_kind
from tensorir.codegen.step_kinds import StepKind
from tensorir.dialects.builtin import CONSTANT
from tensorir.dialects.interpret import EvaluationError, run_block, run_op
from tensorir.dialects.ir import Block, Operation, Value, walk
from tensorir.dialects.tir.indexing import parse_index
from tensorir.runtime.blas import blas_symbols
from tensorir.runtime.buffer_reuse import plan_buffer_reuse
from tensorir.runtime.collectives import collective_step
from tensorir.runtime.compile_cache import get_cache
from tensorir.runtime.core_share import refresh as refresh_thread_cap
from tensorir.runtime.donation import Donation, plan_donations
from tensorir.runtime.native_blas import BlasStep
from tensorir.runtime.native_conv import conv_pool_step
from tensorir.runtime.native_function import FunctionReplay
from tensorir.runtime.native_indexing import index_step
from tensorir.runtime.native_kernels import RECORDING, KernelContext
from tensorir.runtime.native_loop import NativeScan
from tensorir.runtime.native_steps import ElementwiseStep, ReductionStep, RowStep, is_strided_variant
from tensorir.runtime.recording import Recorder
from tensorir.runtime.shape_guess import GuessedOp, guessed_types
from tensorir.runtime.step_traits import DeclaredStep, PredictsKernels, StepTraits, traits_of
from tensorir.runtime.threadpool import ThreadPool, default_thread_count, environment_thread_count

__all__ = ["DeviceSteps", "NativeExecutor"]

Step = Callable[[list[np.ndarray]], list[np.ndarray]]


class PlanEntry(NamedTuple):
    """One step of a plan and the slots it works on (a tuple: the run loop unpacks it)."""

    step: Step
    #: Slots of its operands and results.
    ins: tuple[int, ...]
    outs: tuple[int, ...]
    #: Slots whose last use it is: cleared before it runs.
    dead: tuple[int, ...]
    #: Slots read only for their shapes from here on: a :func:`_shape_stub` replaces them.
    shaped: tuple[int, ...]
    #: Operand positions whose buffers it may write its results over (runtime/buffer_reuse.py).
    free: tuple[int, ...]


@dataclass(frozen=True)
class DeviceSteps:
    """Device hook: a device's step table, its kind -> builder table and what its steps share
    (``context``, read by the builders as ``executor.device_context``)."""

    step_kind: Callable[[Operation], StepKind]
    builders: Mapping[StepKind, Callable[..., tuple[Step, str] | None]]
    context: object


_SHAPE_READERS = ("tir.shape", "tir.shape_i")
def _column_slice(v: Value) -> str | None:
    """For a value made by ``tir.subtensor`` slicing its operand's last axis: its inner stride
    as a strided kernel's mode ("u" unit, "s" a step); else None. Leading-axis slices of such
    a value (a loop's rows of it) keep its rows' gaps and count too."""
    op = v.owner
    while op is not None and op.name == "tir.slice_leading":
        op = op.operands[0].owner
    if op is None or op.name != "tir.subtensor":
        return None
    entries = parse_index(op.attributes["index"])
    if len(entries) != op.operands[0].type.ndim or not entries or entries[-1][0] != "slice":
        return None
    start, stop, step = entries[-1][1:]
    if start is None and stop is None:
        return None if step in (None, 1) else "s"
    return "u" if step in (None, 1) else "s"


def _shape_only_operands(op: Operation) -> tuple[int, ...]:
    """The operands ``op``'s step reads only for their shape. An elementwise kernel (a lone
    ``broadcast_like``) iterates over its operands' layouts, so it gets the real arrays."""
    return () if op.opdef.fusion == "elementwise" else op.opdef.shape_operands


#: The memory behind every shape stub (a zero-strided array reads one element at most).
_STUB_BYTES = bytes(16)


def _shape_stub(value: object) -> object:
    """An array of ``value``'s shape and dtype that holds no memory of its own (zero strides over
    :data:`_STUB_BYTES`, read-only), for steps that read only shapes; other values as they are."""
    if type(value) is not np.ndarray or value.dtype.kind not in "biufc" or value.itemsize > len(_STUB_BYTES):
        return value
    return np.ndarray(value.shape, value.dtype, buffer=_STUB_BYTES, strides=(0,) * value.ndim)


# Region ops whose bodies read only their block arguments: their plans can be built up front.
_ISOLATED_REGION_OPS = ("tir.scan", "tir.if")
_CAUGHT = (ValueError, TypeError, IndexError, ZeroDivisionError, OverflowError, np.linalg.LinAlgError)

_POOLS: dict[int, ThreadPool] = {}
# The loop runner per compile cache, and the modules that hold its code.
_RUNNERS: dict[int, Callable[..., int]] = {}
_RUNNER_MODULES: list[object] = []


def _pool(num_threads: int) -> ThreadPool:
    """One pool per size for the process; chunks as small as one row (steps decide when to split)."""
    pool = _POOLS.get(num_threads)
    if pool is None:
        pool = _POOLS[num_threads] = ThreadPool(num_threads, min_chunk=1, align=1)
    return pool


def _thread_count(num_threads: int | None) -> int:
    if num_threads:
        return num_threads
    return environment_thread_count() or default_thread_count()


class NativeExecutor:
    """Runs a ``func.func`` as a plan of native, BLAS and reference steps (module docstring)."""

    kind = "native"

    def __init__(self, func: Operation | Block, opt_level: int = 3, cache_dir: str | None = "",
                 num_threads: int | None = None, native_loops: bool = True, native_calls: bool = True,
                 parent: NativeExecutor | None = None,
                 parent_predicted: dict[str, tuple[str, int]] | None = None,
                 shape_hints: Mapping[int, tuple[int, ...]] | None = None,
                 donations: Mapping[int, int] | None = None, device: DeviceSteps | None = None) -> None:
        # A block is a loop or branch body (ending in tir.yield), run once per step of its op.
        # Bodies share their parent's kernel context, and their predicted kernels compile in the
        # parent's one module (``parent_predicted``): one MLIR and LLVM run for the function.
        self.func = func
        # Device hook: another device's step table and builders (runtime/cuda/executor.py).
        self.device = device
        self.device_context = None if device is None else device.context
        self.opt_level, self.cache_dir = opt_level, cache_dir
        self.native_loops = native_loops
        threads = _thread_count(num_threads)
        if parent is not None:
            self.context = parent.context
        else:
            self.context = KernelContext(opt_level, get_cache(cache_dir), _pool(threads))
        self.num_threads = threads
        block = func.regions[0].block if isinstance(func, Operation) else func
        #: Types guessed from ``shape_hints`` for predicting kernels (runtime/shape_guess.py).
        self._guessed = guessed_types(block, shape_hints) if shape_hints else {}
        slots: dict[int, int] = {id(a): i for i, a in enumerate(block.arguments)}
        self.n_args = len(block.arguments)
        self.constants: list[np.ndarray] = []
        plan: list[tuple[Step, tuple[int, ...], tuple[int, ...]]] = []
        self.ops: list[Operation] = []
        #: op name -> step kind ('kernel', 'blas', 'reference'), for tests and reports
        self.step_kinds: list[tuple[str, str]] = []
        #: Per step, the kind of the step table it was built as (REFERENCE where a native step
        #: could not be built after all: the table and the executor then disagree).
        self.plan_kinds: list[StepKind] = []
        predicted: dict[str, tuple[str, int]] = {}
        first_free = self.n_args
        body_ops = [op for op in block.operations if op.name not in ("func.return", "tir.yield")]
        for op in body_ops:
            if op.opdef is CONSTANT:
                slots[id(op.results[0])] = first_free + len(self.constants)
                self.constants.append(op.attributes["value"])
        next_slot = first_free + len(self.constants)
        for op in body_ops:
            if op.opdef is CONSTANT:
                continue
            extra: list[Value] = []
            # A device that has a loop step (runtime/cuda/scan_steps.py) builds it from its table.
            device_loop = (self.device is not None and op.name == "tir.scan" and self._kind(op) is StepKind.LOOP
                           and StepKind.LOOP in self.device.builders)
            if op.regions and op.name != "tir.fused" and not device_loop:
                # A device plan runs region ops on the host, their bodies interpreted (device hook).
                bodies = self._body_executor if self.device is None else None
                if op.name in _ISOLATED_REGION_OPS and bodies is not None:
                    for region in op.regions:
                        self._body_executor(region.block, predicted)
                if op.name == "tir.scan" and self.native_loops and id(self.context.cache) not in _RUNNERS:
                    predicted[REPLAY_FUNCTION] = (replay_runner, None)  # compiled with the kernels
                loop = None
                if op.name == "tir.scan" and self.native_loops:
                    block_ = op.regions[0].block
                    loop = NativeScan(op, lambda block_=block_: self._body_executor(block_), self._replay_runner)
                step, extra = self._region_step(op, slots, bodies, loop)
                kind = "loop" if loop is not None else "reference"
                plan_kind = StepKind.LOOP if loop is not None else StepKind.REFERENCE
            else:
                step, kind = self._make_step(op, predicted, slots)
                plan_kind = StepKind.REFERENCE if kind == "reference" else self._kind(op)
            ins = tuple(slots[id(v)] for v in [*op.operands, *extra])
            outs = []
            for r in op.results:
                slots[id(r)] = next_slot
                outs.append(next_slot)
                next_slot += 1
            plan.append((step, ins, tuple(outs)))
            self.ops.append(op)
            self.step_kinds.append((op.name, kind))
            self.plan_kinds.append(plan_kind)
        term = block.terminator
        self.result_slots = tuple(slots[id(v)] for v in (term.operands if term is not None else []))
        self.n_slots = next_slot
        #: Update results written into their shared variable's buffer by a replay, the commit
        #: tail of the plan (runtime/donation.py); ``commit_from``: the tail's first step.
        self.donations: list[Donation] = []
        if donations and parent is None:
            order, self.donations = plan_donations(plan, self.ops, self.result_slots, donations)
            plan = [plan[i] for i in order]
            self.ops = [self.ops[i] for i in order]
            self.step_kinds = [self.step_kinds[i] for i in order]
            self.plan_kinds = [self.plan_kinds[i] for i in order]
        self.commit_from = min((d.step for d in self.donations), default=len(plan))
        self.steps = self._planned(plan)
        #: Per result: True when it is an array no one else can see (made by a step that returns
        #: new buffers, and not returned twice), so ``Function`` hands it out without a copy.
        self.fresh_results = self._fresh_results(plan)
        self.template: list[np.ndarray | None] = [None] * self.n_args + list(self.constants) + \
            [None] * (next_slot - first_free - len(self.constants))
        #: The whole call as one native call, per argument signature (runtime/native_function.py).
        self.function_replay = FunctionReplay(self, self._replay_runner) if parent is None and native_calls else None
        if (self.function_replay is not None and self.function_replay.reason is None
                and id(self.context.cache) not in _RUNNERS):
            predicted[REPLAY_FUNCTION] = (replay_runner, None)  # its second call replays
        if self.function_replay is None or self.function_replay.reason is not None:
            # Nothing to replay: a call is the plan itself, or its one step.
            self.run = self._one_step_runner() or self.run_plan  # type: ignore[method-assign]
        if parent_predicted is not None:
            parent_predicted.update(predicted)
        elif predicted:
            try:
                # Conv kernels call SciPy's BLAS through declared symbols, bound as the module loads.
                self.context.load_many(predicted, symbols=blas_symbols())
            except Exception:  # noqa: BLE001 - a bad kernel shows up again (with context) on first use
                pass

    # -- planning ------------------------------------------------------------------------------
    def _make_step(self, op: Operation, predicted: dict[str, tuple[str, int]],
                   slots: dict[int, int]) -> tuple[Step, str]:
        """A native step for ``op`` when it has a lowering, else its reference."""
        try:
            native = self._native_step(op, predicted)
        except NotLowerable:
            native = None
        if native is not None:
            step = native[0]
            if isinstance(step, BlasStep):
                step.bind(self.context)  # its kernels come from this executor's cache
            # A step may name the kernels its static types suggest: they are compiled with the
            # others, in the executor's one module, instead of one module each at the first call.
            if isinstance(step, PredictsKernels):
                try:
                    predicted.update(step.predicted_kernels(GuessedOp(op, self._guessed) if self._guessed else op))
                except NotLowerable:
                    pass
            return native
        return self._reference_step(op), "reference"

    def _native_step(self, op: Operation, predicted: dict[str, tuple[str, int]]) -> tuple[Step, str] | None:
        """The CPU step of ``op``'s kind in the step table (codegen/cpu/step_table.py), or None."""
        builders = _STEP_BUILDERS if self.device is None else self.device.builders
        build = builders.get(self._kind(op))
        return None if build is None else build(self, op, predicted)

    def _kind(self, op: Operation) -> StepKind:
        return step_kind(op) if self.device is None else self.device.step_kind(op)

    def _elementwise_step(self, op: Operation, predicted: dict[str, tuple[str, int]]) -> tuple[Step, str]:
        ranks = [v.type.ndim for v in op.operands]
        if op.name == "tir.fused":
            body = ElementwiseBody.from_block(op.regions[0].block)
            step = ElementwiseStep(self.context, body, ranks, op.results[0].type.ndim, op.attributes.get("inplace"))
        else:
            step = ElementwiseStep(self.context, ElementwiseBody.from_op(op), ranks, op.results[0].type.ndim)
        self._predict(step, op, predicted)
        return step, "kernel"

    def _reduction_step(self, op: Operation, predicted: dict[str, tuple[str, int]]) -> tuple[Step, str]:
        body, ranks, reduce = ElementwiseBody.of_reduction(op)
        return ReductionStep(self.context, body, ranks, max(ranks, default=0), reduce, op.attributes["axis"],
                             op.attributes["keepdims"], op.results[0].type.dtype), "kernel"

    def _row_step(self, op: Operation, predicted: dict[str, tuple[str, int]]) -> tuple[Step, str]:
        x = op.operands[1] if op.name == "tir.softmax_crossentropy_grad" else op.operands[0]
        label = op.operands[-1].type.dtype if op.name in LABELLED else None
        # Its kernel is predicted by RowStep.predicted_kernels, from the guessed types too.
        return RowStep(self.context, op.name, op.results[0].type.dtype, x.type.ndim, op.attributes, label), "kernel"

    def _conv_pool_step(self, op: Operation, predicted: dict[str, tuple[str, int]]) -> tuple[Step, str]:
        return conv_pool_step(self.context, op)

    def _index_step(self, op: Operation, predicted: dict[str, tuple[str, int]]) -> tuple[Step, str] | None:
        return index_step(op, self.context)

    def _collective_step(self, op: Operation, predicted: dict[str, tuple[str, int]]) -> tuple[Step, str]:
        return collective_step(op), "collective"

    def _blas_step(self, op: Operation, predicted: dict[str, tuple[str, int]]) -> tuple[Step, str]:
        return BlasStep(op.name, op.attributes, op.results[0].type.dtype, [v.type.dtype for v in op.operands],
                        self._reference_step(op), self.num_threads), "blas"

    def _predict(self, step: ElementwiseStep, op: Operation, predicted: dict[str, tuple[str, int]]) -> None:
        """The variant the operands' types (guessed from shared values where those say more)
        choose, compiled with the executor's other kernels."""
        op = GuessedOp(op, self._guessed) if self._guessed else op  # type: ignore[assignment]
        shapes = [tuple(1 if d == 1 else -1 for d in v.type.shape) for v in op.operands]
        rank = op.results[0].type.ndim
        # A dim every operand has as 1 is 1 in the result too (a fused op's result type is not
        # refined by the guesses, its operands' are).
        unit = [all(len(s) <= rank - 1 - k or s[len(s) - rank + k] == 1 for s in shapes) for k in range(rank)]
        out_shape = tuple(1 if d == 1 or u else -1 for d, u in zip(op.results[0].type.shape, unit))
        variant = step.predicted_variant(shapes, out_shape)
        if isinstance(variant, tuple) and out_shape and not is_strided_variant(variant):
            # An operand that is a column slice has rows with gaps: it runs strided, not flat.
            inner = [_column_slice(v) for v in op.operands]
            if any(inner):
                variant = ("strided", tuple("z" if not shape or shape[-1] == 1 else (mode or "u")
                                            for shape, mode in zip(shapes, inner)))
        if variant is not None:
            name, spec = step.kernels.spec(variant)
            predicted[name] = spec

    @staticmethod
    def _reference_step(op: Operation) -> Step:
        """The op's NumPy reference (``evaluate`` for ``tir.fused``, whose body needs nothing else)."""
        if op.regions:
            def evaluate(inputs: list[np.ndarray]) -> list[np.ndarray]:
                return list(op.opdef.evaluate(op, inputs))  # type: ignore[attr-defined]

            return evaluate

        def step(inputs: list[np.ndarray]) -> list[np.ndarray]:
            return run_op(op, inputs)

        return step

    def _body_executor(self, block: Block, predicted: dict[str, tuple[str, int]] | None = None) -> NativeExecutor:
        """The plan of a loop or branch body, built once and reused for every step (at plan time,
        with ``predicted`` collecting its kernels for this executor's module)."""
        cache = self.__dict__.setdefault("_bodies", {})
        executor = cache.get(id(block))
        if executor is None:
            executor = cache[id(block)] = NativeExecutor(block, self.opt_level, self.cache_dir, self.num_threads,
                                                         self.native_loops, parent=self,
                                                         parent_predicted=predicted)
        return executor

    def _replay_runner(self) -> Callable[..., int]:
        """The native loop runner (codegen/cpu/lower_replay.py), compiled once per cache."""
        runner = _RUNNERS.get(id(self.context.cache))
        if runner is None:
            module = self.context.preloaded_modules.get(REPLAY_FUNCTION)
            if module is None:
                # O1: a loop of loads and indirect calls; the called kernels carry the work.
                module = self.context.cache.get_lazy(REPLAY_FUNCTION, replay_runner, opt_level=1)
            address = module.address(REPLAY_FUNCTION)
            runner = ctypes.CFUNCTYPE(ctypes.c_int64, *([ctypes.c_int64] * 4))(address)
            _RUNNERS[id(self.context.cache)] = runner
            _RUNNER_MODULES.append(module)
        return runner

    @staticmethod
    def _region_step(op: Operation, slots: dict[int, int],
                     body_executor: Callable[[Block], NativeExecutor] | None = None,
                     loop: NativeScan | None = None) -> tuple[Step | DeclaredStep, list[Value]]:
        """A region op (scan, ...) on the interpreter. Values its regions read from the enclosing
        function become extra inputs of the step, handed to the interpreter as free values."""
        outer: list[Value] = []
        seen: set[int] = set()
        for inner in walk(op):
            if inner is op:
                continue
            for v in inner.operands:
                if id(v) in slots and id(v) not in seen:
                    seen.add(id(v))
                    outer.append(v)
        n = len(op.operands)

        def step(inputs: list[np.ndarray]) -> list[np.ndarray]:
            free = dict(zip(outer, inputs[n:]))
            if loop is not None and not free:
                try:
                    results = loop.run(inputs[:n])
                except EvaluationError:
                    raise
                except _CAUGHT as exc:
                    raise EvaluationError(op, exc) from exc
                if results is not None:
                    return results

            def nested(block, args):  # noqa: ANN001, ANN202
                # Bodies isolated from above (scan, if) run as native plans; others interpret.
                if not free and body_executor is not None:
                    return body_executor(block).run(args)
                return run_block(block, args, free)

            try:
                return list(op.opdef.evaluate(op, inputs[:n], nested))  # type: ignore[attr-defined]
            except EvaluationError:
                raise
            except _CAUGHT as exc:
                raise EvaluationError(op, exc) from exc

        if loop is not None and not outer:
            # A whole call's recording puts the loop into its own table (native_function.py),
            # unless the step count (operand 0) comes from the call's values.
            def inline(inputs: list[np.ndarray], recorder: Recorder) -> tuple[list[np.ndarray] | None, bool]:
                try:
                    return loop.record_inline(inputs, recorder)
                except EvaluationError:
                    raise
                except _CAUGHT as exc:
                    raise EvaluationError(op, exc) from exc

            return DeclaredStep(step, StepTraits(inline=inline, fixed_operands=(0,))), outer
        return step, outer

    def _planned(self, plan: Sequence[tuple[Step, tuple[int, ...], tuple[int, ...]]]) -> list[PlanEntry]:
        """The plan's entries: each step with the slots whose last use it is (cleared before it
        runs, freeing memory), the slots whose values it reads last while later steps read only
        their shapes (a gradient asks for the shapes of forward values: those become a
        :func:`_shape_stub` before it runs), and the operands whose buffers it may write its
        results over (runtime/buffer_reuse.py)."""
        last: dict[int, int] = {}
        last_value: dict[int, int] = {}
        value_reads: list[frozenset[int]] = []
        for k, ((_, ins, _), op) in enumerate(zip(plan, self.ops)):
            shape_only = _shape_only_operands(op)
            value_reads.append(frozenset(j for j in range(len(ins)) if j not in shape_only))
            for j, i in enumerate(ins):
                last[i] = k
                if j not in shape_only or i not in last_value:
                    last_value[i] = k
        constants = set(range(self.n_args, self.n_args + len(self.constants)))
        keep = set(self.result_slots) | constants
        free = plan_buffer_reuse([traits_of(step) for step, _, _ in plan], [ins for _, ins, _ in plan],
                                 [outs for _, _, outs in plan], value_reads,
                                 frozenset(keep | set(range(self.n_args))))
        dead: list[list[int]] = [[] for _ in plan]
        shaped: list[list[int]] = [[] for _ in plan]
        for slot, k in last.items():
            if slot not in keep:
                dead[k].append(slot)
                if last_value[slot] < k and slot >= self.n_args:  # the caller holds the arguments
                    shaped[last_value[slot]].append(slot)
        return [PlanEntry(step, ins, outs, tuple(d), tuple(s), f)
                for (step, ins, outs), d, s, f in zip(plan, dead, shaped, free)]

    def _fresh_results(self, plan: Sequence[tuple[Step, tuple[int, ...], tuple[int, ...]]]) -> tuple[bool, ...]:
        made_fresh = {slot for step, _, outs in plan if traits_of(step).fresh_outputs for slot in outs}
        seen: set[int] = set()
        fresh = []
        for slot in self.result_slots:
            fresh.append(slot in made_fresh and slot not in seen)
            seen.add(slot)
        return tuple(fresh)

    # -- running -------------------------------------------------------------------------------
    def run(self, args: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Outputs (then update values) for the arguments (inputs, then shared values)."""
        refresh_thread_cap()
        replay = self.function_replay
        if replay is not None:
            results = replay.run(args)
            if results is not None:
                return results
        return self.run_plan(args)

    def _one_step_runner(self) -> Callable[[Sequence[np.ndarray]], list[np.ndarray]] | None:
        """:meth:`run_plan` for a plan of one step that reads arguments and constants and returns
        its results as they are (``f(x) = x + 1``): no slot table, which is most of such a call's
        cost in Python. None for any other plan."""
        if len(self.steps) != 1:
            return None
        # Its operands are arguments and constants: nothing to clear, stub or write over.
        step, ins, outs = self.steps[0][:3]
        if outs != self.result_slots:
            return None
        # The call written out as Python (``step([args[0], c1])``): building the operand list
        # from a template costs as much as the rest of such a call.
        names = {"step": step, "op": self.ops[0], "EvaluationError": EvaluationError, "caught": _CAUGHT}
        operands = []
        for i in ins:
            if i < self.n_args:
                operands.append(f"args[{i}]")
            else:
                names[f"c{i}"] = self.template[i]
                operands.append(f"c{i}")
        source = (f"def run(args):\n"
                  f"    try:\n"
                  f"        return step([{', '.join(operands)}])\n"
                  f"    except EvaluationError:\n"
                  f"        raise\n"
                  f"    except caught as exc:\n"
                  f"        raise EvaluationError(op, exc) from exc\n")
        exec(compile(source, "<one-step plan>", "exec"), names)  # noqa: S102 - text made from slot numbers only
        return names["run"]

    def run_plan(self, args: Sequence[np.ndarray]) -> list[np.ndarray]:
        """:meth:`run` step by step, in Python."""
        vals = self.template.copy()
        vals[:self.n_args] = args
        k = 0
        try:
            for step, ins, outs, dead, shaped, free in self.steps:
                inputs = [vals[i] for i in ins]
                for d in dead:
                    vals[d] = None
                for d in shaped:
                    vals[d] = _shape_stub(vals[d])
                results = step(inputs, free=free) if free else step(inputs)
                if len(outs) == 1:
                    vals[outs[0]] = results[0]
                else:
                    for j in range(len(outs)):
                        vals[outs[j]] = results[j]
                k += 1
        except EvaluationError:
            raise
        except _CAUGHT as exc:
            raise EvaluationError(self.ops[k], exc) from exc
        return [vals[i] for i in self.result_slots]

    def run_recorded(self, args: Sequence[np.ndarray], recorder: Recorder, moving: dict[int, tuple],
                     changing: set[int], from_call: set[int], donate: frozenset[int] = frozenset()
                     ) -> list[np.ndarray]:
        """:meth:`run` with ``recorder`` listening, for a native loop (runtime/native_loop.py).

        ``changing``: ids of the arguments whose values change from step to step; ``from_call``:
        ids of those that come from the call (all but constants: a later call gives others).
        ``moving``: id -> (array, bytes per step, root, offset) of the arguments whose data moves
        (from step to step, or to the next call's arrays), extended here with the views the steps
        make of them. A step that is not ``recordable`` runs unrecorded; it must then read
        nothing that changes, and a recording where it reads a call's value cannot be reused by
        a later call (``recorder.not_reusable``).

        The recorder keeps every value alive (its address is in the recorded calls); a dead
        intermediate is still written over where the plan allows (``free``), as in :meth:`run`,
        so the replay makes the same writes. A value computed once by an unrecorded step is
        pinned (``recorder.pin``): the replay never recomputes it, so it is never written over.

        ``donate``: argument slots whose update step writes into the argument itself (see
        runtime/donation.py); ``recorder.commit_mark`` notes where the commit tail's calls begin.
        """
        recorder.moving = moving
        forced = {d.step: d.operand for d in self.donations if d.arg in donate}
        vals = self.template.copy()
        vals[:self.n_args] = args
        changed = {i for i, a in enumerate(args) if id(a) in changing}
        derived = {i for i, a in enumerate(args) if id(a) in from_call}
        pinned = recorder.pinned
        for index, ((step, ins, outs, dead, shaped, free), op) in enumerate(zip(self.steps, self.ops)):
            if index == self.commit_from:
                recorder.commit_mark = len(recorder.entries)
            inputs = [vals[i] for i in ins]
            for d in dead:
                vals[d] = None
            for d in shaped:
                vals[d] = _shape_stub(vals[d])
            # Shapes are the same at every step: an op that reads only shapes gives fixed values.
            shapes_only = op.name in _SHAPE_READERS
            reads_changing = not shapes_only and any(i in changed for i in ins)
            reads_call = not shapes_only and any(i in derived for i in ins)
            traits = traits_of(step)
            if traits.recordable:
                # Operands the step reads in Python (indices, BLAS's alpha and beta) must not
                # change from step to step: their first values are baked into the calls.
                fixed = [ins[k] for k in traits.fixed_operands if k < len(ins)]
                if any(i in changed for i in fixed):
                    recorder.invalidate(f"{op.name} reads a per-step operand in Python")
                if any(i in derived for i in fixed):
                    recorder.not_reusable = f"{op.name} reads an operand of the call in Python"
                mark, reason, threads = len(recorder.entries), recorder.reason, recorder.threads_now
                operand = forced.get(index)
                if free and pinned:
                    free = tuple(j for j in free if id(inputs[j]) not in pinned)
                if operand is not None:
                    results = step(inputs, out=inputs[operand], free=free) if free else \
                        step(inputs, out=inputs[operand])
                else:
                    results = step(inputs, free=free) if free else step(inputs)
                recorder.note_written(results, mark)
                if recorder.pool_calls and reason is None and recorder.reason is not None and reads_changing:
                    # It computed in Python after all: a whole call's replay runs it as an island.
                    del recorder.entries[mark:]
                    recorder.reason, recorder.threads_now = None, threads
                    recorder.pin(results)
                    recorder.island(step, inputs, results)
            else:
                # A whole call's replay runs such a step in Python between native stretches,
                # unless it is a loop that records itself into the call's table (``inline``).
                island = reads_changing and recorder.pool_calls
                if reads_changing and not island:
                    recorder.invalidate(f"{op.name} reads values that change (per step or call) and is not recordable")
                if reads_call and not island:
                    recorder.not_reusable = f"{op.name} computes from the call's values in Python"
                inline = traits.inline if island else None
                if inline is not None and any(ins[k] in derived for k in traits.fixed_operands):
                    inline = None  # its step count comes from the call's values
                results, inlined = None, False
                RECORDING.recorder = None
                try:
                    if inline is not None:
                        results, inlined = inline(inputs, recorder)
                    if results is None:
                        results = step(inputs)
                finally:
                    RECORDING.recorder = recorder
                if not inlined:
                    recorder.pin(results)  # see the docstring
                if island and not inlined:
                    recorder.island(step, inputs, results)
            recorder.hold(results)
            for slot, value in zip(outs, results):
                vals[slot] = value
                if reads_changing:
                    changed.add(slot)
                if not reads_call:
                    continue
                derived.add(slot)
                if type(value) is np.ndarray and id(value) not in moving:
                    # A view of a moving array moves with it (a kernel's output is its own buffer).
                    for a in inputs:
                        source = moving.get(id(a))
                        if source is not None and np.may_share_memory(value, a):
                            root_address = a.ctypes.data - source[3]
                            moving[id(value)] = (value, source[1], source[2], value.ctypes.data - root_address)
                            break
        return [vals[i] for i in self.result_slots]

    def describe(self) -> str:
        """One line per step: op name and how it runs."""
        return "\n".join(f"{name}: {kind}" for name, kind in self.step_kinds)


#: The CPU's step for each kind of the step table; kinds not here (loops, references) are built
#: by the plan itself.
_STEP_BUILDERS: dict[StepKind, Callable[..., tuple[Step, str] | None]] = {
    StepKind.ELEMENTWISE: NativeExecutor._elementwise_step,
    StepKind.REDUCTION: NativeExecutor._reduction_step,
    StepKind.ROW: NativeExecutor._row_step,
    StepKind.CONV_POOL: NativeExecutor._conv_pool_step,
    StepKind.INDEX: NativeExecutor._index_step,
    StepKind.BLAS: NativeExecutor._blas_step,
    StepKind.COLLECTIVE: NativeExecutor._collective_step,
}
