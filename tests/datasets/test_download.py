"""Downloads of the image data sets against servers on 127.0.0.1: mirrors in turn, digests, cut-offs.

No test here reaches the network: the declared mirror tables are checked for their form only,
and the downloads themselves are served by local HTTP servers.
"""

import hashlib
import http.server
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import pytest
from tests.datasets.test_mnist import write_mnist_dir

from tensorir.datasets import (
    FASHION_MNIST,
    MNIST,
    ChecksumError,
    RemoteDataset,
    default_search_dirs,
    download_dataset,
    load_mnist,
)
from tensorir.datasets import mnist as mnist_module

IDX_NAMES = {
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
}


@pytest.mark.parametrize("source", [MNIST, FASHION_MNIST], ids=lambda s: s.name)
def test_declared_sources_are_well_formed(source: RemoteDataset) -> None:
    assert set(source.digests) == IDX_NAMES
    width = hashlib.new(source.algorithm).digest_size * 2
    for digest in source.digests.values():
        assert len(digest) == width and int(digest, 16) >= 0
    assert len(source.mirrors) >= 2, "a single host is a single point of failure"
    for mirror in source.mirrors:
        assert mirror.startswith(("https://", "http://")) and mirror.endswith("/")
        assert "yann.lecun.com" not in mirror  # refuses scripted downloads


class _CountingHandler(http.server.SimpleHTTPRequestHandler):
    requests: list[str]

    def do_GET(self) -> None:  # noqa: N802 - the http.server name
        self.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def serve(folder: Path) -> Iterator[tuple[str, list[str]]]:
    """An HTTP server for ``folder`` on 127.0.0.1: its base URL and the paths requested."""
    requests: list[str] = []
    handler = type("Handler", (_CountingHandler,), {"requests": requests})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", requests
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def stalling_server() -> Iterator[str]:
    """A server that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    finally:
        listener.close()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/"


def fake_source(folder: Path, algorithm: str = "md5") -> RemoteDataset:
    """A data set of two small files written into ``folder``, declared with their digests."""
    folder.mkdir(parents=True, exist_ok=True)
    digests = {}
    for name, data in (("a.bin", b"first file"), ("b.bin", bytes(range(256)) * 100)):
        (folder / name).write_bytes(data)
        digests[name] = hashlib.new(algorithm, data).hexdigest()
    return RemoteDataset("fake", "Fake", mirrors=(), digests=digests, algorithm=algorithm)


def test_mirrors_are_tried_in_turn_and_kept_files_are_not_fetched_again(tmp_path: Path) -> None:
    source = fake_source(tmp_path / "served")
    with serve(tmp_path / "served") as (good, requests), stalling_server() as stalled:
        mirrors = [closed_port_url(), stalled, good]
        start = time.monotonic()
        out = download_dataset(source, tmp_path / "cache", mirrors=mirrors, timeout=0.5)
        assert time.monotonic() - start < 10, "a stalled mirror must be cut after its timeout"
        assert sorted(requests) == ["/a.bin", "/b.bin"]
        for name in source.digests:
            assert (out / name).read_bytes() == (tmp_path / "served" / name).read_bytes()
        download_dataset(source, tmp_path / "cache", mirrors=[good], timeout=0.5)
        assert len(requests) == 2, "files with the right digest are kept"


def test_a_wrong_file_is_a_checksum_error_not_a_next_mirror(tmp_path: Path) -> None:
    source = fake_source(tmp_path / "served", algorithm="sha256")
    (tmp_path / "served" / "a.bin").write_bytes(b"tampered")
    with serve(tmp_path / "served") as (good, _):
        with pytest.raises(ChecksumError, match="a.bin: sha256 is"):
            download_dataset(source, tmp_path / "cache", mirrors=[good, good], timeout=1)
    assert not any((tmp_path / "cache").glob("a.bin*")), "nothing half-downloaded is left"


def test_every_mirror_failing_names_each(tmp_path: Path) -> None:
    source = fake_source(tmp_path / "served")
    dead = [closed_port_url(), closed_port_url()]
    with pytest.raises(OSError, match="could not download Fake") as info:
        download_dataset(source, tmp_path / "cache", mirrors=dead, timeout=0.5)
    assert all(m in str(info.value) for m in dead)


def test_a_trickling_download_is_cut(tmp_path: Path) -> None:
    source = fake_source(tmp_path / "served")
    with serve(tmp_path / "served") as (good, _):
        with pytest.raises(OSError, match="cut after 0 s"):
            download_dataset(source, tmp_path / "cache", mirrors=[good], timeout=1, max_seconds=0)


def test_fashion_mnist_is_downloaded_when_mnist_cannot_be(tmp_path: Path, monkeypatch, capsys) -> None:
    served = tmp_path / "served"
    write_mnist_dir(served, n_train=10_003, n_test=4)
    digests = {name: hashlib.md5((served / name).read_bytes()).hexdigest() for name in IDX_NAMES}
    with serve(served) as (good, _):
        fashion = RemoteDataset("fashion-mnist", "Fashion-MNIST", (closed_port_url(), good), digests, "md5")
        monkeypatch.setattr(mnist_module, "FASHION_MNIST", fashion)
        monkeypatch.setattr(mnist_module, "download_mnist", _offline)
        monkeypatch.setenv("TENSORIR_DATA", str(tmp_path / "cache"))
        ds = load_mnist(search_dirs=[tmp_path / "empty"], timeout=1)
    assert ds.name == "fashion-mnist" and len(ds.train) == 3
    assert Path(ds.source) == tmp_path / "cache" / "fashion-mnist"
    assert "MNIST" in ds.note and "download failed (no network)" in ds.note and "Fashion-MNIST" in ds.note
    assert ds.note in capsys.readouterr().err


def _offline(*args: object, **kwargs: object) -> Path:
    raise OSError("could not download MNIST:\n  no network")


def test_offline_never_downloads(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("sklearn")
    monkeypatch.setattr(mnist_module, "download_mnist", pytest.fail)
    monkeypatch.setattr(mnist_module, "download_fashion_mnist", pytest.fail)
    assert load_mnist(search_dirs=[tmp_path], download=False).name == "digits"


def test_debian_package_layout_is_found(tmp_path: Path) -> None:
    # dataset-fashion-mnist installs usr/share/datasets/fashion-mnist/*-ubyte.gz
    write_mnist_dir(tmp_path / "datasets" / "fashion-mnist", n_train=10_002, n_test=2)
    ds = load_mnist(search_dirs=[tmp_path / "datasets"], download=False)
    assert ds.name == "fashion-mnist" and "Fashion-MNIST" in ds.note


def test_system_folders_are_searched_last(tmp_path: Path, monkeypatch) -> None:
    system = tmp_path / "system"
    system.mkdir()
    monkeypatch.setattr(mnist_module, "SYSTEM_DATA_DIRS", (system,))
    monkeypatch.delenv("TENSORIR_DATA_PATH", raising=False)
    monkeypatch.setenv("TENSORIR_DATA", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    dirs = default_search_dirs()
    assert dirs[0] == tmp_path / "cache" and dirs[-1] == system


def test_data_path_variable_replaces_the_search(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "a").mkdir()
    monkeypatch.setenv("TENSORIR_DATA_PATH", "")
    assert default_search_dirs() == []
    monkeypatch.setenv("TENSORIR_DATA_PATH", f"{tmp_path / 'a'}:{tmp_path / 'missing'}")
    assert default_search_dirs() == [tmp_path / "a"]


def test_cache_follows_xdg(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("TENSORIR_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert mnist_module.cache_dir() == tmp_path / "tensorir" / "data"
