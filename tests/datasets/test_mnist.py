"""The image loaders on tiny IDX and pickle files written here; no network, no shared data folder."""

import gzip
import hashlib
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from tensorir.datasets import (
    ChecksumError,
    default_search_dirs,
    download_file,
    download_mnist,
    load_digits,
    load_digits_28x28,
    load_mnist,
    read_idx,
    read_idx_dir,
    read_mnist_pkl,
)


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode ``array`` in the IDX format by hand, independently of the reader under test."""
    codes = {np.dtype("uint8"): 0x08, np.dtype("int8"): 0x09, np.dtype(">i2"): 0x0B, np.dtype(">i4"): 0x0C,
             np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}  # fmt: skip
    header = struct.pack(">BBBB", 0, 0, codes[array.dtype], array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write_mnist_dir(folder: Path, n_train: int, n_test: int, *, compress: bool = True, seed: int = 0) -> dict:
    """Four MNIST-named IDX files of random images; returns the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for stem, array in arrays.items():
        data = idx_bytes(array)
        if compress:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / stem).write_bytes(data)
    return arrays


@pytest.mark.parametrize("dtype", ["uint8", "int8", ">i2", ">i4", ">f4", ">f8"])
@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trips_every_type(tmp_path, dtype, compress):
    expected = (np.arange(24) - 5).astype(dtype).reshape(2, 3, 4)
    data = idx_bytes(expected)
    path = tmp_path / "a.idx"
    path.write_bytes(gzip.compress(data) if compress else data)
    actual = read_idx(path)
    assert actual.shape == (2, 3, 4)
    np.testing.assert_array_equal(actual, expected)
    assert actual.dtype.isnative


def test_read_idx_rejects_bad_magic_and_truncation(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x02\x08\x01" + b"\x00" * 8)
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(bad)
    short = tmp_path / "short"
    short.write_bytes(idx_bytes(np.zeros((4, 5), dtype=np.uint8))[:-3])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(short)


@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_dir_splits_and_scales(tmp_path, compress):
    arrays = write_mnist_dir(tmp_path / "mnist", n_train=30, n_test=7, compress=compress)
    ds = read_idx_dir(tmp_path / "mnist", n_valid=10)
    assert ds.name == "mnist"
    assert (len(ds.train), len(ds.valid), len(ds.test)) == (20, 10, 7)
    assert ds.train.x.shape == (20, 784) and ds.train.x.dtype == np.float32
    assert ds.train.y.dtype == np.int64
    assert 0.0 <= ds.train.x.min() and ds.train.x.max() <= 1.0
    images = arrays["train-images-idx3-ubyte"].reshape(30, 784) / 255.0
    np.testing.assert_allclose(ds.train.x, images[:20], rtol=1e-6)
    np.testing.assert_allclose(ds.valid.x, images[20:], rtol=1e-6)
    np.testing.assert_array_equal(ds.valid.y, arrays["train-labels-idx1-ubyte"][20:])
    np.testing.assert_array_equal(ds.test.y, arrays["t10k-labels-idx1-ubyte"])


def test_fashion_named_folder_is_reported_as_fashion(tmp_path):
    write_mnist_dir(tmp_path / "fashion-mnist", n_train=12, n_test=3)
    assert read_idx_dir(tmp_path / "fashion-mnist", n_valid=2).name == "fashion-mnist"


def test_read_idx_dir_names_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        read_idx_dir(tmp_path)


def write_pkl(path: Path, protocol: int) -> tuple:
    rng = np.random.default_rng(1)
    splits = tuple((rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n).astype(np.int64)) for n in (8, 4, 5))
    with gzip.open(path, "wb") as f:
        pickle.dump(splits, f, protocol=protocol)
    return splits


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_read_mnist_pkl(tmp_path, protocol):
    splits = write_pkl(tmp_path / "mnist.pkl.gz", protocol)
    ds = read_mnist_pkl(tmp_path / "mnist.pkl.gz")
    for split, (x, y) in zip((ds.train, ds.valid, ds.test), splits):
        np.testing.assert_array_equal(split.x, x)
        np.testing.assert_array_equal(split.y, y)
    assert [len(x) for x, _ in ds.as_tuples()] == [8, 4, 5]


def test_read_mnist_pkl_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    path = tmp_path / "mnist.pkl.gz"
    with gzip.open(path, "wb") as f:
        pickle.dump(Evil(), f)
    with pytest.raises(pickle.UnpicklingError, match="builtins.print"):
        read_mnist_pkl(path)


def test_load_mnist_from_explicit_paths(tmp_path):
    write_mnist_dir(tmp_path / "idx", n_train=10_010, n_test=3, compress=False)
    write_pkl(tmp_path / "mnist.pkl.gz", 2)
    assert len(load_mnist(tmp_path / "idx").valid) == 10_000
    assert len(load_mnist(tmp_path / "idx" / "train-images-idx3-ubyte").train) == 10
    assert len(load_mnist(tmp_path / "mnist.pkl.gz").train) == 8
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_mnist(tmp_path / "missing")


def test_load_mnist_searches_folders_before_downloading(tmp_path, monkeypatch):
    write_mnist_dir(tmp_path / "mnist", n_train=10_005, n_test=2)
    monkeypatch.setattr("tensorir.datasets.mnist.download_mnist", pytest.fail)  # must not be reached
    ds = load_mnist(search_dirs=[tmp_path])
    assert ds.name == "mnist" and len(ds.train) == 5


def test_fallback_to_fashion_says_so(tmp_path, capsys):
    write_mnist_dir(tmp_path / "fashion-mnist", n_train=10_004, n_test=2)
    ds = load_mnist(search_dirs=[tmp_path], download=False)
    assert ds.name == "fashion-mnist"
    assert "Fashion-MNIST" in capsys.readouterr().err


def test_fallback_to_digits_with_no_files(tmp_path, capsys):
    pytest.importorskip("sklearn")
    ds = load_mnist(search_dirs=[tmp_path], download=False)
    assert ds.name == "digits" and ds.image_shape == (8, 8) and ds.n_features == 64
    err = capsys.readouterr().err
    # It says what it used and why: nothing found where it looked, and no download tried.
    assert "digits" in err and str(tmp_path) in err and "offline" in err
    assert ds.note and "digits" in ds.note
    assert ds.train.x.shape[1] == 64 and ds.train.x.dtype == np.float32
    assert (len(ds.train), len(ds.valid), len(ds.test)) == (1197, 300, 300)
    assert 0.0 <= ds.train.x.min() and ds.train.x.max() <= 1.0
    assert set(np.unique(ds.train.y)) == set(range(10))
    np.testing.assert_array_equal(ds.test.x, load_digits().test.x)


def test_digits_28x28_are_framed_like_mnist():
    pytest.importorskip("sklearn")
    ds = load_digits_28x28()
    assert ds.image_shape == (28, 28) and ds.train.x.shape[1] == 784
    images = ds.train.x.reshape(-1, 28, 28)
    # MNIST-like framing: the digit sits in the central 20x20 box, the 4-pixel border is empty.
    assert images[:, :4].max() == 0 and images[:, -4:].max() == 0 and images[:, :, :4].max() == 0
    # The same examples in the same order as the 8x8 set.
    np.testing.assert_array_equal(ds.test.y, load_digits().test.y)


def test_no_fallback_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="MNIST not found"):
        load_mnist(search_dirs=[tmp_path], download=False, fallback=False)


def test_failed_download_falls_back(tmp_path, monkeypatch, capsys):
    def offline(*args, **kwargs):
        raise OSError("could not download MNIST:\n  no network")

    monkeypatch.setattr("tensorir.datasets.mnist.download_mnist", offline)
    write_mnist_dir(tmp_path / "fashion-mnist", n_train=10_004, n_test=2)
    assert load_mnist(search_dirs=[tmp_path]).name == "fashion-mnist"
    err = capsys.readouterr().err
    assert "download failed (no network)" in err and "Fashion-MNIST" in err


def test_download_checks_sha256(tmp_path):
    # file:// URLs exercise the real download code without a network.
    source = tmp_path / "served.bin"
    source.write_bytes(b"some bytes")
    good = hashlib.sha256(b"some bytes").hexdigest()
    dest = download_file(source.as_uri(), tmp_path / "cache" / "ok.bin", good)
    assert dest.read_bytes() == b"some bytes"
    with pytest.raises(ChecksumError, match=f"expected {'0' * 64}") as excinfo:
        download_file(source.as_uri(), tmp_path / "cache" / "bad.bin", "0" * 64)
    assert good in str(excinfo.value)
    # Neither the file nor a partial download is left behind.
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["ok.bin"]


def test_checksum_mismatch_is_not_hidden_by_fallback(tmp_path, monkeypatch):
    def corrupt(*args, **kwargs):
        raise ChecksumError("bad sum")

    monkeypatch.setattr("tensorir.datasets.mnist.download_mnist", corrupt)
    with pytest.raises(ChecksumError):
        load_mnist(search_dirs=[tmp_path])


def test_search_dirs_honour_env_and_never_require_shared(tmp_path, monkeypatch):
    monkeypatch.setenv("TENSORIR_DATA", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    dirs = default_search_dirs()
    assert dirs[0] == tmp_path
    assert all(d.is_dir() for d in dirs)


def test_download_mnist_tries_mirrors_and_reports(tmp_path):
    empty_mirror = (tmp_path / "empty").as_uri() + "/"
    with pytest.raises(OSError, match="could not download MNIST"):
        download_mnist(tmp_path / "cache", mirrors=[empty_mirror])
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / "train-images-idx3-ubyte.gz").write_bytes(b"not mnist")
    with pytest.raises(ChecksumError, match="train-images-idx3-ubyte.gz"):
        download_mnist(tmp_path / "cache", mirrors=[empty_mirror, wrong.as_uri() + "/"])
