"""A generator's output as ink: uint8 images, 0 is paper and 255 full ink.

Every latent is drawn on the CPU in float32 from its own seeded generator, so the same
checkpoint and seed give the same pixels whatever device trained the model.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

# The generator always runs on exactly this many rows (padding the last chunk). CPU
# matrix kernels pick their blocking by the row count, and a row's last bits change with
# it; a fixed shape makes a request's pixels independent of what it was batched with.
# Four rows: under wrk, fresh digits of the bundled dcgan came at 906 and 1,321 a second
# (4 and 32 connections) with 4-row chunks, against 572 and 1,138 with 8 rows and 891
# and 939 with 1 (docs/benchmarks.md, "Serving").
CHUNK_ROWS = 4


def latents(n: int, latent_dim: int, seed: int) -> torch.Tensor:
    rng = torch.Generator().manual_seed(seed)
    return torch.randn(n, latent_dim, generator=rng)


@torch.inference_mode()
def ink_from_latents(
    generator: torch.nn.Module, z: torch.Tensor, labels: torch.Tensor | None = None
) -> np.ndarray:
    """The generator's images for latents z as uint8 ink, computed in fixed-size chunks."""
    images = torch.cat([generator(*chunk)[: len(chunk[0])] for chunk in _chunks(z, labels)])
    return ((images[: len(z)].float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()


def _chunks(
    z: torch.Tensor, labels: torch.Tensor | None
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """(z, labels) in padded chunks of exactly CHUNK_ROWS rows."""
    pad = -len(z) % CHUNK_ROWS
    z = torch.cat([z, z.new_zeros(pad, z.shape[1])])
    if labels is not None:
        labels = torch.cat([labels, labels.new_zeros(pad)])
    for start in range(0, len(z), CHUNK_ROWS):
        rows = slice(start, start + CHUNK_ROWS)
        yield z[rows], None if labels is None else labels[rows]
