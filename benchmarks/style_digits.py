"""A style of "handwriting" the MNIST model has never seen, for a fine-tuning experiment.

    .venv/bin/python benchmarks/style_digits.py OUT.zip [--per-digit 50] [--seed 0]

The digits 0-9 typeset in DejaVu TrueType faces (Debian's fonts-dejavu-core, and the
oblique faces of fonts-dejavu-extra where installed), each with a small random rotation
(up to 12 degrees), shear (up to 0.25), stroke width (0-3 px), size and position, dark
ink on light paper, as PNGs of 40-90 px a side in digit folders (`7/7-0003.png`), zipped:
the upload format that models.uploads.digits_from_zip reads. The same seed gives the same
bytes.
"""

from __future__ import annotations

import argparse
import io
import math
import random
import sys
import zipfile
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
# fonts-dejavu-core ships the upright faces; the obliques come with fonts-dejavu-extra.
CORE_FACES = ("DejaVuSans", "DejaVuSans-Bold", "DejaVuSerif", "DejaVuSansMono")
EXTRA_FACES = ("DejaVuSans-Oblique", "DejaVuSerif-Italic", "DejaVuSansMono-BoldOblique")
MAX_ROTATION, MAX_SHEAR, MAX_STROKE = 12.0, 0.25, 3
SIDES = (40, 90)  # each side of a PNG, in pixels
# Fixed entry times: the zip's bytes depend on the seed alone.
ZIP_TIME = (2024, 1, 1, 0, 0, 0)


def faces() -> list[Path]:
    """The font files to draw with; FileNotFoundError naming the package if none are there."""
    found = [FONT_DIR / f"{face}.ttf" for face in CORE_FACES + EXTRA_FACES]
    found = [path for path in found if path.is_file()]
    if not any(path.stem in CORE_FACES for path in found):
        raise FileNotFoundError(
            f"no DejaVu fonts in {FONT_DIR}; install Debian's fonts-dejavu-core package "
            "(apt-get install fonts-dejavu-core)"
        )
    return found


def style_zip(per_digit: int, seed: int) -> bytes:
    """A zip of 10 * per_digit PNGs, `per_digit` of each digit, in digit folders."""
    fonts = faces()
    rng = random.Random(seed)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for digit in range(10):
            for i in range(per_digit):
                png = io.BytesIO()
                styled_digit(str(digit), rng.choice(fonts), rng).save(png, "PNG")
                info = zipfile.ZipInfo(f"{digit}/{digit}-{i:04}.png", ZIP_TIME)
                archive.writestr(info, png.getvalue(), zipfile.ZIP_DEFLATED)
    return out.getvalue()


def styled_digit(text: str, font_path: Path, rng: random.Random) -> Image.Image:
    """One digit, dark on light, in a canvas of random size."""
    width, height = rng.randint(*SIDES), rng.randint(*SIDES)
    size, stroke = round(min(width, height) * rng.uniform(0.5, 0.8)), rng.randint(0, MAX_STROKE)
    degrees, shear = rng.uniform(-MAX_ROTATION, MAX_ROTATION), rng.uniform(-MAX_SHEAR, MAX_SHEAR)
    font = ImageFont.truetype(str(font_path), size)
    # Drawn as bright ink on black with twice the room it needs, so that slanting never
    # cuts it; made dark ink on light paper at the end.
    glyph = Image.new("L", (2 * width, 2 * height), 0)
    draw = ImageDraw.Draw(glyph)
    draw.text((width, height), text, 255, font, "mm", stroke_width=stroke, stroke_fill=255)
    glyph = slanted(glyph, degrees, shear)
    glyph = glyph.crop(glyph.getbbox())
    # A glyph that slanting made wider than its canvas gets a wider canvas.
    width, height = max(width, glyph.width + 4), max(height, glyph.height + 4)
    canvas = Image.new("L", (width, height), 0)
    canvas.paste(
        glyph, (rng.randint(2, width - glyph.width - 2), rng.randint(2, height - glyph.height - 2))
    )
    paper, pen = rng.randint(225, 255), rng.randint(0, 50)
    return canvas.point(lambda ink: round(paper + (pen - paper) * ink / 255))


def slanted(image: Image.Image, degrees: float, shear: float) -> Image.Image:
    """image rotated by `degrees` and sheared horizontally by `shear`, about its centre."""
    cos, sin = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    # Image.transform maps each output pixel back to the input pixel it shows.
    a, b = cos + shear * sin, -sin + shear * cos
    d, e = sin, cos
    cx, cy = image.width / 2, image.height / 2
    matrix = (a, b, cx - a * cx - b * cy, d, e, cy - d * cx - e * cy)
    return image.transform(image.size, Image.Transform.AFFINE, matrix, Image.Resampling.BICUBIC)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the zip to write")
    parser.add_argument("--per-digit", type=int, default=50, help="images of each digit")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.per_digit < 1:
        parser.error("--per-digit must be at least 1")
    try:
        data = style_zip(args.per_digit, args.seed)
    except FileNotFoundError as exc:
        sys.exit(f"style_digits: {exc}")
    args.out.write_bytes(data)
    print(f"{args.out}: {10 * args.per_digit} digits, {len(data)} bytes")


if __name__ == "__main__":
    main()
