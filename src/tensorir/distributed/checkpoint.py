"""Checkpoints written by rank 0 and read back by any number of processes.

In synchronous data parallelism every process holds the same parameters and optimizer state, so
a checkpoint is rank 0's values plus the position in the data as (epoch, global batch): nothing in
it depends on the number of processes, and a run resumes with a different one (the batches of
:class:`~tensorir.distributed.sharding.ShardedBatches` are defined by the global batch). On
resume, rank 0 reads the file and broadcasts the values, so only rank 0 needs to see it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tensorir.frontend.shared import SharedVariable

__all__ = ["load_checkpoint", "save_checkpoint"]

_META = "__meta__"


def _describe(variables: Sequence[SharedVariable], kind: str) -> list[dict[str, Any]]:
    return [{"kind": kind, "name": v.name, "shape": list(v.get_value(borrow=True).shape),
             "dtype": v.get_value(borrow=True).dtype.str} for v in variables]


def save_checkpoint(path: str | os.PathLike, world: Any, params: Sequence[SharedVariable],
                    optimizer_state: Sequence[SharedVariable] = (), position: Mapping[str, Any] | None = None
                    ) -> Path:
    """Rank 0 writes ``params`` and ``optimizer_state`` (velocities, step counts: shared variables)
    and ``position`` (JSON-able, e.g. ``{"epoch": 3, "batch": 120}``) to ``path`` (an ``.npz``);
    every process returns once it is written. The file is replaced atomically, so a crash while
    writing leaves the previous checkpoint."""
    path = Path(path)
    variables = [*params, *optimizer_state]
    for k, v in enumerate(variables):
        if not isinstance(v, SharedVariable):
            raise TypeError(f"save_checkpoint: item {k} of params/optimizer_state is {type(v).__name__}, "
                            "not a shared variable")
    if world.rank == 0:
        meta = {"variables": _describe(params, "param") + _describe(optimizer_state, "state"),
                "position": dict(position or {}), "saved_by_size": world.size}
        arrays = {f"v{k}": v.get_value(borrow=True) for k, v in enumerate(variables)}
        arrays[_META] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        tmp = path.with_name(path.name + ".tmp.npz")
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    world.barrier()
    return path


def load_checkpoint(path: str | os.PathLike, world: Any, params: Sequence[SharedVariable],
                    optimizer_state: Sequence[SharedVariable] = ()) -> dict[str, Any]:
    """Set ``params`` and ``optimizer_state`` from the checkpoint at ``path`` (read by rank 0,
    broadcast to all) and return its position. The variables must match the saved ones in
    number, shape and dtype; the number of processes may differ."""
    variables = [*params, *optimizer_state]
    error = None
    meta: dict[str, Any] = {}
    if world.rank == 0:
        try:
            with np.load(Path(path)) as data:
                meta = json.loads(bytes(data[_META]).decode())
                saved = meta["variables"]
                here = _describe(params, "param") + _describe(optimizer_state, "state")
                mismatch = [(k, s, h) for k, (s, h) in enumerate(zip(saved, here))
                            if (s["kind"], s["shape"], s["dtype"]) != (h["kind"], h["shape"], h["dtype"])]
                if len(saved) != len(here) or mismatch:
                    detail = (f"{len(saved)} saved, {len(here)} given" if len(saved) != len(here) else
                              f"variable {mismatch[0][0]} saved as {mismatch[0][1]}, given {mismatch[0][2]}")
                    raise ValueError(f"load_checkpoint: {path} does not match the variables: {detail}")
                for k, v in enumerate(variables):
                    v.set_value(data[f"v{k}"])
        except (OSError, ValueError, KeyError) as exc:
            error = f"{type(exc).__name__}: {exc}"
    # Every process learns whether rank 0 could read it, so all raise together instead of waiting.
    error, meta = world.broadcast_object((error, meta))
    if error is not None:
        raise ValueError(f"load_checkpoint: rank 0 could not restore {path}: {error}")
    world.broadcast_shared(variables)
    return {**meta["position"], "saved_by_size": meta["saved_by_size"]}
