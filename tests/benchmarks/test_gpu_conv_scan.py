"""The W5/W6 rows of ``benchmarks/gpu.py`` without a device: ``--prepare`` builds tensorir's LeNet
and char-LSTM steps for ``device=cuda`` (their PTX into the bundle, with the convolution and
pooling kernels), and the rows pair each peer with tensorir's time."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import tensorir as tr
from benchmarks import gpu_conv_scan
from tensorir.runtime.cuda.prepare import PREPARE_VARIABLE


def test_prepare_bundles_the_lenet_and_lstm_kernels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PREPARE_VARIABLE, str(tmp_path))
    with tr.change_flags(device="cuda"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gpu_conv_scan.prepare()
    ptx = [p.read_text() for p in tmp_path.glob("*.ptx")]
    assert len(ptx) >= 3  # LeNet, the LSTM, the scan of the overhead rows
    assert any(".entry conv_im2col_float32(" in text and ".entry pool_grad_max_float32_float32(" in text
               for text in ptx)


def test_rows_pair_every_peer_with_tensorir() -> None:
    times = {"tensorir": 2.0, "PyTorch CUDA eager": 3.0, "torch.compile CUDA": 1.0}

    def peer_row(label: str, make, steps: int, limit: float) -> tuple[str, float | None]:  # noqa: ANN001
        ms = times.get(label)
        return (f"{ms:.3f} ms", ms) if ms else ("not run: RuntimeError: JAX runs on cpu, not the GPU", None)

    with tr.change_flags(device="cuda"):
        rows = gpu_conv_scan.rows(True, 1, 1.0, peer_row)
    assert [r[0].split(":")[0][:2] for r in rows] == ["W5"] * 3 + ["W6"] * 3
    assert rows[0][2] == "tensorir 2.000 ms = 1.50x PyTorch CUDA eager's speed (goal > 1)"
    assert rows[1][2] == "tensorir 2.000 ms = 0.50x torch.compile CUDA's speed (goal > 1)"
    assert rows[2][1].startswith("not run") and rows[2][2] == "tensorir 2.000 ms"
