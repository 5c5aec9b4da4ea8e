"""The workload families (benchmarks/workloads/families.py): selection by compare.py, and each
family's model run by tensorir against JAX at tiny sizes (slow: the peers are imported)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from benchmarks.compare import parse_args, select
from benchmarks.frameworks import ALL_FRAMEWORKS
from benchmarks.harness import run_workload
from benchmarks.workloads import all_workloads
from benchmarks.workloads.families import FAMILIES, FAMILY_NAMES, family_ids

IDS = [w.id for w in all_workloads()]


def test_every_family_has_several_sizes() -> None:
    for name in FAMILY_NAMES:
        assert len(family_ids([name])) >= 3, name
    assert len({w for w in IDS}) == len(IDS), "workload ids must be unique"


def test_families_run_only_when_named() -> None:
    default, _ = select(parse_args([]), IDS, ALL_FRAMEWORKS)
    assert "W4" in default and not any(w.startswith("F") for w in default)
    conv, _ = select(parse_args(["--family", "conv"]), IDS, ALL_FRAMEWORKS)
    assert conv == family_ids(["conv"]) and all(w.startswith("F3") for w in conv)
    every, _ = select(parse_args(["--family", "all"]), IDS, ALL_FRAMEWORKS)
    assert len(every) == sum(len(f.sizes) for f in FAMILIES)
    one, _ = select(parse_args(["--only", "F2-784-500-b20,W4"]), IDS, ALL_FRAMEWORKS)
    assert one == ["W4", "F2-784-500-b20"]


def test_unknown_family_is_named() -> None:
    with pytest.raises(SystemExit, match="unknown lstm"):
        select(parse_args(["--family", "dense,lstm"]), IDS, ALL_FRAMEWORKS)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX (the reference) is not installed")
@pytest.mark.parametrize("family", FAMILIES, ids=[f.id for f in FAMILIES])
def test_family_matches_jax(family) -> None:  # noqa: ANN001
    workload = family.workloads()[0]
    rows = run_workload(workload, ["tensorir", "jax"], quick=True, repeat=1, min_sample_s=0.0, log=lambda m: None)
    for row in rows:
        assert row.error is None, f"{workload.id} {row.framework}: {row.error}"
        assert np.isfinite(row.median)
    assert "checked vs jax" in rows[0].note
