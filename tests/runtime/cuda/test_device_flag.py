"""The ``device`` flag: its spellings, its errors, and what ``device=cuda`` says without a driver."""

from __future__ import annotations

import numpy as np
import pytest

import tensorir as tr
import tensorir.tensor as T
from tensorir.frontend.config import ConfigError, load_config
from tensorir.runtime.cuda.device_flag import DeviceChoice, on_device, parse_device
from tensorir.runtime.cuda.driver import CudaUnavailable, unavailable_reason


@pytest.mark.parametrize(("text", "choice"), [
    ("cpu", DeviceChoice("cpu")), ("cuda", DeviceChoice("cuda", 0)), ("cuda0", DeviceChoice("cuda", 0)),
    ("cuda1", DeviceChoice("cuda", 1)), ("gpu", DeviceChoice("cuda", 0)), ("GPU2", DeviceChoice("cuda", 2)),
    (" cuda3 ", DeviceChoice("cuda", 3)),
])
def test_spellings(text: str, choice: DeviceChoice) -> None:
    assert parse_device(text) == choice


@pytest.mark.parametrize("text", ["cpu0", "cuda-1", "opencl", "cuda 1", "", "tpu"])
def test_bad_values_name_what_is_allowed(text: str) -> None:
    with pytest.raises(ValueError, match="expected cpu, cuda, cudaN or gpu"):
        parse_device(text)


def test_the_flag_from_the_environment_and_python() -> None:
    assert load_config({"TENSORIR_FLAGS": "device=cuda1"}).device == "cuda1"
    assert load_config({"TENSORIR_FLAGS": "device=cuda"}).device == "cuda0"
    assert load_config({}).device == "cpu"
    with pytest.raises(ConfigError, match="TENSORIR_FLAGS: flag device: expected cpu, cuda"):
        load_config({"TENSORIR_FLAGS": "device=opencl"})
    with tr.change_flags(device="gpu"):
        assert tr.config.device == "cuda0"
    assert tr.config.device == "cpu"


def test_theano_rule_for_what_lives_on_the_gpu() -> None:
    assert on_device("float32", 1) and on_device("float64", 2) and on_device("int64", 1) and on_device("int32", 3)
    assert not on_device("float32", 0)  # scalars stay on the host
    assert not on_device("bool", 2) and not on_device("complex128", 1) and not on_device("uint8", 1)


@pytest.mark.skipif(unavailable_reason() is None, reason="a CUDA device is present")
def test_without_a_driver_device_cuda_says_what_is_missing() -> None:
    reason = unavailable_reason()
    x = T.vector("x")
    with tr.change_flags(device="cuda1"):
        with pytest.raises(CudaUnavailable) as function_error:
            tr.function([x], x * 2)
        with pytest.raises(CudaUnavailable) as shared_error:
            tr.shared(np.zeros(3, "float32"))
    for error in (function_error, shared_error):
        assert str(error.value) == f"device=cuda1: {reason}"
    # Scalars and the CPU are not affected.
    with tr.change_flags(device="cuda"):
        assert isinstance(tr.shared(1.5).get_value(), np.ndarray)
    np.testing.assert_array_equal(tr.function([x], x * 2)(np.ones(2)), [2, 2])
