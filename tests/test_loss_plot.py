"""The loss chart (/v1/jobs/{id}/losses.png): raw points faint, a smoothed trend over them."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from app.loss_plot import (
    BOTTOM,
    CURVES,
    HEIGHT,
    LEFT,
    RIGHT,
    TOP,
    WIDTH,
    draw_losses,
    faint,
    moving_average,
)

DISCRIMINATOR, GENERATOR = (colour for _, colour in CURVES)


def zigzag(count: int = 120) -> list[tuple[int, float, float]]:
    """Losses that jump between two values each report: their trend is the middle."""
    return [(step, 1.5 - step % 2, 4.0 - 2 * (step % 2)) for step in range(count)]


def pixels(png: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(png))
    assert image.size == (WIDTH, HEIGHT)
    return np.asarray(image.convert("RGB"))


def rows_of(picture: np.ndarray, colour: tuple[int, int, int], columns: slice) -> np.ndarray:
    """The rows where `columns` hold exactly `colour` (below the title and the key)."""
    inside = picture[TOP + 1 : HEIGHT - BOTTOM, columns]
    return TOP + 1 + np.flatnonzero((inside == colour).all(axis=2).any(axis=1))


def test_moving_average_is_centred_and_cut_short_at_the_ends():
    assert moving_average([0, 3, 0, 3, 0], 1) == [1.5, 1.0, 2.0, 1.0, 1.5]
    assert moving_average([2.0] * 7, 3) == [2.0] * 7
    assert moving_average([], 2) == []


def test_the_trend_is_drawn_thick_in_the_middle_of_the_raw_zigzag():
    picture = pixels(draw_losses(zigzag(), "job z: succeeded"))
    middle = slice(WIDTH // 2 - 10, WIDTH // 2 + 10)  # a few reports wide
    for colour in (DISCRIMINATOR, GENERATOR):
        trend = rows_of(picture, colour, middle)
        raw = rows_of(picture, faint(colour), middle)
        assert len(trend) >= 3, f"no thick trend line of {colour}"
        assert len(raw) > 0, f"no faint raw points of {colour}"
        # The raw line spans the zigzag; the trend sits in a narrow band in its middle.
        assert np.ptp(trend) < np.ptp(raw) / 5
        assert raw.min() < trend.min() - 20 and raw.max() > trend.max() + 20
        centre = (raw.min() + raw.max()) / 2
        assert abs(trend.mean() - centre) < 6


def test_the_same_points_give_the_same_bytes():
    points = zigzag(80)
    assert draw_losses(points, "job a: running") == draw_losses(list(points), "job a: running")
    moved = [*points[:-1], (points[-1][0], 9.0, 9.0)]
    assert draw_losses(moved, "job a: running") != draw_losses(points, "job a: running")


def test_a_few_points_are_drawn_as_they_are():
    # Too few to have a trend: no faint copy, each curve in its full colour.
    picture = pixels(draw_losses([(1, 1.0, 2.0), (2, 1.5, 1.0), (3, 0.5, 1.5)], "job b"))
    everywhere = slice(LEFT + 1, WIDTH - RIGHT)
    for colour in (DISCRIMINATOR, GENERATOR):
        assert len(rows_of(picture, colour, everywhere)) > 20
        assert len(rows_of(picture, faint(colour), everywhere)) == 0
    empty = pixels(draw_losses([], "job c: queued"))
    assert not (empty == GENERATOR).all(axis=2).any()
