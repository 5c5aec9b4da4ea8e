"""Where a process writes compiled kernels when its compile cache directory is read-only.

A cache warmed by root in a container image, or one shared by a cluster's users, can be read but
not written. The cache then keeps reading it and writes what it compiles into an overlay of the
user's own: ``$XDG_CACHE_HOME/tensorir-overlay/<tag>`` (``~/.cache`` without it), else
``<tmp>/tensorir-overlay-<uid>/<tag>``, where ``tag`` names the read-only directory. The cache
loads shared libraries from the overlay, so only a directory this user owns and no one else may
write qualifies (another user could otherwise plant a library in a shared ``/tmp``).
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from pathlib import Path

__all__ = ["is_writable_directory", "overlay_directory"]


def is_writable_directory(path: Path) -> bool:
    """Whether ``path`` exists (or can be made) and this process may create files in it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK | os.X_OK)


def _private_directory(path: Path) -> bool:
    """Make ``path`` and its parent (mode 0700 when new); whether both are this user's own and
    writable by no one else."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.mkdir(mode=0o700, exist_ok=True)
        for directory in (path.parent, path):
            info = directory.lstat()
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
                return False
    except OSError:
        return False
    return os.access(path, os.W_OK | os.X_OK)


def overlay_directory(primary: Path) -> Path | None:
    """This user's writable overlay for the read-only cache ``primary``, or None if there is none."""
    tag = hashlib.sha256(str(primary.absolute()).encode()).hexdigest()[:16]
    user_base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    candidates = (
        Path(user_base) / "tensorir-overlay" / tag,
        Path(tempfile.gettempdir()) / f"tensorir-overlay-{os.geteuid()}" / tag,
    )
    for candidate in candidates:
        if candidate != primary and _private_directory(candidate):
            return candidate
    return None
