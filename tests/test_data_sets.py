"""The `mnist` download and `idx:PATH` data sets, on small IDX files the tests write."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from digitgan.specs import JobRequest
from models.data import DatasetError, load_dataset, load_mnist

IMAGES, LABELS = "train-images-idx3-ubyte", "train-labels-idx1-ubyte"


def idx_bytes(array: np.ndarray) -> bytes:
    """MNIST-format IDX: two zero bytes, type 0x08 (ubyte), rank, big-endian sizes, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def digits(n: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), np.arange(n, dtype=np.uint8) % 10


def write_idx_folder(folder: Path, images, labels, gz: bool) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in ((IMAGES, images), (LABELS, labels)):
        data = idx_bytes(array)
        (folder / (name + ".gz" if gz else name)).write_bytes(gzip.compress(data) if gz else data)
    return folder


@pytest.mark.parametrize("gz", [True, False])
def test_idx_folder_loads_gzipped_or_plain(tmp_path, gz):
    images, labels = digits()
    folder = write_idx_folder(tmp_path / "set", images, labels, gz)
    loaded = load_dataset(f"idx:{folder}")
    assert np.array_equal(loaded.images, images)
    assert loaded.labels.tolist() == labels.tolist()
    x, _ = loaded.as_tensors()
    assert x.min() >= -1 and x.max() <= 1


def test_idx_folder_with_one_pair_of_other_names_loads(tmp_path):
    images, labels = digits()
    (tmp_path / "fashion-images-idx3-ubyte").write_bytes(idx_bytes(images))
    (tmp_path / "fashion-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    assert len(load_dataset(f"idx:{tmp_path}")) == 20


def _damage(folder: Path, how: str) -> None:
    images, labels = digits()
    image_file = folder / IMAGES
    if how == "truncated":
        image_file.write_bytes(idx_bytes(images)[:-100])
    elif how == "bad magic":
        image_file.write_bytes(b"\x01\x02" + idx_bytes(images)[2:])
    elif how == "count mismatch":
        (folder / LABELS).write_bytes(idx_bytes(labels[:7]))
    elif how == "not 28x28":
        image_file.write_bytes(idx_bytes(np.zeros((20, 32, 32), np.uint8)))
    elif how == "label 12":
        (folder / LABELS).write_bytes(idx_bytes(np.full(20, 12, np.uint8)))


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("truncated", "truncated or corrupt"),
        ("bad magic", "bad magic"),
        ("count mismatch", "do not match"),
        ("not 28x28", "28x28"),
        ("label 12", "0..9"),
    ],
)
def test_corrupt_or_mismatched_idx_files_are_clear_errors(tmp_path, how, message):
    folder = write_idx_folder(tmp_path, *digits(), gz=False)
    _damage(folder, how)
    with pytest.raises(DatasetError, match=message):
        load_dataset(f"idx:{folder}")


def test_broken_gzip_and_missing_files_are_clear_errors(tmp_path):
    (tmp_path / (IMAGES + ".gz")).write_bytes(b"not gzip at all")
    (tmp_path / (LABELS + ".gz")).write_bytes(gzip.compress(idx_bytes(digits()[1])))
    with pytest.raises(DatasetError, match="unreadable"):
        load_dataset(f"idx:{tmp_path}")
    with pytest.raises(DatasetError, match="no such folder"):
        load_dataset(f"idx:{tmp_path / 'nowhere'}")
    (tmp_path / "other").mkdir()
    with pytest.raises(DatasetError, match="found none"):
        load_dataset(f"idx:{tmp_path / 'other'}")


@pytest.fixture
def file_server(tmp_path) -> Iterator[tuple[str, Path, list[str]]]:
    """A local HTTP server over a folder: (base url, folder, paths requested)."""
    served = tmp_path / "served"
    served.mkdir()
    requested: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            requested.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(served))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/mnist/", served, requested
    server.shutdown()
    server.server_close()


def _serve_mnist(served: Path) -> dict[str, str]:
    """MNIST-named files on the server; returns their names and MD5 sums."""
    (served / "mnist").mkdir()
    images, labels = digits(30)
    sums = {}
    for name, array in ((IMAGES, images), (LABELS, labels)):
        data = gzip.compress(idx_bytes(array))
        (served / "mnist" / f"{name}.gz").write_bytes(data)
        sums[f"{name}.gz"] = hashlib.md5(data).hexdigest()
    return sums


def test_mnist_downloads_once_and_checks_checksums(tmp_path, file_server):
    url, served, requested = file_server
    sums = _serve_mnist(served)
    dead_mirror = "http://127.0.0.1:9/"  # tried first: nothing listens on the discard port
    folder = tmp_path / "data" / "mnist"
    first = load_mnist(folder, mirrors=(dead_mirror, url), files=sums)
    assert len(first) == 30 and len(requested) == 2
    again = load_mnist(folder, mirrors=(url,), files=sums)
    assert np.array_equal(again.images, first.images) and len(requested) == 2


def test_mnist_with_a_wrong_checksum_keeps_nothing(tmp_path, file_server):
    url, served, _ = file_server
    _serve_mnist(served)
    folder = tmp_path / "mnist"
    # The published MNIST checksums: the test's small files cannot match them.
    with pytest.raises(DatasetError, match="checksum mismatch"):
        load_mnist(folder, mirrors=(url,))
    assert list(folder.iterdir()) == []


def test_mnist_offline_names_the_offline_data_set(tmp_path):
    with pytest.raises(DatasetError, match="mnist-5k"):
        load_mnist(tmp_path / "mnist", mirrors=("http://127.0.0.1:9/",))


def test_job_requests_accept_the_data_sets_and_refuse_others():
    for name in ("mnist-5k", "mnist", "idx:/usr/share/datasets/fashion-mnist"):
        assert JobRequest(dataset=name).resolve().dataset == name
    assert JobRequest(dataset="upload:0123456789abcdef").dataset == "upload:0123456789abcdef"
    for name in ("cifar", "idx:", "x" * 2000, "upload:../x", "upload:0123"):
        with pytest.raises(ValidationError):
            JobRequest(dataset=name)


def test_idx_folders_are_read_only_under_the_roots(tmp_path):
    inside = write_idx_folder(tmp_path / "root" / "set", *digits(), gz=False)
    outside = write_idx_folder(tmp_path / "elsewhere", *digits(), gz=False)
    roots = [tmp_path / "root"]
    assert len(load_dataset(f"idx:{inside}", roots=roots)) == 20
    for sneaky in (outside, tmp_path / "root" / ".." / "elsewhere"):
        with pytest.raises(DatasetError) as refused:
            load_dataset(f"idx:{sneaky}", roots=roots)
        # It names the data set as asked, and nothing else of the host (not the roots).
        assert str(refused.value) == (
            f"data set 'idx:{sneaky}' is not under the folders this worker may read data "
            "sets from (DIGITGAN_DATASET_ROOTS)"
        )
    (tmp_path / "root" / "link").symlink_to(outside)
    with pytest.raises(DatasetError, match="DIGITGAN_DATASET_ROOTS"):
        load_dataset(f"idx:{tmp_path / 'root' / 'link'}", roots=roots)


def test_only_regular_files_are_read(tmp_path):
    folder = write_idx_folder(tmp_path / "set", *digits(), gz=False)
    (folder / IMAGES).unlink()
    os.mkfifo(folder / IMAGES)  # reading it would block the worker for good
    with pytest.raises(DatasetError, match="not a regular file"):
        load_dataset(f"idx:{folder}")


def test_a_gzip_bomb_is_refused_before_it_fills_memory(tmp_path, monkeypatch):
    monkeypatch.setattr("models.data.MAX_IDX_BYTES", 100_000)
    folder = write_idx_folder(tmp_path / "set", *digits(), gz=True)
    header = bytes([0, 0, 0x08, 3]) + b"".join(n.to_bytes(4, "big") for n in (2000, 28, 28))
    (folder / (IMAGES + ".gz")).write_bytes(gzip.compress(header + bytes(2000 * 28 * 28)))
    with pytest.raises(DatasetError) as refused:
        load_dataset(f"idx:{folder}")
    # The data set as asked and the limit, nothing of the host (its files' sizes, say).
    assert str(refused.value) == (
        f"data set 'idx:{folder}': {IMAGES}.gz decompresses to more than 0.0954 MiB"
    )
    assert str(folder / IMAGES) in refused.value.detail  # the worker's log may say more


@pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist").is_dir(),
    reason="Debian's dataset-fashion-mnist is not installed",
)
def test_fashion_mnist_from_debian_loads():
    fashion = load_dataset("idx:/usr/share/datasets/fashion-mnist")
    assert len(fashion) == 60000 and np.bincount(fashion.labels).tolist() == [6000] * 10


def test_train_command_reports_a_bad_data_set_without_a_traceback(tmp_path, capsys):
    from digitgan.cli.main import main

    assert main(["train", str(tmp_path / "c.safetensors"), "--dataset", f"idx:{tmp_path}/x"]) == 2
    assert "no such folder" in capsys.readouterr().err
