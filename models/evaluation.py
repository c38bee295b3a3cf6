"""Quality numbers for a generator, read through the project's digit classifier.

- frechet_distance: between Gaussians fitted to the classifier's penultimate features
  of the samples and of the real training digits (FID, with LeNet for Inception);
- inception_score: exp(E KL(p(y|x) || p(y))), at most 10 (one per class);
- class_histogram and class_entropy_bits (at most log2(10) = 3.32 for even classes);
- asked_digit_accuracy: for a conditional generator, the fraction of samples that the
  classifier assigns to the digit they were generated for.

`reference` holds the same numbers for real held-out digits at the same sample size, so
every figure reads as a ratio to real data. The real digits are mnist-5k split as
scripts/train_classifier.py split them: the classifier never saw the held-out part.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import torch

from models.classifier import classify
from models.data import NUM_CLASSES, load_dataset, split
from models.networks import build_generator
from models.sampling import generate

HOLDOUT = 0.2
SPLIT_SEED = 0
DEFAULT_SAMPLES = 1000
# Data sets whose images are digits: only for these do the classifier's numbers mean much.
DIGIT_DATASETS = ("mnist-5k", "mnist")


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)), via symmetric eigendecompositions:
    tr((S1 S2)^(1/2)) = sum of sqrt(eig(S1^(1/2) S2 S1^(1/2)))."""
    values, vectors = np.linalg.eigh(sigma1)
    root1 = (vectors * np.sqrt(values.clip(min=0))) @ vectors.T
    cross = np.linalg.eigvalsh(root1 @ sigma2 @ root1).clip(min=0)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.sqrt(cross).sum())


def gaussian(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return features.mean(axis=0), np.cov(features, rowvar=False)


@lru_cache(maxsize=1)
def _real() -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray, np.ndarray]:
    """(feature Gaussian of the real training digits, held-out images, held-out labels)."""
    train_part, held = split(load_dataset("mnist-5k"), HOLDOUT, SPLIT_SEED)
    features, _ = classify(train_part.images)
    return gaussian(features), held.images, held.labels


def score_images(images: np.ndarray, asked: np.ndarray | None = None) -> dict[str, Any]:
    """The quality numbers of uint8 digit images; `asked` are the digits they should be."""
    if len(images) < 2:
        raise ValueError("scoring needs at least 2 images")
    (mu, sigma), _, _ = _real()
    features, probs = classify(images)
    predicted = probs.argmax(axis=1)
    histogram = np.bincount(predicted, minlength=NUM_CLASSES) / len(images)
    marginal = probs.mean(axis=0)
    kl = (probs * (np.log(probs + 1e-12) - np.log(marginal + 1e-12))).sum(axis=1)
    nonzero = histogram[histogram > 0]
    scores = {
        "samples": len(images),
        "frechet_distance": round(frechet_distance(*gaussian(features), mu, sigma), 4),
        "inception_score": round(float(np.exp(kl.mean())), 4),
        "class_histogram": [round(float(h), 4) for h in histogram],
        "class_entropy_bits": round(float(-(nonzero * np.log2(nonzero)).sum()), 4),
        "asked_digit_accuracy": None,
    }
    if asked is not None:
        scores["asked_digit_accuracy"] = round(float((predicted == asked).mean()), 4)
    return scores


def reference_scores(n: int) -> dict[str, Any]:
    """The numbers for n real held-out digits (all of them when n exceeds their count)."""
    _, images, labels = _real()
    pick = np.random.default_rng(SPLIT_SEED).permutation(len(labels))[:n]
    return score_images(images[pick], labels[pick])


def evaluate(generator: torch.nn.Module, n: int = DEFAULT_SAMPLES, seed: int = 0) -> dict[str, Any]:
    """Score n samples of a generator (digits 0..9 in turn when it is conditional) next to
    real held-out digits. Deterministic for a given generator, n and seed."""
    asked = None
    if getattr(generator, "conditional", False):
        asked = np.arange(n) % NUM_CLASSES
    images = generate(generator, n, seed, None if asked is None else torch.from_numpy(asked))
    scores = score_images(images, asked)
    reference = reference_scores(n)
    scores["reference"] = reference
    scores["frechet_distance_ratio"] = round(
        scores["frechet_distance"] / max(reference["frechet_distance"], 1e-12), 3
    )
    return scores


def evaluate_checkpoint(
    meta: dict[str, Any], generator_state: dict[str, torch.Tensor], n: int = DEFAULT_SAMPLES
) -> dict[str, Any]:
    """`evaluate` for a checkpoint's generator; skipped (with the reason) for a generator
    of something other than digits, which the digit classifier cannot judge."""
    dataset = meta.get("dataset", "mnist-5k")
    if dataset not in DIGIT_DATASETS:
        return {
            "skipped": f"data set {dataset!r} is not digits; the digit classifier cannot score it"
        }
    generator = build_generator(meta["architecture"], meta["sizes"])
    generator.load_state_dict(generator_state)
    return evaluate(generator.eval(), n)
