"""Turn a generator into pixels and PNG bytes, deterministically for a given seed."""

from __future__ import annotations

import io
import math
import secrets

import numpy as np
import torch
from PIL import Image

# Every latent is drawn on the CPU in float32 from its own seeded generator, so the
# same checkpoint and seed give the same pixels whatever device trained the model.


def latents(n: int, latent_dim: int, seed: int) -> torch.Tensor:
    rng = torch.Generator().manual_seed(seed)
    return torch.randn(n, latent_dim, generator=rng)


@torch.inference_mode()
def generate(
    generator: torch.nn.Module, n: int, seed: int | None = None, labels: torch.Tensor | None = None
) -> np.ndarray:
    """n images as (n, 28, 28) uint8 ink intensities: 0 is paper, 255 is full ink."""
    seed = secrets.randbits(63) if seed is None else seed
    return images_from_latents(generator, latents(n, generator.latent_dim, seed), labels)


@torch.inference_mode()
def images_from_latents(
    generator: torch.nn.Module, z: torch.Tensor, labels: torch.Tensor | None = None
) -> np.ndarray:
    """The generator's images for latents z, as (n, 28, 28) uint8 ink intensities."""
    images = generator(z, labels)
    return ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()


def tile(images: np.ndarray, cols: int | None = None, pad: int = 2) -> np.ndarray:
    """Lay (n, h, w) images out in a grid with `pad` pixels of paper between them."""
    n, h, w = images.shape
    cols = max(1, min(cols or math.ceil(math.sqrt(n)), n))
    rows = math.ceil(n / cols)
    sheet = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad), dtype=np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        sheet[y : y + h, x : x + w] = image
    return sheet


def encode_png(ink: np.ndarray) -> bytes:
    """Dark ink on white paper, 8-bit greyscale PNG."""
    buf = io.BytesIO()
    Image.fromarray(255 - ink).save(buf, format="PNG")
    return buf.getvalue()
