"""``tensorir-cache``: list, size and clear the on-disk compile cache.

    tensorir-cache list  [--dir DIR]   one line per entry: size, status (ok, corrupt, damaged library: each
                                       entry and its library verified by digest), exported kernels, path
    tensorir-cache size  [--dir DIR]   total bytes and number of entries
    tensorir-cache clear [--dir DIR]   remove every entry, lock file and leftover temporary file

DIR defaults to the cache the runtime uses (``$TENSORIR_COMPILEDIR``, else the user cache dir).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tensorir.runtime.compile_cache import CompileCache, default_cache_dir
from tensorir.runtime.cuda.modules import CUBIN_SUFFIX, remove_entries
from tensorir.runtime.ptx_cache import PTX_SUFFIX


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    parser = argparse.ArgumentParser(prog="tensorir-cache", description="Manage tensorir's compile cache.")
    parser.add_argument("command", choices=("list", "size", "clear"))
    parser.add_argument("--dir", default=None, help="cache directory (default: %(default)s -> runtime default)")
    args = parser.parse_args(argv)
    directory = args.dir or default_cache_dir()
    cache = CompileCache(directory)
    if args.command == "list":
        entries = cache.entries()
        for entry in entries:
            names = ",".join(entry.functions) or "-"
            print(f"{entry.size:>10}  {entry.status:15}  {names}  {entry.path}")
        bad = sum(entry.status != "ok" for entry in entries)
        note = f" ({bad} corrupt or with a damaged library: rebuilt or relinked when next used)" if bad else ""
        print(f"{len(entries)} entries in {directory}{note}")
    elif args.command == "size":
        entries = cache.entries()
        total = cache.size()
        print(f"{total} bytes ({_human(total)}) in {len(entries)} entries, {directory}")
    else:
        removed = cache.clear()
        # The GPU's entries: PTX (runtime/ptx_cache.py) and cubins (runtime/cuda/modules.py).
        gpu = remove_entries(directory, "ptx", PTX_SUFFIX) + remove_entries(directory, "cubin", CUBIN_SUFFIX)
        print(f"removed {removed} entries from {directory}" + (f" and {gpu} GPU entries (PTX, cubin)" if gpu else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
