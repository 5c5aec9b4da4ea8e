"""``tensorir-tune-products``: --show prints a recorded table (nothing measured here)."""

from __future__ import annotations

import pytest

from tensorir.runtime.product_table import ProductTable
from tensorir.tools.tune_products import main


def test_show_prints_the_recorded_table(tmp_path, monkeypatch, capsys) -> None:  # noqa: ANN001
    path = tmp_path / "table.json"
    monkeypatch.setenv("TENSORIR_PRODUCT_TABLE", str(path))
    assert main(["--show", "--threads", "2"]) == 1
    assert "no product table recorded for 2 threads" in capsys.readouterr().out
    table = ProductTable(machine="m", threads=2, entries=[("dots", "float32", 128, 10, 500, 1e-5, 2e-5)],
                         wake_seconds=2e-5)
    path.write_text(table.to_json())
    assert main(["--show", "--threads", "2"]) == 0
    out = capsys.readouterr().out
    assert "worker wake-up 20.0 us" in out and "128x10x500" in out and "own" in out


def test_bad_thread_count_is_named(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("TENSORIR_PRODUCT_TABLE", "off")
    with pytest.raises(SystemExit):
        main(["--threads", "-1"])
