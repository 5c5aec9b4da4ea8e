"""EASGD's elastic exchange: the update rule, the period, checked arguments."""

import numpy as np
import pytest
from tests.distributed.solo import SoloCommunicator

import tensorir as tr
from tensorir.distributed import ElasticAveraging, World
from tensorir.distributed.easgd import MODES


@pytest.mark.parametrize("mode", MODES)
def test_exchange_pulls_replica_and_center_together_every_period(mode):
    x = tr.shared(np.array([1.0, 3.0]), name="x")
    b = tr.shared(np.array(2.0, dtype=np.float32), name="b")
    easgd = ElasticAveraging(World(SoloCommunicator()), [x, b], period=2, moving_rate=0.5, mode=mode)
    x.set_value(np.array([3.0, 7.0]))  # trained away from the center [1, 3]
    b.set_value(np.array(4.0, dtype=np.float32))
    assert easgd.after_step() is False
    assert easgd.after_step() is True
    # d = 0.5 * (x - c) = [1, 2]: x <- x - d, c <- c + sum over the one process of d
    np.testing.assert_allclose(x.get_value(), [2.0, 5.0])
    center_x, center_b = easgd.read_center()
    np.testing.assert_allclose(center_x.get_value(), [2.0, 5.0])
    assert b.get_value() == center_b.get_value() == 3.0 and b.get_value().dtype == np.float32


@pytest.mark.parametrize("kwargs,message", [
    ({"period": 0}, "period must be a positive number of steps"),
    ({"moving_rate": 1.5}, "moving_rate must be in \\(0, 1\\]"),
    ({"mode": "hogwild"}, "mode must be one of \\('synchronous', 'asynchronous'\\), got 'hogwild'"),
])
def test_bad_arguments_say_what_is_allowed(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ElasticAveraging(World(SoloCommunicator()), [tr.shared(np.ones(2))], **kwargs)
