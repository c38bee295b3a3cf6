"""The project's digit classifier: a LeNet-5 that scores generated digits.

Its weights ship beside this file (classifier.safetensors, made by
scripts/train_classifier.py). Evaluation uses its softmax (Inception-score analogue,
class histogram, asked-digit accuracy) and its 84-wide penultimate layer (Frechet
distance), as the Inception network is used for natural images.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn

from models.data import IMAGE_SIZE, NUM_CLASSES

WEIGHTS = Path(__file__).with_name("classifier.safetensors")
FEATURES = 84


class LeNet(nn.Module):
    """LeNet-5 (LeCun et al. 1998) with ReLU and max pooling: 28x28 -> 10 logits."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120),
            nn.ReLU(),
            nn.Linear(120, FEATURES),
            nn.ReLU(),
        )
        self.head = nn.Linear(FEATURES, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def to_input(images: np.ndarray) -> torch.Tensor:
    """(n, 28, 28) uint8 ink intensities -> (n, 1, 28, 28) floats in [0, 1]."""
    return torch.from_numpy(images).float().div_(255).view(-1, 1, IMAGE_SIZE, IMAGE_SIZE)


@lru_cache(maxsize=1)
def load_classifier(path: Path = WEIGHTS) -> LeNet:
    """The shipped classifier, in eval mode on the CPU (loaded once per process)."""
    model = LeNet()
    model.load_state_dict(load_file(path))
    return model.eval().requires_grad_(False)


@torch.inference_mode()
def classify(images: np.ndarray, batch: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """(features (n, 84), class probabilities (n, 10)) of uint8 digit images."""
    model = load_classifier()
    features, probs = [], []
    for start in range(0, len(images), batch):
        h = model.features(to_input(images[start : start + batch]))
        features.append(h.double().numpy())
        probs.append(torch.softmax(model.head(h), dim=1).double().numpy())
    if not features:
        return np.zeros((0, FEATURES)), np.zeros((0, NUM_CLASSES))
    return np.concatenate(features), np.concatenate(probs)
