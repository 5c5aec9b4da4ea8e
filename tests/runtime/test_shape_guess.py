"""Kernels chosen ahead of the first call from shared variables' current shapes
(runtime/shape_guess.py): the guess propagates through type inference, it moves the first
call's compiles into the executor's module, and a wrong guess changes no result."""

from __future__ import annotations

import numpy as np
import pytest

import tensorir as tr
import tensorir.tensor as T
from tensorir.runtime.compile_cache import get_cache
from tensorir.runtime.shape_guess import GuessedOp, guessed_types
from tensorir.tensor.signal.pool import pool_2d

RNG = np.random.default_rng(5)


def _classifier(n_in: int, n_out: int, dtype: str) -> tuple[tr.function, list]:
    x, y = T.matrix("x", dtype=dtype), T.ivector("y")
    w = tr.shared(RNG.normal(size=(n_in, n_out)).astype(dtype) * 0.1, name="W")
    b = tr.shared(np.zeros(n_out, dtype), name="b")
    p = T.nnet.softmax(T.dot(x, w) + b)
    cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
    gw, gb = tr.grad(cost, [w, b])
    lr = np.asarray(0.1, dtype)
    f = tr.function([x, y], cost, updates=[(w, w - lr * gw), (b, b - lr * gb)])
    return f, [w, b]


def test_guessed_types_follow_type_inference() -> None:
    f, _ = _classifier(30, 7, "float64")
    block = f.graph.module.functions[0].regions[0].block
    n_args = len(block.arguments)
    guessed = guessed_types(block, {n_args - 2: (30, 7), n_args - 1: (7,)})
    assert guessed[id(block.arguments[-2])].shape == (30, 7)
    dots = [op for op in block.operations if op.name in ("tir.dot", "tir.gemm")]
    assert dots and any(guessed.get(id(op.results[0])) is not None
                        and guessed[id(op.results[0])].shape[-1] == 7 for op in dots)
    seen = GuessedOp(dots[0], guessed)
    assert seen.name == dots[0].name and seen.attributes is dots[0].attributes
    # Hints that disagree with a static dim or the rank are ignored.
    assert guessed_types(block, {n_args - 1: (7, 1)}) == {}


def test_shape_vectors_of_guessed_values_refine_reshapes() -> None:
    # ``r.reshape(v.shape)`` (a gradient reshaped back) takes the guessed shape of ``v``.
    x = T.vector("x")
    w = tr.shared(np.ones((4, 6)), name="W")
    v = T.dot(x.reshape((3, 4)), w)
    back = (v.flatten() * 2.0).reshape(v.shape)
    f = tr.function([x], back)
    block = f.graph.module.functions[0].regions[0].block
    guessed = guessed_types(block, {len(block.arguments) - 1: (4, 6)})
    reshapes = [op for op in block.operations if op.name == "tir.reshape" and len(op.operands) == 2]
    assert reshapes and reshapes[-1].results[0].type.shape == (None, None)
    assert guessed[id(reshapes[-1].results[0])].shape == (3, 6)
    np.testing.assert_allclose(f(np.ones(12)), np.full((3, 6), 8.0))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_guess_moves_first_call_compiles_ahead(dtype: str, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    counts = {}
    for guess in (False, True):
        directory = str(tmp_path / f"cache-{guess}")
        with monkeypatch.context() as patch, tr.change_flags(compiledir=directory):
            if not guess:
                patch.setattr("tensorir.runtime.native.guessed_types", lambda block, hints: {})
            f, _ = _classifier(40, 10, dtype)
            cache = get_cache(directory)
            before = cache.stats["compiled"]
            f(RNG.normal(size=(64, 40)).astype(dtype), RNG.integers(0, 10, 64).astype(np.int32))
            counts[guess] = cache.stats["compiled"] - before
    # Without the guess the skinny products and the short-row kernels compile at the first call.
    assert counts[True] < counts[False]


def test_wrong_guess_gives_right_results() -> None:
    f, (w, b) = _classifier(20, 6, "float64")
    # The guess said 6 classes; the model now has 40 (general rows, BLAS instead of skinny).
    w.set_value(RNG.normal(size=(20, 40)) * 0.1)
    b.set_value(np.zeros(40))
    x, y = RNG.normal(size=(32, 20)), RNG.integers(0, 40, 32).astype(np.int32)
    w0, b0 = w.get_value(), b.get_value()
    cost = f(x, y)
    z = x @ w0 + b0
    logp = z - z.max(axis=1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(cost, -logp[np.arange(32), y].mean(), rtol=1e-10)
    p = np.exp(logp)
    p[np.arange(32), y] -= 1
    np.testing.assert_allclose(w.get_value(), w0 - 0.1 * x.T @ p / 32, rtol=1e-9, atol=1e-12)


def test_the_cross_entropy_gradient_kernel_is_predicted_from_its_scores(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """The gradient's row length is its second operand's (the scores'), not the cotangent's: with
    10 guessed classes its short-row kernel compiles in the executor's module, not at the call."""
    import tensorir.runtime.native_steps as native_steps

    built: list[str] = []
    original = native_steps.short_row_kernel
    monkeypatch.setattr(native_steps, "short_row_kernel",
                        lambda name, op, *a: built.append(op) or original(name, op, *a))
    with tr.change_flags(compiledir=str(tmp_path)):
        f, _ = _classifier(40, 10, "float64")
        assert "tir.softmax_crossentropy_grad" in built
        built.clear()
        f(RNG.normal(size=(64, 40)), RNG.integers(0, 10, 64).astype(np.int32))
    assert built == []


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_first_calls_compile_nothing(dtype: str, tmp_path) -> None:  # noqa: ANN001
    """The mean's divide, the bias broadcast into a product's output, a conv-style bias gradient
    (axes 0, 2, 3) and the replay runner are all in the executor's module: the first call, the
    recording and the replays load nothing more."""
    with tr.change_flags(compiledir=str(tmp_path)):
        x, y = T.tensor4("x", dtype=dtype), T.ivector("y")
        b = tr.shared(np.zeros(3, dtype), name="b")
        w = tr.shared(RNG.normal(size=(3 * 4 * 4, 10)).astype(dtype) * 0.1, name="W")
        c = tr.shared(np.zeros(10, dtype), name="c")
        h = T.tanh(x + b.dimshuffle("x", 0, "x", "x")).flatten(2)
        p = T.nnet.softmax(T.dot(h, w) + c)
        cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
        grads = tr.grad(cost, [b, w, c])
        lr = np.asarray(0.1, dtype)
        f = tr.function([x, y], cost, updates=[(v, v - lr * g) for v, g in zip([b, w, c], grads)])
        cache = get_cache(str(tmp_path))
        before = cache.stats["compiled"]
        for _ in range(4):
            f(RNG.normal(size=(256, 3, 4, 4)).astype(dtype), RNG.integers(0, 10, 256).astype(np.int32))
        assert f.executor.function_replay.replayed == 2
        assert cache.stats["compiled"] == before


class _Requests(dict):
    """A preloaded-kernel table that notes which kernels the steps ask for."""

    asked: set[str] = set()

    def get(self, name, default=None):  # noqa: ANN001, ANN201
        self.asked.add(name)
        return super().get(name, default)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_executor_compiles_only_kernels_the_calls_use(dtype: str, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """Every range kernel compiled ahead is one a call runs: the softmax rows' kernels come from
    the guessed class count alone, a single-channel filter's update predicts the flat (not the
    broadcast) variant, a conv input gradient's variant follows its output gradient's guessed
    dims (also through a fused op), and a loop's product predicts only the panel kernel of its
    beta."""
    from tensorir.runtime import native_kernels

    made: list[native_kernels.KernelContext] = []
    original = native_kernels.KernelContext.__init__

    def init(self, *args, **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
        original(self, *args, **kwargs)
        self.preloaded = _Requests(self.preloaded)
        made.append(self)

    monkeypatch.setattr(native_kernels.KernelContext, "__init__", init)
    _Requests.asked = set()
    with tr.change_flags(compiledir=str(tmp_path)):
        x, y = T.tensor4("x", dtype=dtype), T.ivector("y")
        seq = T.tensor3("seq", dtype=dtype)
        w1 = tr.shared(RNG.normal(size=(4, 1, 3, 3)).astype(dtype) * 0.3, name="w1")
        w2 = tr.shared(RNG.normal(size=(6, 4, 3, 3)).astype(dtype) * 0.3, name="w2")
        v = tr.shared(RNG.normal(size=(6 * 2 * 2, 10)).astype(dtype) * 0.1, name="v")
        u = tr.shared(RNG.normal(size=(64, 256)).astype(dtype) * 0.05, name="u")
        # Constant reshapes make the data's shapes static, as LeNet's tutorial code does.
        images = x.reshape((32, 1, 10, 10))
        # The bias add and the tanh fuse into one op, whose guessed dims the second conv takes.
        c1 = tr.shared(np.zeros(4, dtype), name="c1")
        pooled = T.tanh(pool_2d(T.nnet.conv2d(images, w1), (2, 2), ignore_border=True)
                        + c1.dimshuffle("x", 0, "x", "x"))
        h = T.tanh(T.nnet.conv2d(pooled, w2)).flatten(2)
        p = T.nnet.softmax(T.dot(h, v))
        rows = seq.reshape((5, 32, 64))
        hs, _ = tr.scan(lambda row, prev, u: T.tanh(T.dot(prev, u)[:, :64] + row), sequences=rows,
                        outputs_info=rows[0] * 0.0, non_sequences=u)
        cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y]) + (hs ** 2).mean()
        params = [w1, c1, w2, v, u]
        lr = np.asarray(0.01, dtype)
        f = tr.function([x, y, seq], cost,
                        updates=[(q, q - lr * g) for q, g in zip(params, tr.grad(cost, params))])
        for _ in range(4):
            f(RNG.normal(size=(32, 1, 10, 10)).astype(dtype), RNG.integers(0, 10, 32).astype(np.int32),
              RNG.normal(size=(5, 32, 64)).astype(dtype))
    ahead = {name for context in made for name in context.preloaded}
    assert ahead, "nothing was compiled ahead"
    assert ahead <= _Requests.asked, f"compiled but never run: {sorted(ahead - _Requests.asked)}"
