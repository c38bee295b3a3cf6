"""Digits of the caller's choice from an unconditional generator.

A conditional generator is simply asked for them (models.sampling.draw). An unconditional
one cannot be, so candidates are generated and kept when the project's digit classifier
assigns them to the wanted digit with confidence; the number of candidates is bounded.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from models.classifier import classify
from models.ink import ink_from_latents
from models.networks import latent_dim

CANDIDATES_PER_TRY = 64
# A candidate is kept only when the classifier is at least this sure of its digit.
MIN_CONFIDENCE = 0.9


class DigitNotFound(LookupError):
    """An unconditional generator produced none of a wanted digit within the tries."""


def select_digits(
    generator: torch.nn.Module, wanted: Sequence[int], seed: int, max_tries: int = 20
) -> np.ndarray:
    """An unconditional generator's samples that the classifier confidently calls the
    wanted digits, in order; DigitNotFound after `max_tries` tries of fresh candidates."""
    wanted = list(wanted)
    rng = torch.Generator().manual_seed(seed)
    found: dict[int, list[np.ndarray]] = {d: [] for d in set(wanted)}
    need = {d: wanted.count(d) for d in found}
    for _ in range(max_tries):
        if all(len(found[d]) >= need[d] for d in found):
            break
        z = torch.randn(CANDIDATES_PER_TRY, latent_dim(generator), generator=rng)
        candidates = ink_from_latents(generator, z)
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
