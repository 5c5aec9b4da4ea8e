"""Checksummed downloads of the image data sets, each file tried on the publisher's mirrors in turn.

A data set is declared once, as data (:class:`RemoteDataset`): its files, the digests its
publisher gives for them (MNIST's SHA-256 sums, Fashion-MNIST's MD5 sums) and the mirrors that
serve them today, best first. A download is cut when the server stalls for ``timeout`` seconds or
the whole file takes longer than ``max_seconds``, so an unreachable host never hangs a program.
"""

import hashlib
import os
import tempfile
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "FASHION_MNIST",
    "MNIST",
    "ChecksumError",
    "RemoteDataset",
    "download_dataset",
    "download_file",
    "file_digest",
]

_CHUNK = 1 << 16


class ChecksumError(RuntimeError):
    """A downloaded file's digest differs from the published one (corrupt or wrong file)."""


@dataclass(frozen=True)
class RemoteDataset:
    """One published data set: its files, their published digests, and where they are served."""

    name: str  # the ImageDataset name and the cache sub-folder: "mnist", "fashion-mnist"
    title: str  # for messages
    mirrors: tuple[str, ...]  # base URLs ending in "/", tried in this order
    digests: Mapping[str, str]  # file name -> hex digest
    algorithm: str  # the hashlib name of the publisher's digest


MNIST = RemoteDataset(
    name="mnist",
    title="MNIST",
    # The original host refuses scripted downloads; these two serve the same bytes.
    mirrors=(
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
    ),
    digests={
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    algorithm="sha256",
)

FASHION_MNIST = RemoteDataset(
    name="fashion-mnist",
    title="Fashion-MNIST",
    # Zalando Research's own published locations; its README gives MD5 sums.
    mirrors=(
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ),
    digests={
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    algorithm="md5",
)


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """The hex digest of a file's bytes."""
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _copy_with_deadline(url: str, out, timeout: float, max_seconds: float) -> None:
    deadline = time.monotonic() + max_seconds
    with urllib.request.urlopen(url, timeout=timeout) as response:
        while chunk := response.read(_CHUNK):
            out.write(chunk)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url}: cut after {max_seconds:g} s (the download is too slow)")


def download_file(
    url: str,
    dest: str | os.PathLike,
    digest: str,
    *,
    algorithm: str = "sha256",
    timeout: float = 10.0,
    max_seconds: float = 180.0,
) -> Path:
    """Download ``url`` to ``dest`` and check its digest; the file appears only when it is right.

    ``timeout`` bounds each wait on the server (connecting, each read); ``max_seconds`` the whole
    file. Raises :class:`ChecksumError` on a digest mismatch (nothing is left at ``dest``) and
    ``OSError`` (``urllib.error.URLError``, ``TimeoutError``) when the download itself fails.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Download beside the destination, then rename: an interrupted download never looks complete.
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            _copy_with_deadline(url, out, timeout, max_seconds)
        actual = file_digest(tmp, algorithm)
        if actual != digest:
            raise ChecksumError(
                f"{url}: {algorithm} is {actual}, expected {digest}; the download is corrupt or the mirror "
                f"serves another file. Nothing was saved to {dest}; retry, or place the right file "
                "there by hand."
            )
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def download_dataset(
    source: RemoteDataset,
    directory: str | os.PathLike,
    *,
    mirrors: Sequence[str] | None = None,
    timeout: float = 10.0,
    max_seconds: float = 180.0,
) -> Path:
    """Download ``source``'s files into ``directory``, keeping those already there with the right digest.

    Each file tries the mirrors in turn (``mirrors`` overrides the declared ones); a digest
    mismatch is raised at once rather than hidden by the next mirror. Raises ``OSError`` listing
    every mirror's failure when a file cannot be had.
    """
    directory = Path(directory)
    for name, digest in source.digests.items():
        dest = directory / name
        if dest.is_file() and file_digest(dest, source.algorithm) == digest:
            continue
        errors = []
        for mirror in mirrors if mirrors is not None else source.mirrors:
            try:
                download_file(
                    mirror + name, dest, digest, algorithm=source.algorithm, timeout=timeout, max_seconds=max_seconds
                )
                break
            except OSError as e:  # unreachable, refused, stalled, cut: try the next mirror
                errors.append(f"{mirror}{name}: {e}")
        else:
            raise OSError(f"could not download {source.title}:\n  " + "\n  ".join(errors))
    return directory
