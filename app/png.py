"""Ink to PNG bytes: tiling, scaling, colouring and encoding, deterministically."""

from __future__ import annotations

import math
import struct
import zlib
from functools import lru_cache

import numpy as np
from PIL import Image


def grid_columns(n: int, cols: int | None = None) -> int:
    """How many of n images go in a row: `cols` (at most n), by default a square."""
    return max(1, min(cols or math.ceil(math.sqrt(n)), n))


def tile(images: np.ndarray, cols: int | None = None, pad: int = 2) -> np.ndarray:
    """Lay (n, h, w) images out in a grid with `pad` pixels of paper between them."""
    n, h, w = images.shape
    cols = grid_columns(n, cols)
    rows = math.ceil(n / cols)
    sheet = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad), dtype=np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        sheet[y : y + h, x : x + w] = image
    return sheet


def grid_shape(n: int, cols: int | None = None, pad: int = 2, side: int = 28) -> tuple[int, int]:
    """(height, width) in pixels of what tile() makes of n images."""
    cols = grid_columns(n, cols)
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
