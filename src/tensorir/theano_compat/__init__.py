"""Run legacy Theano programs unchanged on tensorir.

    import tensorir.theano_compat
    tensorir.theano_compat.install()
    import theano                       # tensorir, under Theano's module paths
    import theano.tensor as T

or, without touching the program: ``python -m tensorir.theano_compat program.py args...``.

``install`` puts an import hook on ``sys.meta_path`` (nothing named ``theano`` is written to
site-packages) and reads ``THEANO_FLAGS`` and ``~/.theanorc`` into ``theano.config``. It refuses
when a real Theano is importable, unless told to shadow it, and then warns. The layer is made of
frontend objects only (``tensorir.tensor``, ``tensorir.frontend``); which Theano path holds which
object is the table in ``module_table``.
"""

from __future__ import annotations

from tensorir.theano_compat.config import config, load_theano_flags
from tensorir.theano_compat.finder import (
    RealTheanoInstalledError,
    TheanoFinder,
    install_finder,
    installed_finder,
    uninstall_finder,
)
from tensorir.theano_compat.module_table import MODULES


def install(shadow_real_theano: bool = False, read_flags: bool = True) -> TheanoFinder:
    """Make ``import theano`` (and the submodules of ``MODULES``) resolve to tensorir.

    Reads ``THEANO_FLAGS`` and the ``.theanorc`` files into ``theano.config`` the first time,
    unless ``read_flags`` is False. Raises :class:`RealTheanoInstalledError` when a real Theano
    is importable and ``shadow_real_theano`` is not set.
    """
    first = installed_finder() is None
    finder = install_finder(shadow_real_theano)
    if first and read_flags:
        load_theano_flags(config)
    return finder


def uninstall() -> None:
    """Remove the import hook; ``import theano`` fails again (or finds a real Theano)."""
    uninstall_finder()


def is_installed() -> bool:
    return installed_finder() is not None


__all__ = ["MODULES", "RealTheanoInstalledError", "config", "install", "is_installed", "uninstall"]
