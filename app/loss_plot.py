"""A job's loss curves as a PNG, drawn with Pillow."""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 640, 320
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 28, 36
BACKGROUND, AXES, GRID = (255, 255, 255), (60, 60, 60), (225, 225, 225)
CURVES = (("discriminator", (31, 119, 180)), ("generator", (255, 127, 14)))


def draw_losses(points: Sequence[tuple[int, float, float]], title: str) -> bytes:
    """Both losses against the step; an empty frame that says so before the first point."""
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    draw.text((LEFT, 8), title, fill=AXES, font=font)
    x0, y0, x1, y1 = LEFT, TOP, WIDTH - RIGHT, HEIGHT - BOTTOM
    if not points:
        draw.rectangle((x0, y0, x1, y1), outline=AXES)
        draw.text((x0 + 12, y0 + 12), "no losses reported yet", fill=AXES, font=font)
        return _png(image)

    steps = [p[0] for p in points]
    losses = [v for p in points for v in p[1:]]
    s_min, s_max = min(steps), max(max(steps), min(steps) + 1)
    l_min, l_max = min(losses), max(losses)
    pad = (l_max - l_min) * 0.05 or 0.5
    l_min, l_max = l_min - pad, l_max + pad

    def xy(step: float, loss: float) -> tuple[float, float]:
        return (
            x0 + (step - s_min) / (s_max - s_min) * (x1 - x0),
            y1 - (loss - l_min) / (l_max - l_min) * (y1 - y0),
        )

    for i in range(5):  # horizontal grid lines with their loss values
        loss = l_min + i * (l_max - l_min) / 4
        _, y = xy(s_min, loss)
        draw.line((x0, y, x1, y), fill=GRID)
        draw.text((4, y - 6), f"{loss:.3g}", fill=AXES, font=font)
    draw.rectangle((x0, y0, x1, y1), outline=AXES)
    draw.text((x0, y1 + 6), f"step {s_min}", fill=AXES, font=font)
    draw.text((x1 - 90, y1 + 6), f"step {s_max}", fill=AXES, font=font)
    for column, (name, colour) in enumerate(CURVES, start=1):
        line = [xy(p[0], p[column]) for p in points]
        if len(line) > 1:
            draw.line(line, fill=colour, width=2)
        else:
            draw.ellipse(_dot(line[0]), fill=colour)
        key_x = x1 - 220 + 110 * (column - 1)
        draw.rectangle((key_x, 10, key_x + 12, 18), fill=colour)
        draw.text((key_x + 16, 8), name, fill=colour, font=font)
    return _png(image)


def _dot(center: tuple[float, float], r: float = 3) -> tuple[float, float, float, float]:
    return (center[0] - r, center[1] - r, center[0] + r, center[1] + r)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
