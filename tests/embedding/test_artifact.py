"""Saved artifacts run in another process where importing MLIR and llvmlite fails."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tensorir import embedding as te
from tensorir.embedding import artifact as artifact_module

# Run in the child before anything else: any import of the compilers raises.
_BLOCKER = textwrap.dedent("""
    import sys

    class _NoCompilers:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("mlir", "llvmlite"):
                raise ImportError(f"{name} is not installed (blocked by the test)", name=name)
            return None

    sys.meta_path.insert(0, _NoCompilers())
""")


def _run_without_compilers(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "child.py"
    script.write_text(_BLOCKER + textwrap.dedent(body) + textwrap.dedent("""
        leaked = [m for m in sys.modules if m.split(".")[0] in ("mlir", "llvmlite")]
        assert not leaked, leaked
    """))
    env = dict(os.environ)
    env["TENSORIR_COMPILEDIR"] = str(tmp_path / "empty-cache")  # nothing to find in the usual cache
    src = str(Path(te.__file__).resolve().parents[2])
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)


def _model(dtype: str) -> object:
    """A layer with a product (BLAS), fused elementwise work, a reduction and a softmax."""
    b = te.ModuleBuilder("model")
    x = b.argument("x", dtype, (None, 5))
    w = b.argument("w", dtype, (5, 4))
    h = b.op("tir.tanh", b.op("tir.dot", x, w))
    return b.finish([b.op("tir.softmax", h), b.op("tir.sum", b.op("tir.mul", h, h), axis=(1,))])


def _expected(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h = np.tanh(x @ w)
    e = np.exp(h - h.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True), (h * h).sum(axis=1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_artifact_runs_in_a_process_without_mlir_or_llvm(tmp_path: Path, dtype: str) -> None:
    compiled = te.compile_module(_model(dtype))
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((6, 5)).astype(dtype), rng.standard_normal((5, 4)).astype(dtype)
    path = tmp_path / "model.tirc"
    compiled.save(str(path), example_inputs=[(x, w)])
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "w.npy", w)
    done = _run_without_compilers(tmp_path, f"""
        import numpy as np
        from tensorir import embedding as te
        loaded = te.load_artifact({str(path)!r})
        x, w = np.load({str(tmp_path / "x.npy")!r}), np.load({str(tmp_path / "w.npy")!r})
        for _ in range(3):  # the third call replays the recorded call natively
            soft, total = loaded(x, w)
        np.save({str(tmp_path / "soft.npy")!r}, soft)
        np.save({str(tmp_path / "total.npy")!r}, total)
        print(loaded.signature_text(), loaded.cache.stats)
    """)
    assert done.returncode == 0, done.stderr
    assert "'compiled': 0" in done.stdout
    tol = 1e-5 if dtype == "float32" else 1e-12
    want_soft, want_total = _expected(x, w)
    np.testing.assert_allclose(np.load(tmp_path / "soft.npy"), want_soft, rtol=tol, atol=tol)
    np.testing.assert_allclose(np.load(tmp_path / "total.npy"), want_total, rtol=tol, atol=tol)


def test_missing_kernel_says_to_save_examples(tmp_path: Path) -> None:
    b = te.ModuleBuilder("scale")
    x = b.argument("x", "float64", (None, None))
    compiled = te.compile_module(b.finish([b.op("tir.exp", x)]))
    path = tmp_path / "scale.tirc"
    compiled.save(str(path))  # no examples: only the kernels the static types predict
    done = _run_without_compilers(tmp_path, f"""
        import numpy as np
        from tensorir import embedding as te
        loaded = te.load_artifact({str(path)!r})
        np.testing.assert_allclose(loaded(np.ones((3, 4)))[0], np.exp(np.ones((3, 4))))
        try:
            loaded(np.ones((6, 8))[::2, ::2])  # a strided layout: a kernel variant not in the file
        except te.ArtifactError as exc:
            print("refused:", exc)
    """)
    assert done.returncode == 0, done.stderr
    assert "refused:" in done.stdout and "example_inputs" in done.stdout


def test_reference_executor_artifact_needs_no_kernels(tmp_path: Path) -> None:
    compiled = te.compile_module(_model("float64"), executor="reference")
    path = tmp_path / "ref.tirc"
    compiled.save(str(path))
    loaded = te.load_artifact(path)
    x, w = np.ones((2, 5)), np.ones((5, 4))
    np.testing.assert_allclose(loaded(x, w)[1], _expected(x, w)[1], rtol=1e-12)


def test_collectives_are_refused_by_name(tmp_path: Path) -> None:
    b = te.ModuleBuilder("reduce")
    x = b.argument("x", "float64", (None,))
    module = b.finish([b.op("tir.allreduce", x, reduce="sum", group="world", group_size=2)])
    compiled = te.compile_module(module, executor="reference")
    with pytest.raises(te.ArtifactError, match="tir.allreduce.*collective"):
        compiled.save(str(tmp_path / "c.tirc"))


def test_another_cpu_or_tensorir_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    compiled = te.compile_module(_model("float64"))
    path = tmp_path / "m.tirc"
    compiled.save(str(path))
    real = artifact_module.environment_fingerprint()
    monkeypatch.setattr(artifact_module, "environment_fingerprint", lambda: real.replace("cpu=", "cpu=other "))
    with pytest.raises(te.ArtifactError, match="CPU model or features"):
        te.load_artifact(path)
    (tmp_path / "junk.tirc").write_bytes(b"not a zip")
    with pytest.raises(te.ArtifactError, match="not a tensorir artifact"):
        te.load_artifact(tmp_path / "junk.tirc")


def test_memory_only_module_cannot_be_saved(tmp_path: Path) -> None:
    compiled = te.compile_module(_model("float64"), cache_dir=None)
    with pytest.raises(te.ArtifactError, match="cache_dir=None"):
        compiled.save(str(tmp_path / "m.tirc"))
