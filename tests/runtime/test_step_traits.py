"""Step traits: every step class of the runtime declares what it can do, and ``traits_of`` answers
from those declarations (a plain function as a step gets the reference's defaults)."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil

import numpy as np
import pytest

import tensorir as tr
import tensorir.runtime
import tensorir.tensor as T
from tensorir.frontend.scan import scan
from tensorir.runtime.step_traits import REFERENCE_TRAITS, DeclaredStep, StepTraits, traits_of


def _step_classes() -> list[type]:
    """The callable classes named ``...Step`` in the runtime's modules (the wrapper aside)."""
    found = []
    for info in pkgutil.iter_modules(tensorir.runtime.__path__, "tensorir.runtime."):
        if info.ispkg:
            continue
        module = importlib.import_module(info.name)
        for name, cls in vars(module).items():
            if (inspect.isclass(cls) and cls.__module__ == module.__name__ and name.endswith("Step")
                    and "__call__" in dir(cls) and cls is not DeclaredStep and not name.startswith("_")):
                found.append(cls)
    return found


def _declared(step: object) -> StepTraits:
    """The traits ``step`` declares itself: set on the instance, or in its own class's body."""
    if isinstance(step, DeclaredStep):
        return step.traits
    own = vars(step).get("traits")
    return own if own is not None else vars(type(step))["traits"]


def test_the_runtime_has_the_step_classes_we_expect() -> None:
    names = {cls.__name__ for cls in _step_classes()}
    assert {"ElementwiseStep", "ReductionStep", "RowStep", "BlasStep", "ConvStep", "PoolStep", "SubtensorStep",
            "IndexWriteStep", "SumToStep", "ViewStep", "PadLeadingStep", "AllreduceStep"} <= names


@pytest.mark.parametrize("cls", _step_classes(), ids=lambda cls: cls.__name__)
def test_every_step_class_declares_its_traits(cls: type) -> None:
    # In its own body, not inherited: a class-wide value, or an annotation for one set per step.
    if "traits" in vars(cls):
        assert isinstance(vars(cls)["traits"], StepTraits)
    else:
        assert "traits" in inspect.get_annotations(cls), f"{cls.__name__} declares no traits"


def test_traits_of_answers_from_the_declarations_of_a_plan() -> None:
    x, W = T.matrix("x"), T.matrix("W")
    h, _ = scan(lambda hp, W: T.tanh(T.dot(hp, W)), outputs_info=x, non_sequences=W, n_steps=3)
    outputs = [T.exp(x) + W, x.sum(axis=0), T.dot(x, W), x[1:], x.T, T.nnet.softmax(x), h, x.argmax(axis=1)]
    f = tr.function([x, W], outputs, mode="FAST_RUN")
    by_kind: dict[str, list[object]] = {}
    for (step, *_), (_, kind) in zip(f.executor.steps, f.executor.step_kinds):
        by_kind.setdefault(kind, []).append(step)
        if kind == "reference":
            assert traits_of(step) is REFERENCE_TRAITS
        else:
            assert traits_of(step) is _declared(step)
    assert {"kernel", "blas", "view", "loop", "reference"} <= set(by_kind)
    # Per-op answers: an elementwise step may write over an operand of the result's dtype and
    # rank; gemm reads alpha and beta in Python and accumulates into operand 0.
    fused = next(s for s in by_kind["kernel"] if type(s).__name__ == "ElementwiseStep")
    assert traits_of(fused).elementwise and traits_of(fused).recordable and traits_of(fused).fresh_outputs
    assert traits_of(fused).inplace_operands == (0, 1)
    (gemm,) = by_kind["blas"]
    assert traits_of(gemm).fixed_operands == (1, 4) and traits_of(gemm).inplace_operands == (0,)
    assert not traits_of(gemm).elementwise
    # A native loop records itself into a call's table; its step count is read in Python.
    (loop,) = by_kind["loop"]
    assert isinstance(loop, DeclaredStep)
    assert traits_of(loop).inline is not None and traits_of(loop).fixed_operands == (0,)
    assert not traits_of(loop).recordable
    np.testing.assert_allclose(f(np.eye(2), np.eye(2))[0], np.exp(np.eye(2)) + np.eye(2))


def test_a_reference_step_gets_the_defaults() -> None:
    def reference(inputs: list[np.ndarray]) -> list[np.ndarray]:
        return inputs

    traits = traits_of(reference)
    assert traits == StepTraits() and traits is REFERENCE_TRAITS
    assert dataclasses.asdict(traits) == {"recordable": False, "fresh_outputs": False, "fixed_operands": (),
                                          "inline": None, "fills_results": False, "inplace_operands": (),
                                          "elementwise": False, "reuses_dead_operands": False}


def test_a_step_class_without_traits_fails_loudly() -> None:
    class Undeclared:
        def __call__(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
            return inputs

    with pytest.raises(AttributeError):
        traits_of(Undeclared())


def test_traits_are_frozen_data() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        REFERENCE_TRAITS.recordable = True  # type: ignore[misc]
