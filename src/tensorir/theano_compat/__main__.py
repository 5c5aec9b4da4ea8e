"""``python -m tensorir.theano_compat program.py args...``: run a Theano program on tensorir.

The program runs as ``__main__`` with ``sys.argv`` and ``sys.path[0]`` as if Python had been
given it directly, after ``install()``.
"""

from __future__ import annotations

import os
import runpy
import sys

from tensorir.theano_compat import RealTheanoInstalledError, install

USAGE = "usage: python -m tensorir.theano_compat program.py [args...]"


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr if not argv else sys.stdout)
        return 2 if not argv else 0
    program = argv[0]
    if not os.path.isfile(program):
        print(f"tensorir.theano_compat: no such program {program!r}\n{USAGE}", file=sys.stderr)
        return 2
    try:
        install()
    except RealTheanoInstalledError as exc:
        print(f"tensorir.theano_compat: {exc}", file=sys.stderr)
        return 1
    sys.argv = list(argv)
    sys.path.insert(0, os.path.dirname(os.path.abspath(program)))
    runpy.run_path(program, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
