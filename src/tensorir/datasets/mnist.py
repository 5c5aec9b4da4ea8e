"""MNIST-style image data for the examples: IDX and ``mnist.pkl.gz`` readers, download, fallbacks.

The examples are the DeepLearningTutorials programs, so the data comes in the tutorial's shape: a
50,000 / 10,000 / 10,000 train / validation / test split of 28x28 images flattened to 784 floats in
[0, 1], with integer labels 0..9.

Where the data comes from, in order (:func:`load_mnist`):

1. an explicit ``path`` (a directory of IDX files, one ``*-images-idx3-ubyte[.gz]`` file, or an
   ``mnist.pkl.gz`` file);
2. MNIST found in the search folders (:func:`default_search_dirs`: the cache, a ``shared/data``
   folder beside the checkout, Debian's ``/usr/share/datasets``; or ``$TENSORIR_DATA_PATH``);
3. MNIST downloaded into the cache from its mirrors, checked against its SHA-256 sums;
4. Fashion-MNIST from the search folders, then downloaded from its publisher (MD5 sums);
5. scikit-learn's bundled 8x8 digits, at their own size.

Each fallback says why on stderr and in the data set's ``note``: results on them are not
comparable with MNIST's.

NumPy only: scikit-learn is imported lazily, for the last fallback alone.
"""

import gzip
import io
import os
import pickle
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from tensorir.datasets.download import FASHION_MNIST, MNIST, ChecksumError, download_dataset, download_file

__all__ = [
    "MNIST_FILES",
    "MNIST_MIRRORS",
    "ChecksumError",
    "ImageDataset",
    "ImageSplit",
    "cache_dir",
    "default_search_dirs",
    "download_file",
    "download_fashion_mnist",
    "download_mnist",
    "load_digits",
    "load_digits_28x28",
    "load_mnist",
    "read_idx",
    "read_idx_dir",
    "read_mnist_pkl",
]

# The published MNIST archives and the mirrors tried, as declared in ``download.MNIST``.
MNIST_FILES: dict[str, str] = dict(MNIST.digests)
MNIST_MIRRORS: tuple[str, ...] = MNIST.mirrors
N_VALID = 10_000  # the tutorial's mnist.pkl.gz holds out the last 10k training images for validation

# IDX type codes (third magic byte) -> big-endian NumPy dtypes, from the format's description.
_IDX_DTYPES: dict[int, str] = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@dataclass(frozen=True)
class ImageSplit:
    """One split: ``x`` float array (n, 784) in [0, 1], ``y`` int64 labels (n,)."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)

    def head(self, n: int | None) -> "ImageSplit":
        """The first ``n`` examples (all of them when ``n`` is None or larger than the split)."""
        return self if n is None else ImageSplit(self.x[:n], self.y[:n])


@dataclass(frozen=True)
class ImageDataset:
    """Train / validation / test splits of 28x28 grey images and where they came from."""

    name: str  # "mnist", "fashion-mnist" or "digits"
    source: str  # the file or folder read, for messages
    train: ImageSplit
    valid: ImageSplit
    test: ImageSplit
    image_shape: tuple[int, int] = (28, 28)
    n_classes: int = 10
    # Why this data set was used when it is not the one asked for (MNIST), for the user to read.
    note: str = ""

    @property
    def n_features(self) -> int:
        """Pixels per flattened image: a model's input width."""
        return self.image_shape[0] * self.image_shape[1]

    def as_tuples(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """``[(train_x, train_y), (valid_x, valid_y), (test_x, test_y)]`` as the tutorial's ``load_data``."""
        return [(s.x, s.y) for s in (self.train, self.valid, self.test)]

    def subset(self, n_train: int | None, n_valid: int | None = None, n_test: int | None = None) -> "ImageDataset":
        """The first examples of each split, for quick runs."""
        return ImageDataset(
            self.name,
            self.source,
            self.train.head(n_train),
            self.valid.head(n_valid),
            self.test.head(n_test),
            self.image_shape,
            self.n_classes,
            self.note,
        )


# ----------------------------------------------------------------------------------------- readers


def _open_maybe_gzip(path: Path) -> io.BufferedIOBase:
    """Open ``path`` for reading, through gzip when its first bytes say so (whatever its name)."""
    with open(path, "rb") as f:
        magic = f.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (gzip-compressed or not) into an array of its own dtype and shape.

    The format: two zero bytes, a type code, the number of dimensions, then each dimension as a
    big-endian uint32, then the data in C order.
    """
    path = Path(path)
    with _open_maybe_gzip(path) as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{path}: not an IDX file (bad magic number {data[:4].hex()!r})")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(
            f"{path}: IDX header says shape {shape} ({expected} bytes of {dtype}) "
            f"but the file holds {len(data) - header} data bytes; is it truncated?"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _find_idx(directory: Path, stem: str) -> Path | None:
    """``stem``'s IDX file in ``directory``, compressed or not (torchvision writes ``stem-idx3-ubyte``)."""
    for name in (f"{stem}.gz", stem, stem.replace("-idx", ".idx")):
        if (directory / name).is_file():
            return directory / name
    return None


def _idx_files(directory: Path) -> dict[str, Path] | None:
    stems = {
        "train_x": "train-images-idx3-ubyte",
        "train_y": "train-labels-idx1-ubyte",
        "test_x": "t10k-images-idx3-ubyte",
        "test_y": "t10k-labels-idx1-ubyte",
    }
    found = {key: _find_idx(directory, stem) for key, stem in stems.items()}
    if any(p is None for p in found.values()):
        return None
    return found  # type: ignore[return-value]


def _images_to_float(images: np.ndarray, dtype: str) -> np.ndarray:
    x = images.reshape(len(images), -1)
    if x.dtype == np.uint8:
        return (x.astype(dtype) / np.asarray(255.0, dtype=dtype)).astype(dtype)
    return x.astype(dtype)


def _split_train(
    name: str, source: str, train_x: np.ndarray, train_y: np.ndarray, test: ImageSplit, n_valid: int
) -> ImageDataset:
    n_train = len(train_y) - n_valid
    if n_train <= 0:
        raise ValueError(f"{source}: {len(train_y)} training examples cannot hold a validation set of {n_valid}")
    return ImageDataset(
        name,
        source,
        ImageSplit(train_x[:n_train], train_y[:n_train]),
        ImageSplit(train_x[n_train:], train_y[n_train:]),
        test,
    )


def read_idx_dir(
    directory: str | os.PathLike, *, name: str | None = None, dtype: str = "float32", n_valid: int = N_VALID
) -> ImageDataset:
    """Read the four MNIST-format IDX files of ``directory``; the last ``n_valid`` training images validate.

    ``name`` defaults to "fashion-mnist" when the folder's name says so, else "mnist".
    """
    directory = Path(directory)
    files = _idx_files(directory)
    if files is None:
        raise FileNotFoundError(
            f"{directory}: expected train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte "
            "and t10k-labels-idx1-ubyte (each optionally .gz)"
        )
    arrays = {key: read_idx(path) for key, path in files.items()}
    for split in ("train", "test"):
        if len(arrays[f"{split}_x"]) != len(arrays[f"{split}_y"]):
            raise ValueError(
                f"{directory}: {len(arrays[f'{split}_x'])} {split} images but {len(arrays[f'{split}_y'])} labels"
            )
    if name is None:
        name = "fashion-mnist" if "fashion" in directory.name.lower() else "mnist"
    test = ImageSplit(_images_to_float(arrays["test_x"], dtype), arrays["test_y"].astype(np.int64))
    return _split_train(
        name,
        str(directory),
        _images_to_float(arrays["train_x"], dtype),
        arrays["train_y"].astype(np.int64),
        test,
        n_valid,
    )


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles arrays and tuples only: a downloaded pickle must not be able to run code."""

    _ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),  # Python 2 pickles spell byte strings through codecs.encode
    }

    def find_class(self, module: str, name: str):  # noqa: ANN201 - pickle's own signature
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}: only NumPy arrays are expected")
        return super().find_class(module, name)


def read_mnist_pkl(path: str | os.PathLike, *, dtype: str = "float32") -> ImageDataset:
    """Read the DeepLearningTutorials ``mnist.pkl.gz``, a pickled ``((x, y), (x, y), (x, y))``.

    The file is a Python 2 pickle, hence ``encoding="latin1"``; only NumPy arrays are unpickled.
    """
    path = Path(path)
    with _open_maybe_gzip(path) as f:
        splits = _NumpyOnlyUnpickler(f, encoding="latin1").load()
    if not (isinstance(splits, tuple | list) and len(splits) == 3):
        raise ValueError(f"{path}: expected a (train, valid, test) triple of (x, y) pairs")
    parts = []
    for x, y in splits:
        x = np.asarray(x)
        parts.append(ImageSplit(_images_to_float(x, dtype), np.asarray(y).astype(np.int64)))
    return ImageDataset("mnist", str(path), *parts)


def _read_any(path: Path, dtype: str) -> ImageDataset:
    """Read an explicit user path: a folder, an IDX file of a folder, or a pickle."""
    if path.is_dir():
        if (path / "mnist.pkl.gz").is_file() and _idx_files(path) is None:
            return read_mnist_pkl(path / "mnist.pkl.gz", dtype=dtype)
        return read_idx_dir(path, dtype=dtype)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder (give a folder of MNIST IDX files or mnist.pkl.gz)")
    if "idx" in path.name:
        return read_idx_dir(path.parent, dtype=dtype)
    return read_mnist_pkl(path, dtype=dtype)


# -------------------------------------------------------------------------------------- where to look


# The ``path`` that names scikit-learn's digits (a file or folder of that name is read instead).
DIGITS = "digits"

# Where Debian's dataset-* packages put their files (dataset-fashion-mnist: .../fashion-mnist/).
SYSTEM_DATA_DIRS: tuple[Path, ...] = (Path("/usr/share/datasets"),)


def cache_dir() -> Path:
    """Where downloads go: ``$TENSORIR_DATA``, else ``$XDG_CACHE_HOME/tensorir/data`` (``~/.cache``)."""
    env = os.environ.get("TENSORIR_DATA")
    if env:
        return Path(env).expanduser()
    cache_home = os.environ.get("XDG_CACHE_HOME")
    return (Path(cache_home) if cache_home else Path.home() / ".cache") / "tensorir" / "data"


def _checkout_root(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` that looks like a source checkout."""
    for folder in (start, *start.parents):
        if (folder / "pyproject.toml").is_file() or (folder / ".git").exists():
            return folder
    return None


def _existing_unique(candidates: Iterable[Path]) -> list[Path]:
    unique: list[Path] = []
    for folder in candidates:
        if folder.is_dir() and folder.resolve() not in {u.resolve() for u in unique}:
            unique.append(folder)
    return unique


def default_search_dirs() -> list[Path]:
    """Folders searched for data, best first, existing ones only.

    ``$TENSORIR_DATA_PATH`` (folders separated by ``os.pathsep``), when set, is the whole list: set
    it empty to search nowhere. Otherwise: the cache (:func:`cache_dir`), ``shared/data`` beside
    (``../shared/data``) or inside the checkout that holds the working directory or this package
    (it serves tests and CI; nothing requires it), and the folders of Debian's data set packages.
    """
    explicit = os.environ.get("TENSORIR_DATA_PATH")
    if explicit is not None:
        return _existing_unique(Path(p).expanduser() for p in explicit.split(os.pathsep) if p)
    candidates = [cache_dir()]
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        root = _checkout_root(start)
        if root is not None:
            candidates += [root / "shared" / "data", root.parent / "shared" / "data"]
    return _existing_unique([*candidates, *SYSTEM_DATA_DIRS])


def _find_mnist(search_dirs: Iterable[Path], dtype: str) -> ImageDataset | None:
    for base in search_dirs:
        for folder in (base / "mnist", base / "MNIST" / "raw", base):
            if folder.is_dir() and _idx_files(folder) is not None:
                return read_idx_dir(folder, name="mnist", dtype=dtype)
            if (folder / "mnist.pkl.gz").is_file():
                return read_mnist_pkl(folder / "mnist.pkl.gz", dtype=dtype)
    return None


def _find_fashion(search_dirs: Iterable[Path], dtype: str) -> ImageDataset | None:
    for base in search_dirs:
        for folder in (base / "fashion-mnist", base / "fashion_mnist", base / "FashionMNIST" / "raw"):
            if folder.is_dir() and _idx_files(folder) is not None:
                return read_idx_dir(folder, name="fashion-mnist", dtype=dtype)
    return None


# ------------------------------------------------------------------------------------------ download


def download_mnist(
    directory: str | os.PathLike | None = None,
    *,
    mirrors: Sequence[str] = MNIST_MIRRORS,
    timeout: float = 10.0,
) -> Path:
    """Download the four MNIST archives into ``directory`` (default ``cache_dir() / "mnist"``).

    Files already there with the right checksum are kept. Each file tries the mirrors in turn;
    a checksum mismatch is raised at once rather than hidden by the next mirror.
    """
    directory = Path(directory) if directory is not None else cache_dir() / MNIST.name
    return download_dataset(MNIST, directory, mirrors=mirrors, timeout=timeout)


def download_fashion_mnist(directory: str | os.PathLike | None = None, *, timeout: float = 10.0) -> Path:
    """Download Fashion-MNIST from its publisher into ``directory`` (default ``cache_dir() / "fashion-mnist"``)."""
    directory = Path(directory) if directory is not None else cache_dir() / FASHION_MNIST.name
    return download_dataset(FASHION_MNIST, directory, timeout=timeout)


# ------------------------------------------------------------------------------------------ fallback


def _bilinear_matrix(n_out: int, n_in: int) -> np.ndarray:
    """(n_out, n_in) matrix R with ``R @ v`` the bilinear resampling of ``v`` (pixel centres aligned)."""
    centres = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
    left = np.clip(np.floor(centres).astype(int), 0, n_in - 1)
    right = np.clip(left + 1, 0, n_in - 1)
    frac = np.clip(centres - left, 0.0, 1.0)
    r = np.zeros((n_out, n_in))
    r[np.arange(n_out), left] += 1.0 - frac
    r[np.arange(n_out), right] += frac
    return r


def _sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 bundled 8x8 digits as (n, 8, 8) floats in [0, 1] and their labels."""
    try:
        from sklearn.datasets import load_digits as sklearn_load_digits
    except ImportError as e:  # the last resort has nothing to fall back on
        raise RuntimeError(
            "no image data found: no MNIST or Fashion-MNIST files in the search folders, no download, "
            "and scikit-learn (for its bundled digits) is not installed. Pass a data path, set "
            "TENSORIR_DATA, or `pip install scikit-learn`."
        ) from e
    digits = sklearn_load_digits()
    return digits.images / 16.0, digits.target.astype(np.int64)  # pixel values are 0..16


def _digits_dataset(images: np.ndarray, labels: np.ndarray, source: str, dtype: str, seed: int) -> ImageDataset:
    """Split 1,197 / 300 / 300 after a fixed shuffle."""
    x = np.clip(images, 0.0, 1.0).reshape(len(images), -1).astype(dtype)
    order = np.random.default_rng(seed).permutation(len(labels))
    x, y = x[order], labels[order]
    return ImageDataset(
        "digits",
        source,
        ImageSplit(x[:-600], y[:-600]),
        ImageSplit(x[-600:-300], y[-600:-300]),
        ImageSplit(x[-300:], y[-300:]),
        image_shape=images.shape[1:],
    )


def load_digits(*, dtype: str = "float32", seed: int = 1234) -> ImageDataset:
    """scikit-learn's 1,797 bundled 8x8 digits at their own size (64 pixels), split 1,197 / 300 / 300.

    The offline fallback of :func:`load_mnist`: models read ``image_shape`` and size their layers
    for it (LeNet's 5x5 filters do not fit twice in 8x8; the example has its own sizes for it).
    """
    images, labels = _sklearn_digits()
    return _digits_dataset(images, labels, "scikit-learn load_digits (8x8)", dtype, seed)


def load_digits_28x28(*, dtype: str = "float32", seed: int = 1234) -> ImageDataset:
    """The same digits scaled to 20x20 and centred in 28x28 like MNIST, for models fixed at 28x28.

    MNIST digits fill a 20x20 box centred in the 28x28 frame; doing the same lets a model written
    for MNIST's shape run unchanged (on 12 times the pixels, with no more information).
    """
    images, labels = _sklearn_digits()
    r = _bilinear_matrix(20, 8)
    big = np.einsum("ij,njk,lk->nil", r, images, r)
    framed = np.zeros((len(big), 28, 28))
    framed[:, 4:24, 4:24] = big
    return _digits_dataset(framed, labels, "scikit-learn load_digits (8x8 scaled to 28x28)", dtype, seed)


def _say(message: str) -> None:
    print(f"tensorir.datasets: {message}", file=sys.stderr)


def _with_note(dataset: ImageDataset, note: str) -> ImageDataset:
    _say(note)
    return replace(dataset, note=note)


def load_mnist(
    path: str | os.PathLike | None = None,
    *,
    download: bool = True,
    fallback: bool = True,
    search_dirs: Iterable[str | os.PathLike] | None = None,
    dtype: str = "float32",
    timeout: float = 10.0,
) -> ImageDataset:
    """MNIST as the tutorial uses it, from ``path``, the search folders, a download, or a fallback.

    In order: ``path``; MNIST in the search folders; MNIST downloaded from its mirrors (when
    ``download``); Fashion-MNIST in the search folders (Debian's ``dataset-fashion-mnist`` among
    them); Fashion-MNIST downloaded from its publisher; scikit-learn's 8x8 digits. Whatever is
    used instead of MNIST says why, on stderr and in the result's ``note``.

    Args:
        path: a folder of IDX files, one IDX file of such a folder, ``mnist.pkl.gz``, or ``"digits"``
            for scikit-learn's digits. When given, only it is read, and a missing or unreadable
            path raises instead of falling back.
        download: try downloads (checksummed, into :func:`cache_dir`) when nothing is found locally.
        fallback: when MNIST cannot be had, use Fashion-MNIST, else the digits; when False, raise
            ``FileNotFoundError``.
        search_dirs: folders to look in; default :func:`default_search_dirs`.
        dtype: the floating dtype of the images (the examples pass ``config.floatX``).
        timeout: seconds a download may wait on a server before that mirror is given up.

    Returns:
        An :class:`ImageDataset` whose ``name`` says what was really loaded.
    """
    if path is not None:
        if str(path) == DIGITS and not Path(path).exists():
            return load_digits(dtype=dtype)
        return _read_any(Path(path), dtype)
    dirs = [Path(d) for d in search_dirs] if search_dirs is not None else default_search_dirs()
    found = _find_mnist(dirs, dtype)
    if found is not None:
        return found
    why = f"MNIST not found in {', '.join(str(d) for d in dirs)}" if dirs else "MNIST not found (no search folders)"
    if download:
        try:
            return read_idx_dir(download_mnist(timeout=timeout), name="mnist", dtype=dtype)
        except OSError as e:  # offline, or every mirror refused; ChecksumError is not an OSError
            why += f" and its download failed ({str(e).splitlines()[-1].strip()})"
    else:
        why += " (offline: no download tried)"
    if not fallback:
        raise FileNotFoundError(f"{why}; pass a path, set TENSORIR_DATA, or allow download")
    fashion = _find_fashion(dirs, dtype)
    if fashion is not None:
        return _with_note(fashion, f"{why}; using Fashion-MNIST from {fashion.source} instead")
    if download:
        try:
            fashion = read_idx_dir(download_fashion_mnist(timeout=timeout), name="fashion-mnist", dtype=dtype)
            return _with_note(fashion, f"{why}; using Fashion-MNIST downloaded into {fashion.source} instead")
        except OSError as e:
            why += f"; Fashion-MNIST's download failed too ({str(e).splitlines()[-1].strip()})"
    return _with_note(
        load_digits(dtype=dtype),
        f"{why}; Fashion-MNIST not found either; using scikit-learn's 8x8 digits "
        "(1,797 images: the models use their small-data settings)",
    )
