"""The import hook: a ``sys.meta_path`` finder that builds the ``theano`` modules of the table.

Nothing named ``theano`` is installed on disk; the modules exist only while the finder is on
``sys.meta_path``, and only when no real Theano is importable (or the caller asked to shadow it,
and was warned).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings
from collections.abc import Sequence
from typing import Any

from tensorir.theano_compat.module_table import MODULES, TheanoModule


class RealTheanoInstalledError(ImportError):
    """A real Theano is importable: the compatibility layer refuses to shadow it silently."""


class TheanoCompatModule(types.ModuleType):
    """A Theano module made of tensorir objects; a name it lacks raises with what to use instead."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        spec = MODULES.get(self.__name__)
        advice = spec.missing.get(name) if spec is not None else None
        if advice is not None:
            raise AttributeError(f"{self.__name__}.{name} is not available in tensorir: {advice}")
        raise AttributeError(
            f"{self.__name__}.{name} is not provided by tensorir's Theano compatibility layer "
            "(tensorir.theano_compat); look for it in tensorir.tensor or tensorir"
        )


def _resolve(target: str) -> Any:
    """``"module"`` or ``"module:attribute"`` -> the object."""
    module_name, _, attribute = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attribute) if attribute else module


def _public_names(module: types.ModuleType) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in vars(module) if not n.startswith("_")]
    return list(names)


def populate(module: types.ModuleType, spec: TheanoModule) -> None:
    """Fill a Theano module from its table entry, then import its children as Theano did."""
    for source in spec.sources:
        src = importlib.import_module(source)
        for name in _public_names(src):
            setattr(module, name, getattr(src, name))
    for name, target in spec.names.items():
        setattr(module, name, _resolve(target))
    for child in spec.children:
        setattr(module, child, importlib.import_module(f"{module.__name__}.{child}"))


class TheanoLoader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return TheanoCompatModule(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        module.__path__ = []  # every Theano module may have children: make each a package
        populate(module, MODULES[module.__name__])


class TheanoFinder(importlib.abc.MetaPathFinder):
    """Finds exactly the Theano module paths of the table; anything else under ``theano`` is left
    to the other finders, which fail with the usual ``ModuleNotFoundError``."""

    loader = TheanoLoader()

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MODULES:
            return None
        return importlib.machinery.ModuleSpec(fullname, self.loader, origin="tensorir.theano_compat", is_package=True)


def real_theano_location() -> str | None:
    """Where a real Theano is importable from (looking on ``sys.path`` only, not through this finder)."""
    loaded = sys.modules.get("theano")
    if loaded is not None and not isinstance(loaded, TheanoCompatModule):
        return getattr(loaded, "__file__", None) or "an already imported module"
    found = importlib.machinery.PathFinder.find_spec("theano")
    if found is None:
        return None
    return found.origin or (list(found.submodule_search_locations or []) or ["sys.path"])[0]


def installed_finder() -> TheanoFinder | None:
    return next((f for f in sys.meta_path if isinstance(f, TheanoFinder)), None)


def install_finder(shadow_real_theano: bool = False) -> TheanoFinder:
    """Put the finder first on ``sys.meta_path`` (once). Refuses when a real Theano is importable,
    unless ``shadow_real_theano`` is set, and then warns."""
    existing = installed_finder()
    if existing is not None:
        return existing
    location = real_theano_location()
    if location is not None:
        message = (
            f"a real Theano is installed ({location}); tensorir.theano_compat will not hide it. "
            "Run the program in an environment without Theano, or call "
            "tensorir.theano_compat.install(shadow_real_theano=True) to use tensorir anyway."
        )
        if not shadow_real_theano:
            raise RealTheanoInstalledError(message)
        warnings.warn(message.split(";")[0] + "; it is shadowed by tensorir for this process", stacklevel=3)
        for name in [n for n in sys.modules if n == "theano" or n.startswith("theano.")]:
            del sys.modules[name]
    finder = TheanoFinder()
    sys.meta_path.insert(0, finder)
    return finder


def uninstall_finder() -> None:
    """Remove the finder and forget the Theano modules it built."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, TheanoFinder)]
    for name in [n for n in sys.modules if n == "theano" or n.startswith("theano.")]:
        if isinstance(sys.modules[name], TheanoCompatModule):
            del sys.modules[name]
