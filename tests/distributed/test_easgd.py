"""EASGD's elastic exchange: the update rule, the period, checked arguments."""

import numpy as np
import pytest
from tests.distributed.solo import SoloCommunicator

import tensorir as tr
from tensorir.distributed import ElasticAveraging, World


def test_exchange_pulls_replica_and_center_together_every_period():
    x = tr.shared(np.array([1.0, 3.0]), name="x")
    easgd = ElasticAveraging(World(SoloCommunicator()), [x], period=2, moving_rate=0.5)
    x.set_value(np.array([3.0, 7.0]))  # trained away from the center [1, 3]
    assert easgd.after_step() is False
    assert easgd.after_step() is True
    # d = 0.5 * (x - c) = [1, 2]: x <- x - d, c <- c + sum over the one process of d
    np.testing.assert_allclose(x.get_value(), [2.0, 5.0])
    np.testing.assert_allclose(easgd.center[0].get_value(), [2.0, 5.0])


@pytest.mark.parametrize("kwargs,message", [
    ({"period": 0}, "period must be a positive number of steps"),
    ({"moving_rate": 1.5}, "moving_rate must be in \\(0, 1\\]"),
])
def test_bad_arguments_say_what_is_allowed(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ElasticAveraging(World(SoloCommunicator()), [tr.shared(np.ones(2))], **kwargs)
