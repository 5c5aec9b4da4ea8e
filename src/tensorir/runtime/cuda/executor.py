"""A ``device=cuda`` function: the native executor's plan with the GPU's steps, and the call's edges.

The plan is :class:`~tensorir.runtime.native.NativeExecutor`'s, built from the GPU's step table
and builders (``runtime/cuda/steps.py``) over a function whose transfers were made explicit
(``passes/device_transfer.py``). Around it a call:

1. uploads the NumPy arguments that live on the GPU (``device_flag.on_device``) through pinned
   staging; device arrays (GPU shared variables) are passed as they are;
2. runs the plan on the function's own stream, then synchronizes it: a failed kernel raises
   there, before anything is written back;
3. writes each update into its shared variable's own device buffer (a device-to-device copy;
   the variable keeps its array object, so ``borrow=True`` holders see the new values), after
   every result exists, so a failed call leaves the shared variables unchanged;
4. gives the outputs as NumPy arrays, or as device arrays with ``return_device_arrays``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tensorir.dialects.ir import Operation
from tensorir.runtime.cuda.context import runtime_for
from tensorir.runtime.cuda.device_array import DeviceArray
from tensorir.runtime.cuda.device_flag import on_device
from tensorir.runtime.cuda.graphs import GraphedCall, capture_refusal, plan_summaries
from tensorir.runtime.cuda.modules import KernelSet
from tensorir.runtime.cuda.prepare import PreparedDevice, prepare_directory
from tensorir.runtime.cuda.row_steps import run_pending
from tensorir.runtime.cuda.steps import GPU_STEP_BUILDERS, GpuFunctionContext, gpu_step_kind
from tensorir.runtime.native import DeviceSteps, NativeExecutor
from tensorir.runtime.reference import ReferenceExecutor

__all__ = ["CudaExecutor"]


class CudaExecutor:
    """Runs a ``func.func`` (its transfers inserted) on CUDA device ``ordinal`` (module docstring)."""

    kind = "cuda"

    def __init__(self, func: Operation, ordinal: int = 0, opt_level: int = 3, cache_dir: str | None = "",
                 donations: Mapping[int, int] | None = None, return_device_arrays: bool = False) -> None:
        # Without a GPU, under TENSORIR_CUDA_PREPARE (runtime/cuda/prepare.py): the plan and its
        # PTX are made as for the device; calls run the function on the NumPy reference.
        self.prepared = prepare_directory() is not None
        if self.prepared:
            device: Any = PreparedDevice.from_environment()
            self.memory = None
        else:
            runtime = runtime_for(ordinal)
            device = runtime.device
            self.memory = runtime.stream_memory()
        self.kernels = KernelSet(device, cache_dir)
        context = self.context = GpuFunctionContext(self.memory, self.kernels, device.limits)
        block = func.regions[0].block
        self.upload = [on_device(a.type.dtype, a.type.ndim) for a in block.arguments]
        self.plan = NativeExecutor(func, opt_level, cache_dir=cache_dir, native_loops=False, native_calls=False,
                                   device=DeviceSteps(gpu_step_kind, GPU_STEP_BUILDERS, context))
        if self.prepared:
            self.kernels.prepare()
            self.reference = ReferenceExecutor(func)
        else:
            self.kernels.load()  # kernel compile or load errors show at compile time
        #: The whole call as one CUDA graph per signature where the rule allows it (``graphs.py``;
        #: off unless ``TENSORIR_CUDA_GRAPHS=1``); ``self.graphed.reason`` says why not.
        self.graphed = GraphedCall(self.plan.run, context, capture_refusal(
            plan_summaries(self.plan.ops, [kind for _, kind in self.plan.step_kinds])))
        n_results = len(block.terminator.operands) if block.terminator is not None else 0
        #: Results that live on the host: a deferred download (``steps.download_deferred``) hands
        #: them over as device arrays, which the call downloads once the plan has run.
        self.host_results = {i for i, v in enumerate(block.terminator.operands if block.terminator else [])
                             if not on_device(v.type.dtype, v.type.ndim)}
        self.donations = dict(donations or {})
        self.outputs = [i for i in range(n_results) if i not in self.donations]
        self.return_device_arrays = return_device_arrays
        #: Every result is a new array (downloaded, or a device array made by this call).
        self.fresh_results = (True,) * n_results

    @property
    def step_kinds(self) -> list[tuple[str, str]]:
        return self.plan.step_kinds

    def describe(self) -> str:
        """The plan's steps, then the route each convolution shape took (cuDNN's algorithm, or the
        implicit GEMM and why)."""
        routes = self.context.conv_choices.describe()
        return self.plan.describe() + (f"\nconvolution routes:\n{routes}" if routes else "")

    def run(self, args: Sequence[Any]) -> list[Any]:
        if self.prepared:
            return self.reference.run(args)
        memory = self.memory
        with memory.lock:
            device_args = [DeviceArray.from_host(a, memory) if up and isinstance(a, np.ndarray) else a
                           for a, up in zip(args, self.upload)]
            # The caller's device arrays (shared variables) keep their buffers from call to call: a
            # graph uses them in place; uploaded arguments are copied into the graph's buffers.
            in_place = [isinstance(a, DeviceArray) for a in args]
            try:
                results = self.graphed(device_args, in_place)
                memory.synchronize()
                run_pending(self.context)  # a bad label raises here, before any update is written
            finally:
                self.context.pending.clear()
            # Outputs first: one may view a shared variable whose buffer an update overwrites.
            roots = {id(a.root()) for a in device_args if isinstance(a, DeviceArray)}
            for i in self.outputs:
                value = results[i]
                if isinstance(value, DeviceArray):
                    if not self.return_device_arrays or i in self.host_results:
                        results[i] = value.get()
                    elif id(value.root()) in roots or self.graphed.cache:
                        # Never hand out (a view of) an argument's buffer, nor a graph's output
                        # buffer, which its next launch overwrites.
                        results[i] = value.copy()
            for r, a in self.donations.items():
                new, old = results[r], args[a]
                if r in self.host_results and isinstance(new, DeviceArray):
                    results[r] = new.get()  # a host shared variable's new value (a deferred download)
                elif (isinstance(new, DeviceArray) and isinstance(old, DeviceArray) and new is not old
                        and new.shape == old.shape and new.dtype == old.dtype):
                    if new.nbytes:
                        memory.copy(old.address, new.address, new.nbytes)
                    results[r] = old
                elif isinstance(new, DeviceArray) and (id(new.root()) in roots or self.graphed.cache):
                    results[r] = new.copy()  # a view of an argument, or a graph's buffer: a buffer of its own
            memory.synchronize()
        return results
