"""The versioned textual IR: a module in MLIR's generic syntax under one header line.

``// tensorir-ir <version>`` names the version of the op set and attribute spellings the text
uses. A reader accepts the versions it knows (:data:`READABLE_VERSIONS`) and refuses others with
the version it found; text without the header is refused by :func:`parse_ir` (use
``tensorir.dialects.parser.parse_module`` for unversioned text inside the project).
"""

from __future__ import annotations

import re

from tensorir.dialects.ir import Module
from tensorir.dialects.parser import parse_module
from tensorir.dialects.printer import print_module

__all__ = ["IR_VERSION", "READABLE_VERSIONS", "IRVersionError", "parse_ir", "print_ir"]

#: The version this tensorir writes. Raised when an op or attribute changes meaning or spelling.
IR_VERSION = 1
#: The versions this tensorir reads.
READABLE_VERSIONS = frozenset({1})
_HEADER = re.compile(r"\A\s*// tensorir-ir (\S+)[^\n]*\n")


class IRVersionError(ValueError):
    """Text whose header is missing or names a version this tensorir cannot read."""


def print_ir(module: Module, debug_info: bool = False) -> str:
    """``module`` as versioned text (header line, then the generic MLIR form)."""
    return f"// tensorir-ir {IR_VERSION}\n" + print_module(module, debug_info)


def parse_ir(text: str) -> Module:
    """The module of versioned ``text`` (see :func:`print_ir`)."""
    match = _HEADER.match(text)
    if match is None:
        raise IRVersionError("the text has no '// tensorir-ir VERSION' header line; versioned IR starts with one "
                             f"(this tensorir writes '// tensorir-ir {IR_VERSION}')")
    found = match.group(1)
    if not found.isdigit() or int(found) not in READABLE_VERSIONS:
        raise IRVersionError(f"tensorir-ir version {found!r} cannot be read by this tensorir; it reads versions "
                             f"{sorted(READABLE_VERSIONS)}")
    return parse_module(text[match.end():])
