"""Upload files for tests: digits drawn here, zipped in digit folders or as an IDX pair."""

from __future__ import annotations

import gzip
import io
import zipfile

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def digit_image(digit: int, variant: int, side: int = 48) -> Image.Image:
    """A dark digit on light paper, placed a little differently for each variant."""
    image = Image.new("L", (side, side), 255)
    font = ImageFont.load_default(size=side * 3 // 4)
    ImageDraw.Draw(image).text((6 + variant % 5, 2 + variant % 3), str(digit), fill=0, font=font)
    return image


def digits_zip(per_digit: int = 3) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for digit in range(10):
            for variant in range(per_digit):
                png = io.BytesIO()
                digit_image(digit, variant).save(png, "PNG")
                archive.writestr(f"{digit}/{variant}.png", png.getvalue())
    return out.getvalue()


def idx_pair(n: int = 20, seed: int = 0) -> tuple[bytes, bytes]:
    """(images, labels) IDX files, the images gzipped."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)

    def idx(array: np.ndarray) -> bytes:
        header = bytes([0, 0, 0x08, array.ndim])
        return header + b"".join(d.to_bytes(4, "big") for d in array.shape) + array.tobytes()

    return gzip.compress(idx(images)), idx(labels)
