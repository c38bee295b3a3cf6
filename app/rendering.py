"""What an image request asks for, its ETag, and how a batch of them becomes PNG bytes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from app.png import RGBA, encode_png, grid_shape, scale, tile
from app.sampler import LoadedModel
from models.sampling import InkRequest, draw

# Part of every ETag: bump it when the same request would render different bytes.
RENDERER_VERSION = 3
DIGIT_SIDE = 28


@dataclass(frozen=True)
class Style:
    size: int | None  # output height in pixels; None: natural size
    fg: RGBA
    bg: RGBA
    smooth: bool


@dataclass(frozen=True)
class ImageSpec:
    """Everything besides the checkpoint that decides an image's bytes."""

    ink: InkRequest
    cols: int  # images per row
    pad: int  # paper between images
    style: Style

    def natural_shape(self) -> tuple[int, int]:
        if self.ink.n == 1:
            return DIGIT_SIDE, DIGIT_SIDE
        return grid_shape(self.ink.n, self.cols, self.pad, DIGIT_SIDE)

    def output_shape(self) -> tuple[int, int]:
        h, w = self.natural_shape()
        if self.style.size is None:
            return h, w
        return self.style.size, max(1, round(w * self.style.size / h))

    def etag(self, checkpoint_id: str) -> str:
        ink, style = self.ink, self.style
        key = repr(
            (RENDERER_VERSION, checkpoint_id, ink.n, ink.seed, ink.labels, ink.one_style)
            + (self.cols, self.pad, style.size, style.fg, style.bg, style.smooth)
        )
        return '"' + hashlib.blake2b(key.encode(), digest_size=16).hexdigest() + '"'

    def compose(self, ink: np.ndarray) -> bytes:
        sheet = ink[0] if self.ink.n == 1 else tile(ink, self.cols, self.pad)
        if self.style.size is not None:
            sheet = scale(sheet, self.style.size, self.style.smooth)
        return encode_png(sheet, self.style.fg, self.style.bg)


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names `etag` (weak or strong) or is `*`."""
    if not if_none_match:
        return False
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in tags or etag in tags


def render_batch(model: LoadedModel, specs: list[ImageSpec]) -> list[bytes | Exception]:
    """PNG bytes for each spec, from one pass of the model's generator; an item that
    cannot be drawn (an unconditional model that found no such digit) gets its error."""
    inks = draw(model.generator, [spec.ink for spec in specs])
    return [
        ink if isinstance(ink, Exception) else spec.compose(ink)
        for spec, ink in zip(specs, inks, strict=True)
    ]
