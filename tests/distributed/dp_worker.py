"""A data-parallel training run for the tests, started by ``mpirun -n N`` (or alone: one process).

Trains a small MLP or a LeNet-shaped network in float64 on seeded synthetic data with momentum
SGD, global batch ``--batch`` split over the processes by ShardedBatches, the gradients
mean-allreduced inside the compiled function; each process writes its final values to ``--out`` + ``.rank<r>.npz``.
Options for the other tests: ``--save-at``/``--resume`` (checkpoints), ``--die-at`` (a process
kills itself), ``--stall-at`` (a process stops calling the function), ``--easgd-period``
(elastic averaging instead of allreduced gradients), ``--bucket-bytes``, ``--no-overlap`` and
``--progress`` (how the gradients travel).
"""

from __future__ import annotations

import argparse
import os
import signal
import time

import numpy as np

import tensorir as tr
import tensorir.distributed as dist
import tensorir.tensor as T
from tensorir.tensor.signal import pool

N_EXAMPLES = 480
LEARNING_RATE = 0.05
MOMENTUM = 0.9


def make_data(model: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    features = 64 if model == "mlp" else 784
    return rng.uniform(0, 1, (N_EXAMPLES, features)), rng.integers(0, 10, N_EXAMPLES).astype(np.int32)


def glorot(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, fan_out: int) -> tr.SharedVariable:
    bound = np.sqrt(6.0 / (fan_in + fan_out))
    return tr.shared(rng.uniform(-bound, bound, shape))


def build(model: str, local_batch: int, seed: int) -> tuple[list[tr.SharedVariable], T.TensorVariable, ...]:
    """Parameters (initialized from ``seed``: differs per rank until broadcast), inputs and cost."""
    rng = np.random.default_rng(seed)
    x, y = T.matrix("x"), T.ivector("y")
    if model == "mlp":
        W0, W1 = glorot(rng, (64, 32), 64, 32), glorot(rng, (32, 10), 32, 10)
        b0, b1 = tr.shared(np.zeros(32)), tr.shared(np.zeros(10))
        params = [W0, b0, W1, b1]
        h = T.tanh(T.dot(x, W0) + b0)
    else:  # LeNet's shapes (tutorial: 20 and 50 kernels of 5x5, 500 hidden units) at 28x28
        k0, k1 = glorot(rng, (20, 1, 5, 5), 25, 125), glorot(rng, (50, 20, 5, 5), 500, 312)
        c0, c1 = tr.shared(np.zeros(20)), tr.shared(np.zeros(50))
        W0, W1 = glorot(rng, (800, 500), 800, 500), glorot(rng, (500, 10), 500, 10)
        b0, b1 = tr.shared(np.zeros(500)), tr.shared(np.zeros(10))
        params = [k0, c0, k1, c1, W0, b0, W1, b1]
        image = x.reshape((local_batch, 1, 28, 28))
        out0 = T.tanh(pool.pool_2d(T.nnet.conv2d(image, k0, filter_shape=(20, 1, 5, 5),
                                                 input_shape=(local_batch, 1, 28, 28)), ws=(2, 2), ignore_border=True)
                      + c0.dimshuffle("x", 0, "x", "x"))
        out1 = T.tanh(pool.pool_2d(T.nnet.conv2d(out0, k1, filter_shape=(50, 20, 5, 5),
                                                 input_shape=(local_batch, 20, 12, 12)), ws=(2, 2), ignore_border=True)
                      + c1.dimshuffle("x", 0, "x", "x"))
        h = T.tanh(T.dot(out1.flatten(2), W0) + b0)
    p = T.nnet.softmax(T.dot(h, W1) + b1)
    cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
    return params, x, y, cost


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=("mlp", "lenet"), default="mlp")
    parser.add_argument("--batch", type=int, default=8, help="global batch")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out", required=True)
    parser.add_argument("--save-at", type=int, help="write a checkpoint to --checkpoint after this step")
    parser.add_argument("--resume", action="store_true", help="start from --checkpoint")
    parser.add_argument("--checkpoint")
    parser.add_argument("--die-at", type=int, help="the last rank kills itself at this step")
    parser.add_argument("--stall-at", type=int, help="the last rank stops calling the function at this step")
    parser.add_argument("--easgd-period", type=int)
    parser.add_argument("--easgd-mode", default="synchronous")
    parser.add_argument("--last-rank-steps", type=int, help="steps of the last rank (asynchronous EASGD)")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--bucket-bytes", type=int, help="largest gradient message")
    parser.add_argument("--no-overlap", action="store_true", help="allreduce in one step, not split")
    parser.add_argument("--progress", default="thread", help="how transfers advance: thread or wait")
    args = parser.parse_args()

    world = dist.init(timeout_s=args.timeout, bucket_bytes=args.bucket_bytes, overlap=not args.no_overlap,
                      progress=args.progress)
    batches = dist.ShardedBatches.for_world(world, N_EXAMPLES, args.batch, seed=3)
    params, x, y, cost = build(args.model, batches.local_batch, seed=11 + world.rank)
    world.broadcast_shared(params)
    velocities = [tr.shared(np.zeros_like(p.get_value())) for p in params]
    grads = tr.grad(cost, params)
    if args.easgd_period is None:
        grads = world.allreduce(grads, op="mean")
    updates = []
    for p, v, g in zip(params, velocities, grads):
        updates += [(v, MOMENTUM * v - LEARNING_RATE * g), (p, p + MOMENTUM * v - LEARNING_RATE * g)]
    train = tr.function([x, y], cost, updates=updates)
    easgd = None
    if args.easgd_period:
        easgd = dist.ElasticAveraging(world, params, period=args.easgd_period, mode=args.easgd_mode)
    if args.last_rank_steps is not None and world.rank == world.size - 1:
        args.steps = args.last_rank_steps

    data_x, data_y = make_data(args.model)
    step = 0
    if args.resume:
        step = dist.load_checkpoint(args.checkpoint, world, params, velocities)["step"]
    while step < args.steps:
        epoch, batch = divmod(step, batches.batches_per_epoch)
        rows = batches.indices(epoch, batch)
        if args.die_at is not None and step == args.die_at and world.rank == world.size - 1:
            os.kill(os.getpid(), signal.SIGKILL)
        if args.stall_at is not None and step == args.stall_at and world.rank == world.size - 1:
            time.sleep(3600)
        train(data_x[rows], data_y[rows])
        step += 1
        if easgd is not None:
            easgd.after_step()
        if args.save_at == step:
            dist.save_checkpoint(args.checkpoint, world, params, velocities, {"step": step})
    if easgd is not None:
        world.barrier()  # every process's last exchange is in the center
    final = easgd.read_center() if easgd is not None else params
    values = {f"p{k}": p.get_value() for k, p in enumerate(final)}
    if easgd is not None:
        values.update({f"local{k}": p.get_value() for k, p in enumerate(params)})
    np.savez(f"{args.out}.rank{world.rank}.npz", **values)


if __name__ == "__main__":
    main()
