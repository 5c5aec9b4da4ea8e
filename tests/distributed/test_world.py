"""The World's symbolic allreduce and its argument checks (one process, no MPI needed)."""

import numpy as np
import pytest
from tests.distributed.solo import SoloCommunicator

import tensorir as tr
import tensorir.tensor as T
from tensorir.distributed import World, init


def test_allreduce_keeps_the_structure_and_runs_in_the_function():
    world = World(SoloCommunicator())
    x = T.vector("x")
    single = world.allreduce(x * 2, op="sum")
    pair = world.allreduce([x, x + 1])
    assert isinstance(pair, list) and len(pair) == 2
    f = tr.function([x], [single, *pair])
    out = f(np.array([1.0, 2.0]))
    np.testing.assert_allclose(out[0], [2.0, 4.0])
    np.testing.assert_allclose(out[2], [2.0, 3.0])


def test_bad_arguments_say_what_is_allowed():
    world = World(SoloCommunicator())
    with pytest.raises(ValueError, match="op must be one of \\('sum', 'mean'\\), got 'max'"):
        world.allreduce(T.vector(), op="max")
    with pytest.raises(TypeError, match="variables\\[0\\] is ndarray, not a symbolic variable"):
        world.allreduce([np.ones(2)])
    with pytest.raises(TypeError, match="variables\\[0\\] is ndarray, not a shared variable"):
        world.broadcast_shared([np.ones(2)])
    with pytest.raises(ValueError, match="backend must be one of \\['mpi', 'nccl'\\], got 'gloo'"):
        init("gloo")
    with pytest.raises(ValueError, match="timeout_s must be positive"):
        init(timeout_s=0)
    with pytest.raises(NotImplementedError, match="backend 'nccl' needs tensorir's GPU runtime"):
        init("nccl")
