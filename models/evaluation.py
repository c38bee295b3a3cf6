"""Quality numbers for a generator, read through the project's digit classifier.

Every figure is measured on the samples and, under `reference`, on real digits that
neither the classifier nor any GAN trained on (mnist-5k's held-out 1000, at the same
sample size), so each reads as a ratio to real data:

- frechet_distance: between Gaussians fitted to the classifier's penultimate features
  of the samples and of the 4000 training digits (FID, with LeNet for Inception);
- intra_class_frechet_distance: the same per digit (samples asked for digit d against
  training digits d), averaged over the ten digits, as in conditional-GAN papers; it
  catches collapse within a class, which the overall distance hides. Conditional
  generators only;
- inception_score: exp(E KL(p(y|x) || p(y))), at most 10 (one per class);
- class_histogram and class_entropy_bits (at most log2(10) = 3.32 for even classes);
- asked_digit_accuracy: for a conditional generator, the fraction of samples that the
  classifier assigns to the digit they were generated for;
- precision and recall (Kynkaenniemi et al. 2019): the fraction of samples inside the
  real digits' feature manifold (each real digit's ball out to its 3rd nearest real
  neighbour), and of real digits inside the samples' manifold. Real digits are the
  held-out 1000; the reference is 1000 training digits measured the same way;
- memorisation: each sample's pixel distance to its nearest training digit, against
  held-out digits' distance to theirs. `copied_fraction` counts samples closer than
  all but 1% of held-out digits are (so about 0.01 for a model that does not copy).

For a model trained on digits of a style of their own (an uploaded data set, `data`),
style is judged against that data: `data_frechet_distance` between the samples and the
data set's images, beside `frechet_distance` (to MNIST); `data_frechet_ratio` is the first
over the second (below 1: closer to the style than to MNIST). `data_classifier_accuracy`
is how well the classifier reads the data set itself, the bar its asked-digit accuracy on
samples can be held to.

`verdict` sums it up in one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from models.catalog import DIGIT_DATASETS
from models.classifier import classify
from models.data import NUM_CLASSES, Digits, mnist_5k_split
from models.networks import build_generator, is_conditional
from models.sampling import generate

DEFAULT_SAMPLES = 1000
NEIGHBOURS = 3  # k of the k-nearest-neighbour manifolds (the paper's default)
COPY_PERCENTILE = 1.0
REFERENCE_SEED = 0


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


@dataclass(frozen=True)
class _Real:
    train: tuple[np.ndarray, np.ndarray]  # feature Gaussian of the 4000 training digits
    per_class: list[tuple[np.ndarray, np.ndarray]]  # the same, digit by digit
    train_pixels: np.ndarray  # (4000, 784) float32, for nearest-neighbour distances
    train_features: np.ndarray  # (4000, 84)
    held_images: np.ndarray
    held_labels: np.ndarray
    held_features: np.ndarray
    held_radii: np.ndarray  # each held-out digit's distance to its k-th real neighbour
    copy_threshold: float  # the COPY_PERCENTILE-th held-out nearest-training distance


@lru_cache(maxsize=1)
def _real() -> _Real:
    train_part, held = mnist_5k_split()
    train_features, _ = classify(train_part.images)
    held_features, _ = classify(held.images)
    train_pixels = _pixels(train_part.images)
    held_nearest = _nearest_distances(_pixels(held.images), train_pixels)
    return _Real(
        train=gaussian(train_features),
        per_class=[gaussian(train_features[train_part.labels == d]) for d in range(NUM_CLASSES)],
        train_pixels=train_pixels,
        train_features=train_features,
        held_images=held.images,
        held_labels=held.labels,
        held_features=held_features,
        held_radii=_kth_neighbour_radii(held_features),
        copy_threshold=float(np.percentile(held_nearest, COPY_PERCENTILE)),
    )


def _pixels(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1).astype(np.float32) / 255


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between the rows of a and of b, (len(a), len(b))."""
    squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.sqrt(squared.clip(min=0))


def _nearest_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.concatenate([_distances(a[i : i + 500], b).min(1) for i in range(0, len(a), 500)])


def _kth_neighbour_radii(features: np.ndarray) -> np.ndarray:
    # Column 0 of each sorted row is the point itself (distance 0).
    return np.sort(_distances(features, features), axis=1)[:, NEIGHBOURS]


def _manifold_coverage(points: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> float:
    """The fraction of `points` inside at least one ball (centre, radius)."""
    return float((_distances(points, centres) <= radii[None, :]).any(axis=1).mean())


def score_images(images: np.ndarray, asked: np.ndarray | None = None) -> dict[str, Any]:
    """The quality numbers of uint8 digit images; `asked` are the digits they should be."""
    if len(images) < 2:
        raise ValueError("scoring needs at least 2 images")
    real = _real()
    features, probs = classify(images)
    predicted = probs.argmax(axis=1)
    histogram = np.bincount(predicted, minlength=NUM_CLASSES) / len(images)
    marginal = probs.mean(axis=0)
    kl = (probs * (np.log(probs + 1e-12) - np.log(marginal + 1e-12))).sum(axis=1)
    nonzero = histogram[histogram > 0]
    nearest = _nearest_distances(_pixels(images), real.train_pixels)
    scores: dict[str, Any] = {
        "samples": len(images),
        "frechet_distance": _round(frechet_distance(*gaussian(features), *real.train)),
        "intra_class_frechet_distance": None,
        "inception_score": _round(float(np.exp(kl.mean()))),
        "class_histogram": [_round(float(h)) for h in histogram],
        # abs(): a single class gives -0.0, which would print as "-0".
        "class_entropy_bits": _round(abs(float(-(nonzero * np.log2(nonzero)).sum()))),
        "asked_digit_accuracy": None,
        "precision": _round(_manifold_coverage(features, real.held_features, real.held_radii)),
        "recall": _round(
            _manifold_coverage(real.held_features, features, _kth_neighbour_radii(features))
        ),
        "nearest_training_distance": _round(float(np.median(nearest))),
        "copied_fraction": _round(float((nearest < real.copy_threshold).mean())),
    }
    if asked is not None:
        scores["asked_digit_accuracy"] = _round(float((predicted == asked).mean()))
        scores["intra_class_frechet_distance"] = _intra_class(features, asked)
    return scores


def _intra_class(features: np.ndarray, labels: np.ndarray) -> float | None:
    distances = [
        frechet_distance(*gaussian(features[labels == d]), *_real().per_class[d])
        for d in range(NUM_CLASSES)
        if (labels == d).sum() >= 2
    ]
    return _round(float(np.mean(distances))) if len(distances) == NUM_CLASSES else None


def _round(value: float) -> float:
    return round(value, 4)


def reference_scores(n: int) -> dict[str, Any]:
    """The numbers for n real held-out digits (all of them when n exceeds their count).

    Precision and recall compare a set with the held-out digits, so for real digits the
    set is n training digits instead (the held-out ones would match themselves)."""
    real = _real()
    pick = np.random.default_rng(REFERENCE_SEED).permutation(len(real.held_labels))[:n]
    scores = score_images(real.held_images[pick], real.held_labels[pick])
    train_pick = np.random.default_rng(REFERENCE_SEED).permutation(len(real.train_features))[:n]
    train_features = real.train_features[train_pick]
    scores["precision"] = _round(
        _manifold_coverage(train_features, real.held_features, real.held_radii)
    )
    scores["recall"] = _round(
        _manifold_coverage(real.held_features, train_features, _kth_neighbour_radii(train_features))
    )
    return scores


@lru_cache(maxsize=8)
def _cached_reference(n: int) -> dict[str, Any]:
    return reference_scores(n)


def evaluate(
    generator: torch.nn.Module,
    n: int = DEFAULT_SAMPLES,
    seed: int = 0,
    data: Digits | None = None,
) -> dict[str, Any]:
    """Score n samples of a generator (digits 0..9 in turn when it is conditional) next to
    real held-out digits, and against `data` (the style it was trained on) where given.
    Deterministic for a given generator, n and seed."""
    asked = np.arange(n) % NUM_CLASSES if is_conditional(generator) else None
    images = generate(generator, n, seed, None if asked is None else asked.tolist())
    scores = score_images(images, asked)
    if data is not None:
        scores |= _style(images, data)
    reference = dict(_cached_reference(n))
    scores["reference"] = reference
    for key in ("frechet_distance", "intra_class_frechet_distance", "nearest_training_distance"):
        ratio = None
        if scores[key] is not None and reference[key]:
            ratio = round(scores[key] / reference[key], 3)
        scores[f"{key}_ratio"] = ratio
    scores["recall_ratio"] = round(scores["recall"] / max(reference["recall"], 1e-12), 3)
    scores["verdict"] = verdict(scores)
    return scores


def _style(images: np.ndarray, data: Digits) -> dict[str, Any]:
    """How close samples are to a data set's style, beside how close they are to MNIST."""
    features, _ = classify(images)
    data_features, data_probs = classify(data.images)
    to_data = frechet_distance(*gaussian(features), *gaussian(data_features))
    to_mnist = frechet_distance(*gaussian(features), *_real().train)
    return {
        "data_frechet_distance": _round(to_data),
        "data_frechet_ratio": round(to_data / max(to_mnist, 1e-12), 3),
        "data_classifier_accuracy": _round(float((data_probs.argmax(1) == data.labels).mean())),
    }


# More near-copies than this (real held-out digits: about COPY_PERCENTILE %) is copying.
COPIED_LIMIT = 0.05
# (grade, largest Frechet ratio, least asked-digit accuracy, least recall ratio)
GRADES = (
    ("excellent", 2.0, 0.99, 0.9),
    ("good", 4.0, 0.97, 0.8),
    ("fair", 10.0, 0.9, 0.5),
)


def verdict(scores: dict[str, Any]) -> str:
    """One line a person can read at a glance: a grade and the figures behind it."""
    fid, recall = scores["frechet_distance_ratio"], scores["recall_ratio"]
    accuracy = scores["asked_digit_accuracy"]
    grade = "poor"
    for name, max_fid, min_accuracy, min_recall in GRADES:
        if (
            fid <= max_fid
            and recall >= min_recall
            and (accuracy is None or accuracy >= min_accuracy)
        ):
            grade = name
            break
    parts = [f"{fid:.1f}x real digits' Frechet distance", f"recall {recall:.2f}x real's"]
    if accuracy is not None:
        parts.append(f"{accuracy:.1%} drawn as the digit asked for")
    if scores["copied_fraction"] > COPIED_LIMIT:
        # However good the other figures, a model that replays its data set is no good.
        grade = "copying"
        parts.append(f"{scores['copied_fraction']:.0%} near-copies of training digits")
    return f"{grade}: " + ", ".join(parts)


def evaluate_checkpoint(
    meta: dict[str, Any],
    generator_state: dict[str, torch.Tensor],
    n: int = DEFAULT_SAMPLES,
    data: Digits | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """`evaluate` for a checkpoint's generator; `data` is the digits it was trained on
    when they are a style of their own (an upload). Skipped (with the reason) for a
    generator of something other than digits, which the digit classifier cannot judge."""
    dataset = meta.get("dataset", "mnist-5k")
    if dataset not in DIGIT_DATASETS and data is None:
        return {
            "skipped": f"data set {dataset!r} is not digits; the digit classifier cannot score it"
        }
    generator = build_generator(meta["architecture"], meta["sizes"])
    generator.load_state_dict(generator_state)
    return evaluate(generator.eval(), n, seed, data=data)
