"""Turn a generator into pixels and PNG bytes, deterministically for a given seed."""

from __future__ import annotations

import math
import secrets
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from PIL import Image

from models.data import NUM_CLASSES

# Every latent is drawn on the CPU in float32 from its own seeded generator, so the
# same checkpoint and seed give the same pixels whatever device trained the model.

# The generator always runs on exactly this many rows (padding the last chunk). CPU
# matrix kernels pick their blocking by the row count, and a row's last bits change with
# it; a fixed shape makes a request's pixels independent of what it was batched with.
CHUNK_ROWS = 8


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


def latents(n: int, latent_dim: int, seed: int) -> torch.Tensor:
    rng = torch.Generator().manual_seed(seed)
    return torch.randn(n, latent_dim, generator=rng)


@torch.inference_mode()
def draw(generator: torch.nn.Module, requests: Sequence[InkRequest]) -> list[np.ndarray]:
    """The one place that turns (generator, labels, seed) into ink: (n, 28, 28) uint8 per
    request, 0 is paper and 255 full ink. Many requests share one pass of the generator.

    An unconditional generator asked for specific digits gets them by classifier-based
    selection (models.selection), which raises DigitNotFound when it gives up.
    """
    conditional = bool(getattr(generator, "conditional", False))
    selected = [] if conditional else [i for i, r in enumerate(requests) if r.labels]
    batched = [r for i, r in enumerate(requests) if i not in selected]
    inks = _one_pass(generator, batched, conditional) if batched else []
    if selected:
        # Imported here: selection needs this module, and the classifier only then.
        from models.selection import select_digits

        inks = list(inks)
        for i in selected:
            inks.insert(i, select_digits(generator, requests[i].labels, requests[i].seed))
    return inks


def _one_pass(
    generator: torch.nn.Module, requests: Sequence[InkRequest], conditional: bool
) -> list[np.ndarray]:
    z = torch.cat([r.latents(generator.latent_dim) for r in requests])
    labels = torch.cat([r.label_tensor() for r in requests]) if conditional else None
    return np.split(ink_from_latents(generator, z, labels), np.cumsum([r.n for r in requests])[:-1])


@torch.inference_mode()
def ink_from_latents(
    generator: torch.nn.Module, z: torch.Tensor, labels: torch.Tensor | None = None
) -> np.ndarray:
    """The generator's images for latents z as uint8 ink, computed in fixed-size chunks."""
    images = torch.cat([generator(*chunk)[: len(chunk[0])] for chunk in _chunks(z, labels)])
    return ((images[: len(z)].float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()


def _chunks(z: torch.Tensor, labels: torch.Tensor | None):
    """(z, labels) in padded chunks of exactly CHUNK_ROWS rows."""
    pad = -len(z) % CHUNK_ROWS
    z = torch.cat([z, z.new_zeros(pad, z.shape[1])])
    if labels is not None:
        labels = torch.cat([labels, labels.new_zeros(pad)])
    for start in range(0, len(z), CHUNK_ROWS):
        rows = slice(start, start + CHUNK_ROWS)
        yield z[rows], None if labels is None else labels[rows]


def generate(
    generator: torch.nn.Module,
    n: int,
    seed: int | None = None,
    labels: Sequence[int] | None = None,
) -> np.ndarray:
    """n images as (n, 28, 28) uint8 ink intensities: 0 is paper, 255 is full ink."""
    seed = secrets.randbits(63) if seed is None else seed
    labels = None if labels is None else tuple(int(label) for label in labels)
    return draw(generator, [InkRequest(n, seed, labels)])[0]


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


def grid_shape(n: int, cols: int | None = None, pad: int = 2, side: int = 28) -> tuple[int, int]:
    """(height, width) in pixels of what tile() makes of n images."""
    cols = max(1, min(cols or math.ceil(math.sqrt(n)), n))
    rows = math.ceil(n / cols)
    return rows * (side + pad) + pad, cols * (side + pad) + pad


RGBA = tuple[int, int, int, int]
INK = (0, 0, 0, 255)
PAPER = (255, 255, 255, 255)


def scale(ink: np.ndarray, height: int, smooth: bool = False) -> np.ndarray:
    """Ink resized to `height` rows, keeping its aspect ratio: nearest neighbour keeps
    the pixels crisp, `smooth` interpolates."""
    h, w = ink.shape
    width = max(1, round(w * height / h))
    if (height, width) == (h, w):
        return ink
    if smooth:
        resized = Image.fromarray(ink).resize((width, height), Image.Resampling.BICUBIC)
        return np.asarray(resized)
    return ink[(np.arange(height) * h // height)[:, None], np.arange(width) * w // width]


@lru_cache(maxsize=256)
def _palette_chunks(fg: RGBA, bg: RGBA) -> bytes:
    """PLTE (and tRNS where not opaque) for a 256-entry ramp from paper (index 0) to
    ink (index 255): colouring the ink is then free."""
    t = np.linspace(0.0, 1.0, 256)[:, None]
    colours = np.rint(np.array(bg) * (1 - t) + np.array(fg) * t).astype(np.uint8)
    chunks = _chunk(b"PLTE", colours[:, :3].tobytes())
    if (colours[:, 3] < 255).any():
        chunks += _chunk(b"tRNS", colours[:, 3].tobytes())
    return chunks


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png(ink: np.ndarray, fg: RGBA = INK, bg: RGBA = PAPER) -> bytes:
    """Ink as a PNG in the given colours: 8-bit greyscale for dark ink on white (the
    default), else an 8-bit palette whose ramp does the colouring for free.

    Written directly (a PNG is a few small chunks) because Pillow's per-image overhead
    is several times the cost of compressing a 28x28 digit.
    """
    h, w = ink.shape
    grey = (fg, bg) == (INK, PAPER)
    rows = np.zeros((h, w + 1), dtype=np.uint8)  # each row starts with filter type 0
    rows[:, 1:] = 255 - ink if grey else ink
    colour_type, colours = (0, b"") if grey else (3, _palette_chunks(fg, bg))
    # Level 1: these images are small and noisy; higher levels gain little and cost much.
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour_type, 0, 0, 0)),
            colours,
            _chunk(b"IDAT", zlib.compress(rows.tobytes(), 1)),
            _chunk(b"IEND", b""),
        )
    )
