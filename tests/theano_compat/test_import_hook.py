"""``import theano`` and every Theano module path of the table resolve to tensorir objects."""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
import warnings

import pytest

import tensorir
import tensorir.tensor as T
import tensorir.theano_compat as compat
from tensorir.theano_compat.compile import function as compat_function
from tensorir.theano_compat.finder import RealTheanoInstalledError
from tensorir.theano_compat.module_table import MODULES

MISSING = [(module, name) for module, spec in MODULES.items() for name in spec.missing]


@pytest.mark.parametrize("path", sorted(MODULES))
def test_every_module_path_imports(theano, path):
    module = importlib.import_module(path)
    assert module.__name__ == path


@pytest.mark.parametrize(
    "path, name, expected",
    [
        ("theano", "function", compat_function),
        ("theano", "shared", tensorir.shared),
        ("theano", "scan", tensorir.scan),
        ("theano.tensor", "dot", T.dot),
        ("theano.tensor.nnet", "sigmoid", T.nnet.sigmoid),
        ("theano.tensor.nnet", "conv2d", T.nnet.conv2d),
        ("theano.tensor.nnet", "softmax", T.nnet.softmax),
        ("theano.tensor.nnet.conv", "conv2d", T.nnet.conv2d),
        ("theano.tensor.nnet.bn", "batch_normalization", T.nnet.batch_normalization),
        ("theano.tensor.signal.pool", "pool_2d", T.signal.pool.pool_2d),
        ("theano.sandbox.rng_mrg", "MRG_RandomStreams", T.shared_randomstreams.MRG_RandomStreams),
        ("theano.tensor.shared_randomstreams", "RandomStreams", T.shared_randomstreams.RandomStreams),
        ("theano.gradient", "grad", tensorir.grad),
        ("theano.ifelse", "ifelse", tensorir.ifelse.ifelse),
        ("theano.compile", "In", tensorir.In),
    ],
)
def test_names_are_tensorir_objects(theano, path, name, expected):
    assert getattr(importlib.import_module(path), name) is expected


def test_attribute_paths_after_import_theano(theano):
    # Theano's __init__ files imported their children: attribute access works after `import theano`.
    assert theano.tensor.nnet.sigmoid is T.nnet.sigmoid
    assert theano.sandbox.rng_mrg.MRG_RandomStreams is T.shared_randomstreams.MRG_RandomStreams
    assert theano.tensor.signal.downsample.max_pool_2d is not None
    assert theano.tensor.xlogx.xlogy0 is not None
    assert theano.scalar.upcast("int64", "float32") in ("float32", "float64")
    assert callable(theano.compile.mode.get_default_mode)
    assert callable(theano.printing.debugprint)


@pytest.mark.parametrize("path, name", MISSING, ids=[f"{m}.{n}" for m, n in MISSING])
def test_missing_names_say_what_to_use(theano, path, name):
    module = importlib.import_module(path)
    with pytest.raises(AttributeError, match=f"{path}.{name} is not available in tensorir: .+"):
        getattr(module, name)


def test_unknown_names_and_paths_fail_clearly(theano):
    with pytest.raises(AttributeError, match="not provided by tensorir's Theano compatibility layer"):
        theano.tensor.no_such_function  # noqa: B018
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("theano.no_such_module")


def test_nothing_named_theano_on_sys_path(theano):
    assert importlib.machinery.PathFinder.find_spec("theano") is None


def test_uninstall_removes_theano():
    compat.install(read_flags=False)
    import theano  # noqa: F401

    compat.uninstall()
    assert "theano" not in sys.modules and not compat.is_installed()
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("theano")


def test_real_theano_is_never_shadowed_silently(tmp_path, monkeypatch):
    fake = tmp_path / "theano"
    fake.mkdir()
    (fake / "__init__.py").write_text("REAL = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    with pytest.raises(RealTheanoInstalledError, match="real Theano is installed"):
        compat.install(read_flags=False)
    assert not compat.is_installed()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            compat.install(shadow_real_theano=True, read_flags=False)
        assert any("shadowed by tensorir" in str(w.message) for w in caught)
        import theano

        assert not hasattr(theano, "REAL") and theano.tensor.dot is T.dot
    finally:
        compat.uninstall()
        sys.modules.pop("theano", None)


def test_extra_ops_compositions_match_numpy(theano):
    import numpy as np
    from theano.tensor.extra_ops import diff, fill_diagonal

    x = theano.tensor.dmatrix("x")
    f = theano.function([x], [diff(x), diff(x, n=2, axis=0), fill_diagonal(x, 7)])
    a = np.arange(12.0).reshape(3, 4) ** 2
    d1, d2, filled = f(a)
    expected = a.copy()
    np.fill_diagonal(expected, 7)
    np.testing.assert_allclose(d1, np.diff(a))
    np.testing.assert_allclose(d2, np.diff(a, 2, axis=0))
    np.testing.assert_allclose(filled, expected)


@pytest.mark.parametrize("path", sorted(MODULES))
def test_children_never_hide_a_function(path):
    # A child module set as an attribute would replace a function of the same name (T.var is the
    # variance, so theano.tensor.var, Theano's module, is deliberately not in the table).
    spec = MODULES[path]
    for source in spec.sources:
        module = importlib.import_module(source)
        public = set(getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")])
        clashes = {c for c in spec.children if c in public and not isinstance(getattr(module, c), type(sys))}
        assert not clashes, f"{path}: children {sorted(clashes)} hide names of {source}"
    assert not set(spec.children) & set(spec.missing)
