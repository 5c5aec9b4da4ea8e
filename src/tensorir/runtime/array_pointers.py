"""Array data pointers: read and set them, make proxies, swap buffers, and patch table words.

A recording (runtime/recording.py) bakes addresses into a table of native calls. Between replays
the memory behind some arrays moves (a call's arguments, a result whose buffer was handed out,
a loop's rows), so the runtime reads and writes an array object's data pointer directly, at
the offset NumPy's object layout gives it (``ARRAY_LAYOUT``, the same the kernels read). All of
that lives here: an array object's pointer is only ever set on arrays the runtime made (proxies,
row views, recorded buffers), never on a user's array.
"""

from __future__ import annotations

import ctypes

import numpy as np

from tensorir.codegen.cpu.lower_elementwise import ARRAY_LAYOUT

__all__ = ["DataOf", "Moving", "Patches", "data_address", "pointer_slot", "proxy_of", "set_data", "swap_out"]

#: Byte offset of the data pointer in an array object.
DATA_OFFSET = ARRAY_LAYOUT["data"]


class DataOf:
    """A recorded argument that is the data address of an array (it moves when the array does)."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray) -> None:
        self.array = array


class Moving:
    """A table argument given directly as ``base + i * step`` at step ``i``; with an
    ``anchor`` array, ``base`` is a byte offset from the anchor's data address (which a
    :class:`Patches` keeps current when the anchor's buffer moves)."""

    __slots__ = ("anchor", "base", "step")

    def __init__(self, base: int, step: int, anchor: np.ndarray | None = None) -> None:
        self.base, self.step, self.anchor = base, step, anchor


#: Patches up to this many are written one by one (NumPy's fancy indexing costs more there).
_FEW_PATCHES = 12


class Patches:
    """Table words that hold an array's data address plus an offset, written again before each
    run: the arrays are proxies pointed at each call's arguments, or recorded buffers handed out
    to the caller (native_function.py), so their addresses change between runs."""

    def __init__(self) -> None:
        self._words: list[tuple[int, int, int, int]] = []
        self.anchors: list[np.ndarray] = []
        self._index: dict[int, int] = {}
        self._rows = self._cols = self._which = self._offsets = None

    def add(self, row: int, word: int, array: np.ndarray, offset: int) -> None:
        k = self._index.get(id(array))
        if k is None:
            k = self._index[id(array)] = len(self.anchors)
            self.anchors.append(array)
        self._words.append((row, word, k, offset))

    def apply(self, table: np.ndarray) -> None:
        if len(self._words) <= _FEW_PATCHES:
            anchors = self.anchors
            for row, word, k, offset in self._words:
                table[row, word] = data_address(anchors[k]) + offset
            return
        if self._rows is None:
            rows, cols, which, offsets = (np.array(c, dtype=np.int64) for c in zip(*self._words))
            self._rows, self._cols, self._which, self._offsets = rows, cols, which, offsets
        addresses = np.fromiter((data_address(a) for a in self.anchors), np.int64, len(self.anchors))
        table[self._rows, self._cols] = addresses[self._which] + self._offsets


def data_address(array: np.ndarray) -> int:
    """The data pointer of an array object (cheaper than ``array.ctypes.data``)."""
    return ctypes.c_void_p.from_address(id(array) + DATA_OFFSET).value or 0


def set_data(array: np.ndarray, address: int) -> None:
    """Point an array object (one of ours: a row view or a proxy) at other memory of its layout."""
    ctypes.c_void_p.from_address(id(array) + DATA_OFFSET).value = address


def pointer_slot(array: np.ndarray) -> ctypes.c_void_p:
    """``array``'s data-pointer field as a ctypes object: setting its ``value`` points the array
    at other memory of its layout (as :func:`set_data` does) without making a ctypes object per
    call. Valid while ``array`` lives; for arrays the runtime made only."""
    return ctypes.c_void_p.from_address(id(array) + DATA_OFFSET)


def proxy_of(value: np.ndarray, writeable: bool = False) -> np.ndarray:
    """An array object of ``value``'s layout that does not keep ``value`` alive; its data pointer
    is ``value``'s now and is set again for every call that replays a recording (``writeable``:
    for a donated buffer, which the steps write)."""
    proxy = np.lib.stride_tricks.as_strided(np.zeros(1, value.dtype), value.shape, value.strides,
                                            writeable=writeable)
    set_data(proxy, value.ctypes.data)
    return proxy


def swap_out(recorded: np.ndarray) -> np.ndarray:
    """A new array holding ``recorded``'s buffer; ``recorded`` gets the new array's buffer, so a
    replay writes the new buffer while the caller keeps the values.

    Both own buffers of one size from NumPy's allocator, so each frees the other's as it would
    its own."""
    fresh = np.empty_like(recorded)
    a, b = data_address(recorded), data_address(fresh)
    set_data(recorded, b)
    set_data(fresh, a)
    return fresh
