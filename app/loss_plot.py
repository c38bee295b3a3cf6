"""A job's loss curves as a PNG, drawn with Pillow.

GAN losses jump from one report to the next, so each curve is drawn twice: every reported
point as a faint thin line, and over it a centred moving average as a thick line in the
full colour, which is the trend a person wants to read. The same points always give the
same bytes (no randomness, no time), so the picture can be tested and cached.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 640, 320
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 28, 36
BACKGROUND, AXES, GRID = (255, 255, 255), (60, 60, 60), (225, 225, 225)
CURVES = (("discriminator", (31, 119, 180)), ("generator", (255, 127, 14)))
# How much of the full colour the raw points keep (the rest is the background).
RAW_STRENGTH = 0.35
RAW_WIDTH, SMOOTH_WIDTH = 1, 3
# The moving average spans about this fraction of the points on each side of a point
# (at least two each side), so a short run and a long one look alike.
SMOOTH_FRACTION = 1 / 12
# Below this many points there is no trend to separate from noise: only the raw line.
MIN_SMOOTHED = 5


def smoothing_radius(count: int) -> int:
    """How many neighbours on each side the moving average of `count` points takes."""
    return max(2, round(count * SMOOTH_FRACTION))


def moving_average(values: Sequence[float], radius: int) -> list[float]:
    """The centred mean of each value and up to `radius` neighbours on each side; near the
    ends the window is cut short rather than padded, so the ends are not pulled to zero.
    Centred (not an exponential average) so that the smoothed line does not lag behind
    the points it summarises."""
    sums = [0.0]
    for value in values:
        sums.append(sums[-1] + value)
    averaged = []
    for i in range(len(values)):
        lo, hi = max(0, i - radius), min(len(values), i + radius + 1)
        averaged.append((sums[hi] - sums[lo]) / (hi - lo))
    return averaged


def faint(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    """`colour` mixed with the background: the raw points, drawn under the trend."""
    r, g, b = (
        round(c * RAW_STRENGTH + paper * (1 - RAW_STRENGTH))
        for c, paper in zip(colour, BACKGROUND, strict=True)
    )
    return r, g, b


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

    smoothed = len(points) >= MIN_SMOOTHED
    radius = smoothing_radius(len(points))
    # Every raw line first, then every trend: no curve's faint points hide another's trend.
    for column, (_, colour) in enumerate(CURVES, start=1):
        line = [xy(p[0], p[column]) for p in points]
        fill = faint(colour) if smoothed else colour
        if len(line) > 1:
            draw.line(line, fill=fill, width=RAW_WIDTH if smoothed else 2)
        else:
            draw.ellipse(_dot(line[0]), fill=fill)
    if smoothed:
        for column, (_, colour) in enumerate(CURVES, start=1):
            trend = moving_average([p[column] for p in points], radius)
            line = [xy(p[0], value) for p, value in zip(points, trend, strict=True)]
            draw.line(line, fill=colour, width=SMOOTH_WIDTH, joint="curve")
        note = f"faint: each report; thick: mean of {2 * radius + 1} around it"
        draw.text((x0 + 110, y1 + 6), note, fill=AXES, font=font)
    for column, (name, colour) in enumerate(CURVES, start=1):
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
