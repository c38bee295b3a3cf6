"""Digits of the caller's choice, from any generator.

A conditional generator is simply asked for them. An unconditional one cannot be, so
candidates are generated and kept when the project's digit classifier assigns them to
the wanted digit with confidence; the number of candidates is bounded.
"""

from __future__ import annotations

import numpy as np
import torch

from models.classifier import classify
from models.data import NUM_CLASSES
from models.sampling import generate, images_from_latents

CANDIDATES_PER_TRY = 64
# A candidate is kept only when the classifier is at least this sure of its digit.
MIN_CONFIDENCE = 0.9


class DigitNotFound(LookupError):
    """An unconditional generator produced none of a wanted digit within the tries."""


def sample_digits(
    generator: torch.nn.Module, labels: torch.Tensor, seed: int, max_tries: int = 20
) -> np.ndarray:
    """Images of the digits in `labels`, as (n, 28, 28) uint8 like sampling.generate.

    The same generator, labels and seed give the same pixels. For an unconditional
    generator each try classifies CANDIDATES_PER_TRY fresh samples; DigitNotFound when
    some digit is still missing after `max_tries` tries.
    """
    labels = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
    if len(labels) and not 0 <= int(labels.min()) <= int(labels.max()) < NUM_CLASSES:
        raise ValueError(f"digits must be 0..{NUM_CLASSES - 1}")
    if getattr(generator, "conditional", False):
        return generate(generator, len(labels), seed, labels)
    return _select(generator, labels.tolist(), seed, max_tries)


def _select(generator: torch.nn.Module, wanted: list[int], seed: int, max_tries: int) -> np.ndarray:
    rng = torch.Generator().manual_seed(seed)
    found: dict[int, list[np.ndarray]] = {d: [] for d in set(wanted)}
    need = {d: wanted.count(d) for d in found}
    for _ in range(max_tries):
        if all(len(found[d]) >= need[d] for d in found):
            break
        z = torch.randn(CANDIDATES_PER_TRY, generator.latent_dim, generator=rng)
        candidates = images_from_latents(generator, z)
        _, probs = classify(candidates)
        for image, p in zip(candidates, probs, strict=True):
            digit = int(p.argmax())
            if digit in found and p[digit] >= MIN_CONFIDENCE and len(found[digit]) < need[digit]:
                found[digit].append(image)
    missing = sorted(d for d in found if len(found[d]) < need[d])
    if missing:
        raise DigitNotFound(
            f"this unconditional checkpoint produced no clear {', '.join(map(str, missing))} "
            f"among {max_tries * CANDIDATES_PER_TRY} samples; try another seed, or train a "
            "conditional architecture (cmlp, dcgan)"
        )
    taken = {d: iter(images) for d, images in found.items()}
    return np.stack([next(taken[d]) for d in wanted]) if wanted else np.zeros((0, 28, 28), np.uint8)
