"""tensorir's stand-in for ``tests/unittest_tools.py`` of PyTensor's repository.

PyTensor's source distribution ships some test modules but not the helper module they import
(``from tests import unittest_tools as utt``). ``run.py`` puts this file in its place, only when
the distribution lacks it. It provides the helpers those modules use, written for this purpose:
seeds, ``verify_grad`` over PyTensor's own ``pytensor.gradient.verify_grad``, a shape-inference
tester and graph-content assertions. A failure that comes from a difference between this file
and PyTensor's helper is classified as such in run.py's report ("stand-in helper").
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytensor
from pytensor.compile.mode import get_default_mode
from pytensor.gradient import verify_grad as _verify_grad

_DEFAULT_SEED = 42


def fetch_seed(pseed: Any = None) -> int:
    """A seed for a test: ``pseed`` when given, else PyTensor's ``unittests__rseed`` flag, else 42."""
    if pseed is not None:
        return int(pseed)
    seed = getattr(pytensor.config, "unittests__rseed", _DEFAULT_SEED)
    return _DEFAULT_SEED if seed in (None, "random") else int(seed)


def verify_grad(op: Any, pt: Any, n_tests: int = 2, rng: Any = None, *args: Any, **kwargs: Any) -> None:
    """PyTensor's finite-difference gradient check with a seeded generator by default."""
    if rng is None:
        rng = np.random.default_rng(fetch_seed())
    _verify_grad(op, pt, n_tests, rng, *args, **kwargs)


def assert_allclose(expected: Any, value: Any, rtol: float | None = None, atol: float | None = None) -> None:
    dtype = np.result_type(np.asarray(expected), np.asarray(value))
    default = 1e-4 if dtype in (np.float32, np.float16) else 1e-7
    np.testing.assert_allclose(value, expected, rtol=rtol or default, atol=atol or default)


class InferShapeTester:
    """Checks that the shapes PyTensor infers for an op's outputs are the outputs' real shapes."""

    def setup_method(self) -> None:
        self.mode = get_default_mode()

    def _compile_and_check(self, inputs: list[Any], outputs: list[Any], numeric_inputs: list[Any], cls: Any,
                           excluding: Any = None, warn: bool = True, check_topo: bool = True) -> None:
        mode = self.mode.excluding(*excluding) if excluding else self.mode
        outputs_function = pytensor.function(inputs, outputs, mode=mode)
        if check_topo:
            ops = [type(node.op) for node in outputs_function.maker.fgraph.toposort()]
            assert any(issubclass(op, cls) for op in ops), f"{cls.__name__} is not in the compiled graph: {ops}"
        shapes_function = pytensor.function(inputs, [o.shape for o in outputs], mode=mode, on_unused_input="ignore")
        values = outputs_function(*numeric_inputs)
        shapes = shapes_function(*numeric_inputs)
        for k, (value, shape) in enumerate(zip(values, shapes)):
            assert tuple(np.shape(value)) == tuple(shape), (
                f"output {k}: inferred shape {tuple(shape)}, computed {np.shape(value)}")


class OptimizationTestMixin:
    """Assertions on which ops a compiled function's graph contains."""

    def assertFunctionContains(self, f: Any, op: Any, min: int = 1, max: float = math.inf) -> None:  # noqa: A002, N802
        count = sum(1 for node in f.maker.fgraph.apply_nodes if node.op == op)
        assert min <= count <= max, f"{op} occurs {count} times, expected between {min} and {max}"

    def assertFunctionContains0(self, f: Any, op: Any) -> None:  # noqa: N802
        self.assertFunctionContains(f, op, 0, 0)

    def assertFunctionContains1(self, f: Any, op: Any) -> None:  # noqa: N802
        self.assertFunctionContains(f, op, 1, 1)

    def assertFunctionContainsN(self, f: Any, op: Any, n: int) -> None:  # noqa: N802
        self.assertFunctionContains(f, op, n, n)

    def assertFunctionContainsClass(self, f: Any, cls: Any, min: int = 1, max: float = math.inf) -> None:  # noqa: A002, N802
        count = sum(1 for node in f.maker.fgraph.apply_nodes if isinstance(node.op, cls))
        assert min <= count <= max, f"{cls.__name__} occurs {count} times, expected between {min} and {max}"
