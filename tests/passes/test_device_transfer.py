"""Moving a function to a GPU: transfers where values cross, once per value and direction; the
rewritten function computes what the original does (transfers are copies)."""

from __future__ import annotations

import numpy as np
import pytest

import tensorir as tr
import tensorir.tensor as T
from tensorir.dialects.ir import Operation
from tensorir.passes.device_transfer import insert_transfers
from tensorir.runtime.cuda.device_flag import on_device
from tensorir.runtime.cuda.steps import host_operands, runs_on_device
from tensorir.runtime.reference import ReferenceExecutor


def _compiled(inputs: list, outputs: list, **kwargs: object) -> tr.Function:
    return tr.function(inputs, outputs, mode="REFERENCE", **kwargs)


def _names(func: Operation) -> list[str]:
    return [op.name for op in func.regions[0].block.operations]


def _value_on_device(t: object) -> bool:
    return on_device(t.dtype, t.ndim)  # type: ignore[attr-defined]


def _moved(f: tr.Function) -> tuple[Operation, list[Operation]]:
    func = f.func
    host = insert_transfers(func, runs_on_device, _value_on_device, host_operands)
    return func, host


def test_a_gpu_only_graph_has_no_transfers() -> None:
    x, y = T.matrix("x"), T.matrix("y")
    func, host = _moved(_compiled([x, y], T.tanh(x) * y + 1))
    assert "tir.to_device" not in _names(func) and "tir.to_host" not in _names(func)
    assert host == []


def test_a_host_op_gets_one_transfer_each_way() -> None:
    x = T.matrix("x")
    h = T.tanh(x)
    out = T.repeat(h, 1, axis=1) + T.exp(h)  # repeat has no GPU step; tanh and exp run on the GPU
    f = _compiled([x], [out, h * 2])
    func, host = _moved(f)
    names = _names(func)
    assert [op.name for op in host] == ["tir.repeat"]
    uploads = [op for op in func.regions[0].block.operations if op.name == "tir.to_device"
               and op.operands[0].owner is not None and op.operands[0].owner.name != "tir.constant"]
    assert names.count("tir.to_host") == 1 and len(uploads) == 1
    assert uploads[0].operands[0].owner.name == "tir.repeat"
    repeat = next(op for op in func.regions[0].block.operations if op.name == "tir.repeat")
    assert repeat.operands[0].owner.name == "tir.to_host"
    assert any(v.owner is not None and v.owner.name == "tir.to_device" for op in func.regions[0].block.operations
               if op.name != "tir.repeat" for v in op.operands)
    text = tr.printing.debugprint(f, file="str")
    assert '"tir.to_host"' in text and '"tir.to_device"' in text


def test_scalars_stay_on_the_host_and_alpha_beta_are_not_moved() -> None:
    x, w = T.matrix("x"), T.matrix("w")
    lr = T.scalar("lr")
    f = _compiled([x, w, lr], T.dot(x, w) * lr)
    func, _ = _moved(f)
    block = func.regions[0].block
    lr_arg = block.arguments[2]
    # lr (rank 0) is a host value: a GPU op reads its upload, or cuBLAS reads it as alpha.
    assert lr_arg.uses
    assert all(op.name == "tir.to_device" or (op.name == "tir.gemm" and i in (1, 4)) for op, i in lr_arg.uses)
    for op in block.operations:
        if op.name == "tir.gemm":
            for i in (1, 4):  # alpha and beta: read on the host by the cuBLAS step
                owner = op.operands[i].owner
                assert owner is None or owner.name != "tir.to_device"


def test_shape_operands_are_not_moved() -> None:
    x = T.matrix("x")
    f = _compiled([x], T.cast(x.shape[0], "float64") * T.exp(x))
    func, _ = _moved(f)
    for op in func.regions[0].block.operations:
        if op.name in ("tir.shape_i", "tir.shape"):
            assert op.operands[0].owner is None or op.operands[0].owner.name != "tir.to_host"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_moved_function_computes_the_same(dtype: str) -> None:
    rng = np.random.default_rng(3)
    x, w = T.matrix("x", dtype=dtype), T.matrix("w", dtype=dtype)
    y = T.ivector("y")
    p = T.nnet.softmax(T.dot(x, w))
    loss = T.mean(T.nnet.categorical_crossentropy(p, y)) + T.repeat(w, 2, axis=0).sum()
    g = tr.grad(loss, w)
    f = _compiled([x, w, y], [loss, g])
    args = [rng.normal(size=(6, 4)).astype(dtype), rng.normal(size=(4, 3)).astype(dtype),
            rng.integers(0, 3, 6).astype("int32")]
    expected = ReferenceExecutor(f.func).run(args)
    func, host = _moved(f)
    assert {op.name for op in host} >= {"tir.repeat"}
    names = _names(func)
    assert "tir.to_host" in names and "tir.to_device" in names
    for got, want in zip(ReferenceExecutor(func).run(args), expected):
        np.testing.assert_allclose(got, want, rtol=1e-6 if dtype == "float64" else 1e-5)


def test_transfer_ops_have_references_and_derivatives() -> None:
    from tensorir.dialects.registry import OPS

    to_device, to_host = OPS["tir.to_device"], OPS["tir.to_host"]
    x = np.arange(6.0).reshape(2, 3)
    for op in (to_device, to_host):
        (out,) = op.reference([x], {}, [])
        np.testing.assert_array_equal(out, x)
        assert out is not x and not np.shares_memory(out, x)
        assert op.has_vjp and op.has_jvp
