"""Turn a generator into ink for many requests at once, deterministically per seed."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from models.data import NUM_CLASSES
from models.ink import ink_from_latents, latents
from models.networks import is_conditional, latent_dim
from models.selection import DigitNotFound, select_digits


@dataclass(frozen=True)
class InkRequest:
    """What one image needs from the generator.

    `labels` picks the digits (None: whatever the generator draws). With `one_style`
    all n images share one noise vector, so they look written by one hand.
    """

    n: int
    seed: int
    labels: tuple[int, ...] | None = None
    one_style: bool = False

    def latents(self, latent_dim: int) -> torch.Tensor:
        if self.one_style:
            return latents(1, latent_dim, self.seed).expand(self.n, -1)
        return latents(self.n, latent_dim, self.seed)

    def label_tensor(self) -> torch.Tensor:
        if self.labels is not None:
            return torch.tensor(self.labels, dtype=torch.long)
        # A conditional generator still needs labels: draw them from the seed too.
        rng = torch.Generator().manual_seed(self.seed ^ 0x5EED)
        return torch.randint(0, NUM_CLASSES, (self.n,), generator=rng)


@torch.inference_mode()
def draw(
    generator: torch.nn.Module, requests: Sequence[InkRequest]
) -> list[np.ndarray | DigitNotFound]:
    """The one place that turns (generator, labels, seed) into ink: (n, 28, 28) uint8 per
    request, 0 is paper and 255 full ink. Many requests share one pass of the generator.

    An unconditional generator asked for specific digits gets them by classifier-based
    selection (models.selection); where it gives up, that request's outcome is the
    DigitNotFound saying so, and the others are drawn all the same.
    """
    conditional = is_conditional(generator)
    selected = [] if conditional else [i for i, r in enumerate(requests) if r.labels]
    batched = [r for i, r in enumerate(requests) if i not in selected]
    inks: list[np.ndarray | DigitNotFound] = []
    if batched:
        inks = list(_one_pass(generator, batched, conditional))
    for i in selected:
        try:
            ink: np.ndarray | DigitNotFound = select_digits(
                generator, requests[i].labels or (), requests[i].seed
            )
        except DigitNotFound as exc:
            ink = exc
        inks.insert(i, ink)
    return inks


def _one_pass(
    generator: torch.nn.Module, requests: Sequence[InkRequest], conditional: bool
) -> list[np.ndarray]:
    z = torch.cat([r.latents(latent_dim(generator)) for r in requests])
    labels = torch.cat([r.label_tensor() for r in requests]) if conditional else None
    return np.split(ink_from_latents(generator, z, labels), np.cumsum([r.n for r in requests])[:-1])


def generate(
    generator: torch.nn.Module,
    n: int,
    seed: int | None = None,
    labels: Sequence[int] | None = None,
) -> np.ndarray:
    """n images as (n, 28, 28) uint8 ink intensities: 0 is paper, 255 is full ink."""
    seed = secrets.randbits(63) if seed is None else seed
    labels = None if labels is None else tuple(int(label) for label in labels)
    ink = draw(generator, [InkRequest(n, seed, labels)])[0]
    if isinstance(ink, DigitNotFound):
        raise ink
    return ink
