"""The names a training request can use, and their checks, without importing PyTorch:
the API's request validation and the Python client (which need none of the networks)
stay light. Each name list is defined here once; the modules that implement them import
it."""

from __future__ import annotations

ARCHITECTURES = ("mlp", "cmlp", "dcgan")  # models/networks.py builds each
LOSSES = ("bce", "hinge")  # models/train.py
AUGMENTATIONS = ("translation", "cutout")  # models/train.py (DiffAugment)
IDX_PREFIX = "idx:"
DATASETS = ("mnist-5k", "mnist", f"{IDX_PREFIX}PATH")  # models/data.py loads each
# The data sets of handwritten digits, which the digit classifier can judge.
DIGIT_DATASETS = ("mnist-5k", "mnist")


def check_dataset_name(name: str) -> str:
    """`name` if it names a data set (without reading it), else ValueError saying which
    names are allowed."""
    if name in DIGIT_DATASETS or (name.startswith(IDX_PREFIX) and name[len(IDX_PREFIX) :]):
        return name
    raise ValueError(
        f"unknown data set {name!r}; allowed: {', '.join(DATASETS)} (a folder of IDX files)"
    )


def augmentations(policy: str) -> list[str]:
    """The names in a DiffAugment policy ("translation,cutout"; "" is none)."""
    return [name.strip() for name in policy.split(",") if name.strip()]
