"""Character-level text for the LSTM example: corpus, vocabulary, and time-major batches.

Batches are time-major, ``(seq_len, batch)`` int32 matrices, because ``scan`` iterates over the
first axis. Two ways to cut a text:

* :func:`sequence_batches`: independent windows, shuffled each epoch, for full back-propagation
  through time from a zero state (what ``examples/lstm_text.py`` does);
* :func:`stream_batches`: ``batch`` contiguous streams read in order, so a model may carry its
  hidden state from one batch to the next (truncated back-propagation through time).
"""

import contextlib
import importlib
import inspect
import io
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tensorir.datasets.mnist import default_search_dirs

__all__ = [
    "CharVocabulary",
    "TextCorpus",
    "load_text",
    "sequence_batches",
    "split_ids",
    "stream_batches",
]


@dataclass(frozen=True)
class CharVocabulary:
    """The sorted characters of a text, and the maps between characters and int ids."""

    chars: tuple[str, ...]

    @classmethod
    def from_text(cls, text: str) -> "CharVocabulary":
        """The vocabulary of every distinct character in ``text``."""
        return cls(tuple(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    @property
    def index(self) -> dict[str, int]:
        """Character -> id."""
        return {c: i for i, c in enumerate(self.chars)}

    def encode(self, text: str) -> np.ndarray:
        """``text`` as an int32 id vector; raises ``KeyError`` naming a character not in the vocabulary."""
        index = self.index
        try:
            return np.fromiter((index[c] for c in text), dtype=np.int32, count=len(text))
        except KeyError as e:
            raise KeyError(f"character {e.args[0]!r} is not in the vocabulary of {len(self)} characters") from None

    def decode(self, ids: Iterable[int]) -> str:
        """The text of an id sequence."""
        return "".join(self.chars[int(i)] for i in ids)

    def filter(self, text: str) -> str:
        """``text`` without the characters the vocabulary lacks (for user prompts)."""
        index = self.index
        return "".join(c for c in text if c in index)


@dataclass(frozen=True)
class TextCorpus:
    """A text, where it came from, and its vocabulary."""

    text: str
    source: str
    vocabulary: CharVocabulary
    # Why this text was used when it is not the one asked for (tiny-shakespeare), for the user to read.
    note: str = ""

    def ids(self) -> np.ndarray:
        """The whole text encoded."""
        return self.vocabulary.encode(self.text)


# Standard-library modules whose documentation makes the last-resort corpus: English prose that
# ships with every Python, so the LSTM example runs anywhere.
_STDLIB_DOC_MODULES = (
    "this", "argparse", "collections", "functools", "itertools", "json", "pathlib", "re", "string",
    "textwrap", "unittest", "logging", "subprocess", "threading", "dataclasses", "inspect",
)  # fmt: skip


def _stdlib_docs() -> str:
    """The Zen of Python and the docstrings of a few standard modules, about 150 KB of prose."""
    parts = []
    with contextlib.redirect_stdout(io.StringIO()):  # importing `this` prints the Zen
        this = importlib.import_module("this")
    # `this.s` is the Zen of Python in rot13; `this.d` is the decoding table.
    parts.append("".join(this.d.get(c, c) for c in this.s))
    for name in _STDLIB_DOC_MODULES[1:]:
        module = importlib.import_module(name)
        parts.append(inspect.getdoc(module) or "")
        for _, member in sorted(vars(module).items()):
            if (inspect.isfunction(member) or inspect.isclass(member)) and member.__module__ == name:
                parts.append(inspect.getdoc(member) or "")
    return "\n\n".join(p for p in parts if p)


def load_text(
    path: str | os.PathLike | None = None, *, search_dirs: Iterable[str | os.PathLike] | None = None
) -> TextCorpus:
    """A training text: ``path`` if given, else tiny-shakespeare when found, else Python's own docs.

    tiny-shakespeare is looked for as ``tinyshakespeare/input.txt`` (or ``tinyshakespeare.txt``)
    in the search folders (default :func:`~tensorir.datasets.mnist.default_search_dirs`). The last
    fallback says so on stderr.
    """
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such text file")
        text = path.read_text(encoding="utf-8", errors="replace")
        if not text:
            raise ValueError(f"{path}: the file is empty")
        return TextCorpus(text, str(path), CharVocabulary.from_text(text))
    dirs = [Path(d) for d in search_dirs] if search_dirs is not None else default_search_dirs()
    for base in dirs:
        for candidate in (base / "tinyshakespeare" / "input.txt", base / "tinyshakespeare.txt"):
            if candidate.is_file():
                return load_text(candidate)
    where = f"in {', '.join(str(d) for d in dirs)}" if dirs else "(no search folders)"
    note = (
        f"tiny-shakespeare not found {where}; training on the Python standard library's "
        "docstrings instead (pass a text file for better samples)"
    )
    print(f"tensorir.datasets: {note}", file=sys.stderr)
    text = _stdlib_docs()
    return TextCorpus(text, "Python standard library docstrings", CharVocabulary.from_text(text), note)


def split_ids(ids: np.ndarray, valid_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Train on the first part of the text and validate on its tail (no shuffling: text is sequential)."""
    if not 0.0 < valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must be in (0, 1), got {valid_fraction}")
    n_valid = max(1, int(len(ids) * valid_fraction))
    return ids[:-n_valid], ids[-n_valid:]


def _check(ids: np.ndarray, seq_len: int, batch_size: int, need: int) -> None:
    if seq_len < 1 or batch_size < 1:
        raise ValueError(f"seq_len and batch_size must be positive, got {seq_len} and {batch_size}")
    if len(ids) < need:
        raise ValueError(
            f"a text of {len(ids)} characters is too short for one batch of {batch_size} sequences of "
            f"{seq_len} (+1 for the targets); use a longer text or smaller --seq-len/--batch-size"
        )


def sequence_batches(
    ids: np.ndarray,
    seq_len: int,
    batch_size: int,
    *,
    rng: np.random.Generator | None = None,
    max_batches: int | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """One epoch of ``(inputs, targets)``, each int32 ``(seq_len, batch_size)``, targets shifted by one.

    The text is cut into non-overlapping windows of ``seq_len + 1`` characters at a random offset,
    the windows shuffled (with ``rng``; in order when None), and grouped into full batches; the
    incomplete last batch is dropped so a compiled function always sees one shape.
    """
    _check(ids, seq_len, batch_size, batch_size * (seq_len + 1))
    window = seq_len + 1
    offset = int(rng.integers(0, window)) if rng is not None else 0
    n_windows = (len(ids) - offset) // window
    if n_windows < batch_size:
        offset, n_windows = 0, len(ids) // window
    windows = np.asarray(ids[offset : offset + n_windows * window], dtype=np.int32).reshape(n_windows, window)
    order = rng.permutation(n_windows) if rng is not None else np.arange(n_windows)
    n_batches = n_windows // batch_size
    if max_batches is not None:
        n_batches = min(n_batches, max_batches)
    for b in range(n_batches):
        batch = windows[order[b * batch_size : (b + 1) * batch_size]].T  # (window, batch): time-major
        yield np.ascontiguousarray(batch[:-1]), np.ascontiguousarray(batch[1:])


def stream_batches(
    ids: np.ndarray, seq_len: int, batch_size: int, *, max_batches: int | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Consecutive ``(inputs, targets)`` chunks of ``batch_size`` parallel streams, for truncated BPTT.

    Column ``j`` of batch ``k + 1`` continues column ``j`` of batch ``k`` in the text, so the final
    hidden state of one batch is the right initial state of the next.
    """
    _check(ids, seq_len, batch_size, batch_size * (seq_len + 1))
    stream_len = (len(ids) - 1) // batch_size
    inputs = np.asarray(ids[: stream_len * batch_size], dtype=np.int32).reshape(batch_size, stream_len).T
    targets = np.asarray(ids[1 : stream_len * batch_size + 1], dtype=np.int32).reshape(batch_size, stream_len).T
    n_batches = stream_len // seq_len
    if max_batches is not None:
        n_batches = min(n_batches, max_batches)
    for b in range(n_batches):
        rows = slice(b * seq_len, (b + 1) * seq_len)
        yield np.ascontiguousarray(inputs[rows]), np.ascontiguousarray(targets[rows])
