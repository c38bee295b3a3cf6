"""Uploaded data sets (models/uploads.py) on real files the tests write: zips of images in
every common format and colour mode, IDX pairs, and each kind of refusal."""

from __future__ import annotations

import gzip
import importlib.util
import io
import struct
import subprocess
import sys
import tracemalloc
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image, ImageDraw

from models.uploads import UploadError, UploadLimits, digits_from_idx, digits_from_zip, mnist_style

ROOT = Path(__file__).resolve().parent.parent
FEW = UploadLimits(min_images=1)  # refusal tests need no ten images


# ---- files the tests write ----------------------------------------------------------


def drawing(width: int, height: int, box: tuple[int, int, int, int], label: int = 7) -> np.ndarray:
    """A digit-like, asymmetric drawing: bright ink (255) on black paper, inside box
    (left, top, right, bottom). A 7 for odd labels, a lopsided 0-like loop for even."""
    image = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = box
    stroke = max(2, (right - left) // 7)
    if label % 2:
        draw.line([(left, top), (right, top), (left + (right - left) // 3, bottom)], 255, stroke)
        draw.line(
            [(left + (right - left) // 4, (top + bottom) // 2), (right, (top + bottom) // 2)],
            255,
            stroke,
        )
    else:
        draw.ellipse(box, outline=255, width=stroke)
        draw.line([(right, top), (right, bottom)], 255, stroke)
    return np.asarray(image)


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def zip_of(files: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def dark_on_light(ink: np.ndarray) -> Image.Image:
    """Blue-black ink on cream paper, RGB."""
    k = ink.astype(np.float32)[..., None] / 255
    paper, pen = np.array([250, 245, 225]), np.array([20, 30, 90])
    return Image.fromarray((paper * (1 - k) + pen * k).astype(np.uint8))


def on_transparent(ink: np.ndarray) -> Image.Image:
    """Black ink whose paper is fully transparent, and black too under the transparency."""
    rgba = np.zeros((*ink.shape, 4), dtype=np.uint8)
    rgba[..., 3] = ink
    return Image.fromarray(rgba)


def sixteen_bit(ink: np.ndarray) -> Image.Image:
    """Light ink on dark paper in 16-bit grey, every level above 8 bits' range."""
    return Image.fromarray((2000 + ink.astype(np.uint16) * 150).astype(np.uint16))


def png_header(width: int, height: int) -> bytes:
    """A tiny PNG that declares width x height 1-bit pixels (its data would not fill them)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0"))
        + chunk(b"IEND", b"")
    )


def idx_bytes(array: np.ndarray) -> bytes:
    """MNIST-format IDX: two zero bytes, type 0x08, rank, big-endian sizes, then the data."""
    sizes = b"".join(n.to_bytes(4, "big") for n in array.shape)
    header = bytes([0, 0, 0x08, array.ndim]) + sizes
    return header + array.astype(np.uint8).tobytes()


def gzip_stream(header: bytes, zeros: int) -> bytes:
    """header followed by `zeros` zero bytes, gzipped without ever holding them all."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=1) as f:
        f.write(header)
        chunk = bytes(2**20)
        for _ in range(zeros // len(chunk)):
            f.write(chunk)
    return out.getvalue()


def small_zip(n: int = 10, extra: dict[str, bytes] | None = None) -> bytes:
    """n valid PNG digits (labels cycling 0..9), plus `extra` entries."""
    files = {
        f"{i % 10}/d{i:03}.png": encode(Image.fromarray(drawing(40, 40, (8, 6, 30, 34), i)), "PNG")
        for i in range(n)
    }
    return zip_of(files | (extra or {}))


@contextmanager
def refused(status: int, *phrases: str) -> Iterator[None]:
    """The block must raise an UploadError with `status` and a message holding `phrases`."""
    with pytest.raises(UploadError) as info:
        yield
    assert info.value.status == status, str(info.value)
    for phrase in phrases:
        assert phrase in str(info.value), (phrase, str(info.value))


# ---- what an MNIST digit looks like ----------------------------------------------------


def ink_box(digit: np.ndarray) -> tuple[int, int]:
    rows, cols = np.nonzero(digit)
    return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1


def centre_of_mass(digit: np.ndarray) -> tuple[float, float]:
    rows, cols = np.indices(digit.shape)
    mass = digit.astype(np.float64).sum()
    return (rows * digit).sum() / mass, (cols * digit).sum() / mass


def difference(x: np.ndarray, y: np.ndarray) -> float:
    """Mean absolute difference in grey levels, over the best of the shifts by up to one
    pixel: MNIST's centring shifts by whole pixels, so a centre of mass that falls near
    half a pixel may round either way."""
    x, y = x.astype(int), y.astype(int)
    shifts = [(r, c) for r in (-1, 0, 1) for c in (-1, 0, 1)]
    return min(float(np.abs(np.roll(x, shift, (0, 1)) - y).mean()) for shift in shifts)


def assert_mnist_like(digit: np.ndarray) -> None:
    assert digit.shape == (28, 28) and digit.dtype == np.uint8
    assert digit.max() == 255  # the strongest ink is full ink
    assert digit[[0, -1]].max() == 0 and digit[:, [0, -1]].max() == 0  # paper all round
    assert 19 <= max(ink_box(digit)) <= 21
    assert np.allclose(centre_of_mass(digit), (14, 14), atol=1.0)


# ---- conversion -------------------------------------------------------------------------


def test_mixed_formats_modes_sizes_and_polarities_become_mnist_digits() -> None:
    # The drawings sit off-centre, in canvases of several sizes and aspect ratios.
    a = drawing(90, 60, (40, 8, 80, 52), 7)
    b = drawing(40, 40, (4, 4, 24, 34), 4)
    c = drawing(300, 200, (20, 30, 120, 180), 1)
    palette = dark_on_light(b).convert("P", palette=Image.Palette.ADAPTIVE)
    bilevel = Image.fromarray(255 - a).convert("1", dither=Image.Dither.NONE)
    files = {
        "set/7/a.png": encode(dark_on_light(a), "PNG"),  # dark on light RGB
        "set/4/b.jpg": encode(Image.fromarray(b), "JPEG", quality=85),  # light on dark L
        "set/1/c.png": encode(on_transparent(c), "PNG"),  # RGBA, transparent paper
        "set/2/d.gif": encode(palette, "GIF"),
        "set/3/e.bmp": encode(bilevel, "BMP"),  # mode 1
        "set/5/f.webp": encode(dark_on_light(c), "WEBP", lossless=True),
        "set/6/g.png": encode(sixteen_bit(a), "PNG"),  # I;16, all of it above 255
        "set/8/h.png": encode(Image.fromarray(255 - b).convert("LA"), "PNG"),
        "set/9/i.tif": encode(dark_on_light(c), "TIFF"),
        "set/0/j.png": encode(Image.fromarray(b), "PNG"),
        "__MACOSX/set/7/._a.png": b"resource fork, not an image",
        "set/.DS_Store": b"junk",
    }
    got = digits_from_zip(zip_of(files))
    assert got.images.shape == (10, 28, 28) and got.images.dtype == np.uint8
    # Sorted by entry name: set/0/j, set/1/c, ..., set/9/i.
    assert got.labels.tolist() == list(range(10)) and got.labels.dtype == np.int64
    for digit in got.images:
        assert_mnist_like(digit)
    # The same drawing gives the same digit whatever its format and polarity.
    same = {"a": (7, 3, 6), "b": (4, 2, 0, 8), "c": (1, 5, 9)}
    for drawing_name, labels in same.items():
        for label in labels[1:]:
            assert difference(got.images[label], got.images[labels[0]]) < 4, (drawing_name, label)
    # ...and different drawings differ.
    assert difference(got.images[7], got.images[4]) > 30


@pytest.mark.parametrize(
    "ink",
    [
        drawing(64, 48, (30, 6, 58, 44), 7),
        drawing(24, 32, (0, 0, 23, 31), 7),  # cropped tight: the ink touches the border
        drawing(20, 20, (0, 0, 19, 19), 4),
    ],
)
def test_inverted_copies_convert_to_the_same_digit(ink: np.ndarray) -> None:
    bright = mnist_style(Image.fromarray(ink))
    assert np.array_equal(mnist_style(Image.fromarray(255 - ink)), bright)
    assert difference(mnist_style(dark_on_light(ink)), bright) < 1
    assert difference(mnist_style(on_transparent(ink)), bright) < 1
    assert_mnist_like(bright)


def test_tall_drawing_keeps_its_aspect_ratio() -> None:
    ink = np.zeros((100, 100), dtype=np.uint8)
    ink[10:90, 40:60] = 255  # an 80x20 bar: 20x5 once scaled
    assert ink_box(mnist_style(Image.fromarray(ink))) == (20, 5)


def test_digits_are_sorted_by_entry_name() -> None:
    files = {
        f"{label}/z{9 - label}.png": encode(
            Image.fromarray(drawing(40, 40, (8, 6, 30, 34), label)), "PNG"
        )
        for label in range(10)
    }
    reversed_files = dict(reversed(list(files.items())))
    got = digits_from_zip(zip_of(reversed_files))
    assert got.labels.tolist() == list(range(10))
    assert np.array_equal(got.images, digits_from_zip(zip_of(files)).images)


@pytest.mark.parametrize("gz_images,gz_labels", [(False, False), (True, True), (True, False)])
def test_idx_pairs_gzipped_or_not(gz_images: bool, gz_labels: bool) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 28, 28), dtype=np.uint8)
    labels = np.arange(12, dtype=np.uint8) % 10
    image_file, label_file = idx_bytes(images), idx_bytes(labels)
    got = digits_from_idx(
        gzip.compress(image_file) if gz_images else image_file,
        gzip.compress(label_file) if gz_labels else label_file,
    )
    assert np.array_equal(got.images, images)  # kept as they are
    assert got.labels.dtype == np.int64 and got.labels.tolist() == labels.tolist()


# ---- refusals: too big (413) ------------------------------------------------------------


def test_too_many_images_is_refused_before_any_is_decoded() -> None:
    data = small_zip(12, {"5/not-an-image.png": b"never decoded"})
    with refused(413, "13 images", "at most 12"):
        digits_from_zip(data, UploadLimits(max_images=12))
    with refused(413, "30 images", "at most 20"):
        digits_from_idx(
            idx_bytes(np.zeros((30, 28, 28))), idx_bytes(np.zeros(30)), UploadLimits(max_images=20)
        )


def test_too_large_upload_is_refused() -> None:
    with refused(413, "at most 1000"):
        digits_from_zip(small_zip(), UploadLimits(max_upload_bytes=1000))
    with refused(413, "at most 1000"):
        digits_from_idx(
            idx_bytes(np.zeros((10, 28, 28))),
            idx_bytes(np.zeros(10)),
            UploadLimits(max_upload_bytes=1000),
        )


def test_pixel_dimensions_are_refused_from_the_header() -> None:
    data = small_zip(3, {"3/huge.png": png_header(5000, 5000)})
    with refused(413, "'3/huge.png' is 5000x5000 pixels", "at most 16777216 pixels per image"):
        digits_from_zip(data, FEW)


@pytest.mark.parametrize("side", [10_000, 20_000])  # Pillow warns past 89 Mpx, raises past 179
def test_pillow_decompression_bomb_guard_is_a_refusal(side: int) -> None:
    data = small_zip(3, {"3/huge.png": png_header(side, side)})
    with refused(413, "'3/huge.png' is over 89478485 pixels"):
        digits_from_zip(data, UploadLimits(min_images=1, max_pixels=10**12))


def test_total_pixels_are_bounded() -> None:
    # Ten 40x40 images: the sixth passes 8000 pixels.
    with refused(413, "hold at least 9600 pixels", "at most 8000 pixels"):
        digits_from_zip(small_zip(10), UploadLimits(max_total_pixels=5 * 40 * 40))


def test_too_many_entries_are_refused_before_the_directory_is_parsed() -> None:
    junk = {f"__MACOSX/9/._{i}.png": b"" for i in range(60)}
    with refused(413, "the zip has 70 entries", "at most 50 entries"):
        digits_from_zip(small_zip(10, junk), UploadLimits(max_entries=50))
    digits_from_zip(small_zip(10, junk))  # junk is skipped, not refused


def test_highly_compressible_member_is_refused_from_the_directory() -> None:
    bomb = {"3/bomb.bmp": bytes(4 * 2**20)}  # zeros: deflate makes ~1/1000 of them
    with refused(413, "'3/bomb.bmp' inflates", "at most 1000x"):
        digits_from_zip(small_zip(3, bomb), FEW)
    with refused(413, "'3/bomb.bmp' holds 4194304 bytes", "at most 2097152 bytes"):
        digits_from_zip(
            small_zip(3, bomb),
            UploadLimits(min_images=1, max_entry_bytes=2 * 2**20, max_ratio=10**6),
        )
    with refused(413, "at most 3000000"):
        digits_from_zip(
            small_zip(3, bomb), UploadLimits(min_images=1, max_zip_bytes=3_000_000, max_ratio=10**6)
        )


def test_member_that_inflates_past_its_declared_size_is_refused_without_inflating_it() -> None:
    data = bytearray(zip_of({"3/bomb.png": bytes(64 * 2**20)}))
    # Declare 1000 bytes, in the local header and in the central directory alike.
    struct.pack_into("<I", data, 22, 1000)
    struct.pack_into("<I", data, data.rfind(b"PK\x01\x02") + 24, 1000)
    tracemalloc.start()
    try:
        with refused(422, "'3/bomb.png' does not match its declared size"):
            digits_from_zip(bytes(data), FEW)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20, peak


def test_gzip_idx_bomb_is_refused_from_its_header() -> None:
    labels = idx_bytes(np.zeros(100_000))
    bomb = gzip_stream(bytes([0, 0, 8, 3]) + struct.pack(">III", 100_000, 28, 28), 78 * 2**20)
    trailing = gzip_stream(idx_bytes(np.zeros((10, 28, 28))), 32 * 2**20)
    tracemalloc.start()
    try:
        with refused(413, "100000 images", "at most 20000"):
            digits_from_idx(bomb, labels)
        with refused(422, "promises 7840 bytes; it has more"):
            digits_from_idx(trailing, idx_bytes(np.zeros(10)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20, peak
    with refused(413, "inflates to 7840 bytes", "at most 4000"):
        digits_from_idx(
            gzip.compress(idx_bytes(np.zeros((10, 28, 28)))),
            idx_bytes(np.zeros(10)),
            UploadLimits(max_idx_bytes=4000),
        )


# ---- refusals: malformed (422) ----------------------------------------------------------


@pytest.mark.parametrize("name", ["x/a.png", "a.png", "mine/37/a.png"])
def test_image_outside_a_digit_folder_is_refused(name: str) -> None:
    with refused(422, repr(name), "folder named 0..9"):
        digits_from_zip(small_zip(10, {name: b"data"}))


@pytest.mark.parametrize("name", ["../3/a.png", "3/../../a.png", "/3/a.png", "C:/3/a.png"])
def test_entry_leaving_its_folder_is_refused(name: str) -> None:
    with refused(422, repr(name), "relative"):
        digits_from_zip(small_zip(10, {name: b"data"}))


@pytest.mark.parametrize("data", [b"", b"plain text", encode(Image.new("L", (4, 4)), "PNG")])
def test_not_a_zip_is_refused(data: bytes) -> None:
    with refused(422, "not a zip"):
        digits_from_zip(data)


def test_encrypted_entry_is_refused() -> None:
    data = bytearray(small_zip(10))
    # The "encrypted" flag, in the first entry's local header and directory record.
    data[6] |= 1
    data[data.find(b"PK\x01\x02") + 8] |= 1
    with refused(422, "'0/d000.png' is encrypted"):
        digits_from_zip(bytes(data))


def test_nested_zip_is_refused() -> None:
    with refused(422, "'3/inner.png' is a zip"):
        digits_from_zip(small_zip(10, {"3/inner.png": small_zip(1)}))


# PostScript would go to Ghostscript: only raster formats are opened at all.
@pytest.mark.parametrize("data", [b"these are my digits", b"%!PS-Adobe-3.0 EPSF-3.0\n"])
def test_non_image_in_a_digit_folder_is_refused(data: bytes) -> None:
    with refused(422, "'4/{0}.txt' is no image", "allowed: PNG, JPEG"):
        digits_from_zip(small_zip(10, {"4/{0}.txt": data}))


@pytest.mark.parametrize("paper", [0, 200])
def test_blank_image_is_refused(paper: int) -> None:
    noise = np.random.default_rng(0).integers(0, 12, (50, 40))  # paper grain, no ink
    blank = Image.fromarray((paper + noise).astype(np.uint8))
    with refused(422, "'6/blank.png': the image is blank"):
        digits_from_zip(small_zip(10, {"6/blank.png": encode(blank, "PNG")}))
    with refused(422, "blank"):
        mnist_style(Image.new("RGBA", (30, 30), (0, 0, 0, 0)))


def test_too_few_images_are_refused() -> None:
    with refused(422, "3 images", "at least 10"):
        digits_from_zip(small_zip(3, {"3/.hidden.png": b"", "__MACOSX/3/._x.png": b""}))
    with refused(422, "3 images", "at least 10"):
        digits_from_idx(idx_bytes(np.zeros((3, 28, 28))), idx_bytes(np.zeros(3)))


def test_labels_out_of_range_are_refused() -> None:
    with refused(422, "labels must be 0..9", "found 12"):
        digits_from_idx(idx_bytes(np.zeros((10, 28, 28))), idx_bytes(np.arange(10) + 3))


def test_mismatched_idx_files_are_refused() -> None:
    with refused(422, "10 images but 9 labels"):
        digits_from_idx(idx_bytes(np.zeros((10, 28, 28))), idx_bytes(np.zeros(9)))
    with refused(422, "shape (10, 28, 27)", "(N, 28, 28)"):
        digits_from_idx(idx_bytes(np.zeros((10, 28, 27))), idx_bytes(np.zeros(10)))
    with refused(422, "promises 7840 bytes; it has 7839"):
        digits_from_idx(idx_bytes(np.zeros((10, 28, 28)))[:-1], idx_bytes(np.zeros(10)))
    with refused(422, "not IDX"):
        digits_from_idx(b"\0\0\x0d\x03" + bytes(100), idx_bytes(np.zeros(10)))
    with refused(422, "not valid gzip"):
        digits_from_idx(
            gzip.compress(idx_bytes(np.zeros((10, 28, 28))))[:-30], idx_bytes(np.zeros(10))
        )


# ---- benchmarks/style_digits.py ---------------------------------------------------------


def load_style_digits() -> ModuleType:
    """benchmarks/style_digits.py as a module (benchmarks/ is no package)."""
    path = ROOT / "benchmarks" / "style_digits.py"
    spec = importlib.util.spec_from_file_location("style_digits", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_style_digits_script_makes_a_balanced_zip_that_converts(tmp_path: Path) -> None:
    out = tmp_path / "style.zip"
    subprocess.run(
        [sys.executable, "benchmarks/style_digits.py", str(out), "--per-digit", "3", "--seed", "1"],
        cwd=ROOT,
        check=True,
    )
    got = digits_from_zip(out.read_bytes())
    assert len(got) == 30 and np.bincount(got.labels).tolist() == [3] * 10
    for digit in got.images:
        assert_mnist_like(digit)
    style = load_style_digits()
    assert style.style_zip(3, 1) == out.read_bytes()  # the same for a seed
    assert style.style_zip(3, 2) != out.read_bytes()
