"""Rank-0 checkpoints: parameters, optimizer state and position round-trip; mismatches are refused."""

import numpy as np
import pytest
from tests.distributed.solo import SoloCommunicator

import tensorir as tr
from tensorir.distributed import World, load_checkpoint, save_checkpoint


def test_round_trip_restores_values_and_position(tmp_path):
    world = World(SoloCommunicator())
    W, v = tr.shared(np.arange(6.0).reshape(2, 3), name="W"), tr.shared(np.ones(3), name="v")
    path = save_checkpoint(tmp_path / "ck.npz", world, [W], [v], {"step": 7, "epoch": 1})
    W.set_value(np.zeros((2, 3)))
    v.set_value(np.zeros(3))
    position = load_checkpoint(path, world, [W], [v])
    assert position == {"step": 7, "epoch": 1, "saved_by_size": 1}
    np.testing.assert_array_equal(W.get_value(), np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(v.get_value(), np.ones(3))
    assert not list(tmp_path.glob("*.tmp.npz"))


def test_a_checkpoint_of_other_variables_is_refused(tmp_path):
    world = World(SoloCommunicator())
    path = save_checkpoint(tmp_path / "ck.npz", world, [tr.shared(np.ones(3))])
    with pytest.raises(ValueError, match="variable 0 saved as .*'shape': \\[3\\].*given.*'shape': \\[4\\]"):
        load_checkpoint(path, world, [tr.shared(np.ones(4))])
    with pytest.raises(ValueError, match="1 saved, 2 given"):
        load_checkpoint(path, world, [tr.shared(np.ones(3))], [tr.shared(np.ones(3))])
    with pytest.raises(ValueError, match="rank 0 could not restore"):
        load_checkpoint(tmp_path / "missing.npz", world, [tr.shared(np.ones(3))])


def test_only_shared_variables_are_saved(tmp_path):
    with pytest.raises(TypeError, match="item 0 of params/optimizer_state is ndarray"):
        save_checkpoint(tmp_path / "ck.npz", World(SoloCommunicator()), [np.ones(3)])
