"""Data sets that users upload, turned into `Digits`: an IDX pair, or a zip of images.

- IDX (`digits_from_idx`): MNIST's own format, each file gzipped or not (told by its magic
  bytes). The images must be 28x28 and are kept as they are.
- A zip (`digits_from_zip`): images in folders named by their digit (`7/a.png`, or
  `mine/7/a.png`), in any common raster format (FORMATS: PNG, JPEG, GIF, BMP, WEBP,
  TIFF...), size and colour mode. Each becomes an MNIST digit the way MNIST's were made
  (`mnist_style`). Digits come back sorted by entry name; OS junk (`__MACOSX/`, names
  starting with `.`) is skipped.

Uploads are untrusted: every size that can be known before decoding (the zip's directory,
each IDX header, each image's header) is checked against `UploadLimits` first, and no
stream is inflated past what its header declared. Every refusal is an `UploadError` whose
`status` is 413 (too big) or 422 (malformed) and whose message says what is allowed.
"""

from __future__ import annotations

import gzip
import io
import lzma
import math
import re
import struct
import warnings
import zipfile
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image

from models.data import IDX_UBYTE, IMAGE_SIZE, NUM_CLASSES, Digits

MiB = 2**20
TOO_BIG, MALFORMED = 413, 422
GZIP_MAGIC, ZIP_MAGIC, ZIP_DIRECTORY_ENTRY = b"\x1f\x8b", b"PK\x03\x04", b"PK\x01\x02"
DIGIT_FOLDERS = frozenset("0123456789")
OS_JUNK = frozenset({"__MACOSX", "Thumbs.db", "desktop.ini"})
# Raster formats only (Pillow would hand PostScript to Ghostscript, for one), of those this
# Pillow was built with: naming a missing one to Image.open is an error.
Image.init()
RASTER = ("PNG", "JPEG", "GIF", "BMP", "DIB", "WEBP", "AVIF", "TIFF", "PPM", "TGA", "ICO", "QOI")
FORMATS = tuple(name for name in RASTER if name in Image.OPEN)
# What a file that Pillow cannot read, or a damaged zip, may raise.
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, IndexError, struct.error)
ZIP_ERRORS = DECODE_ERRORS + (zipfile.BadZipFile, zlib.error, lzma.LZMAError, RuntimeError)
# MNIST's recipe: the ink's bounding box scaled to 20 px, its centre of mass put at (14, 14).
BOX, CENTRE = 20, 14.0
# Ink is 0..1 after polarity and contrast; INK_THRESHOLD is what counts as ink for the
# bounding box, MIN_CONTRAST (grey levels of 255) the least ink an image must have. Paper
# noise and JPEG ringing stay under both.
INK_THRESHOLD, MIN_CONTRAST = 0.1, 32.0


@dataclass(frozen=True)
class UploadLimits:
    max_upload_bytes: int = 32 * MiB  # what was sent: the zip, or both IDX files together
    max_images: int = 20_000
    max_entries: int = 50_000  # zip entries of any kind, folders and OS junk too
    min_images: int = 10
    max_idx_bytes: int = 64 * MiB  # each IDX file, decompressed
    max_pixels: int = 4096 * 4096  # each image, read from its header
    max_total_pixels: int = 2**29  # a zip's images together: bounds the decoding time
    max_entry_bytes: int = 64 * MiB  # each zip entry, uncompressed
    max_zip_bytes: int = 256 * MiB  # a zip's entries together, uncompressed
    # Deflate cannot pass ~1032:1 and drawn images rarely pass a few hundred (a clean
    # 2000x2000 BMP: ~630:1); more is a bomb of one repeated byte, or of bzip2/lzma.
    max_ratio: int = 1000


class UploadError(ValueError):
    """An upload was refused: `status` is 413 (too big) or 422 (malformed)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _at_most(value: int, limit: int, what: str, unit: str) -> None:
    """A 413 if value passes limit, e.g. "the upload holds 25000 images; at most 20000"."""
    if value > limit:
        raise UploadError(TOO_BIG, f"{what} {value}{unit}; at most {limit}{unit}")


def digits_from_idx(images: bytes, labels: bytes, limits: UploadLimits = UploadLimits()) -> Digits:
    """An MNIST-format pair: images (N, 28, 28) and labels (N,), each gzipped or not."""
    _at_most(len(images) + len(labels), limits.max_upload_bytes, "the upload is", " bytes")
    pixels = _read_idx(images, "images", (IMAGE_SIZE, IMAGE_SIZE), limits)
    classes = _read_idx(labels, "labels", (), limits)
    if len(classes) != len(pixels):
        raise UploadError(MALFORMED, f"{len(pixels)} images but {len(classes)} labels; must match")
    _at_least(len(pixels), limits)
    if classes.size and classes.max() >= NUM_CLASSES:
        raise UploadError(MALFORMED, f"labels must be 0..9; found {int(classes.max())}")
    return Digits(images=pixels.copy(), labels=classes.astype(np.int64))


def _read_idx(data: bytes, what: str, item: tuple[int, ...], limits: UploadLimits) -> np.ndarray:
    """One IDX file, read as a stream: its header is checked before its body is inflated,
    and never more than the header promised is, so a gzip bomb costs a few bytes."""
    stream: io.BufferedIOBase = io.BytesIO(data)
    if data[:2] == GZIP_MAGIC:
        stream = gzip.GzipFile(fileobj=stream)
    try:
        magic = stream.read(4)
        if len(magic) < 4 or magic[:2] != b"\0\0" or magic[2] != IDX_UBYTE:
            raise UploadError(MALFORMED, f"the {what} file is not IDX of unsigned bytes")
        dims = stream.read(4 * magic[3])
        shape = tuple(int.from_bytes(dims[i : i + 4], "big") for i in range(0, len(dims), 4))
        if len(dims) != 4 * magic[3] or len(shape) != 1 + len(item) or shape[1:] != item:
            wanted = f"(N, {', '.join(map(str, item))})" if item else "(N,)"
            raise UploadError(MALFORMED, f"the {what} file has shape {shape}; it must be {wanted}")
        _at_most(shape[0], limits.max_images, "the upload holds", f" {what}")
        size = math.prod(shape)
        _at_most(size, limits.max_idx_bytes, f"the {what} file inflates to", " bytes")
        body = stream.read(size + 1)  # one byte more reveals trailing data
    except (OSError, EOFError, zlib.error) as exc:
        raise UploadError(MALFORMED, f"the {what} file is not valid gzip: {exc}") from exc
    if len(body) != size:
        held = "more" if len(body) > size else str(len(body))
        raise UploadError(
            MALFORMED, f"the {what} file's header promises {size} bytes; it has {held}"
        )
    return np.frombuffer(body, dtype=np.uint8).reshape(shape)


def digits_from_zip(data: bytes, limits: UploadLimits = UploadLimits()) -> Digits:
    """A zip of images in digit folders, each converted by `mnist_style`."""
    _at_most(len(data), limits.max_upload_bytes, "the upload is", " bytes")
    # Counted before zipfile parses the directory: a million empty entries (zip64) would
    # cost it seconds and hundreds of MiB. Signatures in stored data can only overcount.
    _at_most(data.count(ZIP_DIRECTORY_ENTRY), limits.max_entries, "the zip has", " entries")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except ZIP_ERRORS as exc:
        raise UploadError(MALFORMED, "the upload is not a zip file (or a damaged one)") from exc
    images, pixels = [], 0
    with archive:
        entries = _image_entries(archive, limits)
        for info, _ in entries:
            image = _open_image(archive, info, limits)
            pixels += image.width * image.height
            _at_most(pixels, limits.max_total_pixels, "the zip's images hold at least", " pixels")
            images.append(_converted(image, info.filename))
    labels = np.array([label for _, label in entries], dtype=np.int64)
    return Digits(images=np.stack(images), labels=labels)


def _image_entries(
    archive: zipfile.ZipFile, limits: UploadLimits
) -> list[tuple[zipfile.ZipInfo, int]]:
    """(entry, label) for every image, sorted by name, checked from the zip's central
    directory alone: names, count, declared sizes, compression ratios."""
    entries = []
    for info in archive.infolist():
        name = info.filename
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name) or ".." in parts:
            raise UploadError(MALFORMED, f"zip entry {name!r}: names must be relative, no '..'")
        if info.is_dir() or any(part.startswith(".") or part in OS_JUNK for part in parts):
            continue
        if len(parts) < 2 or parts[-2] not in DIGIT_FOLDERS:
            raise UploadError(
                MALFORMED, f"zip entry {name!r} is not in a folder named 0..9 (e.g. '3/a.png')"
            )
        if info.flag_bits & 0x1:
            raise UploadError(MALFORMED, f"zip entry {name!r} is encrypted; entries must not be")
        entries.append((info, int(parts[-2])))
    _at_most(len(entries), limits.max_images, "the upload holds", " images")
    _at_least(len(entries), limits)
    for info, _ in entries:
        name, size = info.filename, info.file_size
        _at_most(size, limits.max_entry_bytes, f"zip entry {name!r} holds", " bytes")
        ratio = size // max(info.compress_size, 1)
        _at_most(ratio, limits.max_ratio, f"zip entry {name!r} inflates", "x")
    total = sum(info.file_size for info, _ in entries)
    _at_most(total, limits.max_zip_bytes, "the zip's images inflate to", " bytes")
    return sorted(entries, key=lambda entry: entry[0].filename)


def _open_image(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: UploadLimits
) -> Image.Image:
    """An entry's image with only its header read, its size checked; not yet decoded."""
    name = info.filename
    try:
        # A bounded read inflates in small steps and stops at the declared size, where a
        # member that holds more fails its CRC; read() would inflate a bomb in one go.
        with archive.open(info) as member:
            raw = member.read(info.file_size + 1)
    except ZIP_ERRORS as exc:
        raise UploadError(
            MALFORMED, f"zip entry {name!r} does not match its declared size and checksum ({exc})"
        ) from exc
    if len(raw) > info.file_size:
        raise UploadError(MALFORMED, f"zip entry {name!r} inflates past its declared size")
    if raw.startswith(ZIP_MAGIC):
        raise UploadError(MALFORMED, f"zip entry {name!r} is a zip; zips must not be nested")
    with warnings.catch_warnings():
        # Pillow's own guard against huge images (past ~89 Mpx) is a refusal here too.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(raw), formats=FORMATS)  # lazy: the header only
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
            raise _too_many_pixels(name, f"over {Image.MAX_IMAGE_PIXELS}", limits) from exc
        except DECODE_ERRORS as exc:
            raise _unreadable(name, exc) from exc
    if image.width * image.height > limits.max_pixels:
        raise _too_many_pixels(name, f"{image.width}x{image.height}", limits)
    return image


def _converted(image: Image.Image, name: str) -> np.ndarray:
    """The entry's image decoded and made an MNIST digit; errors name the entry."""
    try:
        image.load()
        return mnist_style(image)
    except UploadError as exc:
        raise UploadError(exc.status, f"zip entry {name!r}: {exc}") from exc
    except DECODE_ERRORS as exc:  # a damaged file, or a colour mode with no greyscale
        raise _unreadable(name, exc) from exc


def _too_many_pixels(name: str, size: str, limits: UploadLimits) -> UploadError:
    allowed = min(limits.max_pixels, Image.MAX_IMAGE_PIXELS or limits.max_pixels)
    return UploadError(
        TOO_BIG, f"zip entry {name!r} is {size} pixels; at most {allowed} pixels per image"
    )


def _unreadable(name: str, exc: Exception) -> UploadError:
    allowed = ", ".join(FORMATS)
    return UploadError(MALFORMED, f"zip entry {name!r} is no image ({exc}); allowed: {allowed}")


def _at_least(count: int, limits: UploadLimits) -> None:
    if count < limits.min_images:
        raise UploadError(
            MALFORMED, f"the upload holds {count} images; at least {limits.min_images}"
        )


def mnist_style(image: Image.Image) -> np.ndarray:
    """One image as an MNIST digit: (28, 28) uint8, 0 paper and 255 full ink.

    1. Greyscale. Transparent pixels become paper: white where what is opaque is dark on
       average, else black (so black ink on transparent paper works).
    2. Polarity, from the border: the paper's level is the median of the outermost frame
       (2 px; 1 px under 6 px), which holds where the ink touches the border too. Paper
       brighter than the image's mean means dark ink on light paper: the image is
       inverted. Then paper becomes 0 and the strongest ink 1; less than MIN_CONTRAST grey
       levels of ink is a blank image (422).
    3. The ink's bounding box (ink above INK_THRESHOLD) is scaled, aspect kept, so that its
       larger side is 20 px (Lanczos), and its strongest ink made 255 again.
    4. It is put in a 28x28 field so that its intensity-weighted centre of mass lands on
       pixel (14, 14) (row, column), shifted by whole pixels; what falls outside is cut.
    """
    ink = _ink(_grey(image))
    rows, cols = np.nonzero(ink)
    if rows.size == 0:
        raise UploadError(MALFORMED, "the image is blank; each image must show a digit")
    box = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    scale = BOX / max(box.shape)
    size = (max(1, round(box.shape[1] * scale)), max(1, round(box.shape[0] * scale)))
    patch = np.clip(np.asarray(Image.fromarray(box).resize(size, Image.Resampling.LANCZOS)), 0, 1)
    return _centred(patch / patch.max())


def _grey(image: Image.Image) -> np.ndarray:
    """Luminance as float32 in 0..255, whatever the mode."""
    if image.mode.startswith("I"):  # 16- and 32-bit integer greys
        grey = np.asarray(image.convert("I"), dtype=np.float32)
        return grey / 257 if grey.max() > 255 else grey
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        grey = np.asarray(rgba.convert("L"), dtype=np.float32)
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.float32) / 255
        opaque_mean = (grey * alpha).sum() / max(alpha.sum(), 1e-6)
        paper = 255.0 if opaque_mean < 128 else 0.0
        return grey * alpha + paper * (1 - alpha)
    return np.asarray(image.convert("L"), dtype=np.float32)


def _ink(grey: np.ndarray) -> np.ndarray:
    """Ink in 0..1 on paper 0, the polarity told by the border (see mnist_style)."""
    width = 2 if min(grey.shape) >= 6 else 1
    frame = np.ones(grey.shape, dtype=bool)
    frame[width:-width, width:-width] = False
    # The frame's median, not its mean: the paper even where the ink touches the border.
    paper = float(np.median(grey[frame]))
    if paper > grey.mean():
        grey, paper = 255 - grey, 255 - paper
    ink = np.clip(grey - paper, 0, None)
    if ink.max() < MIN_CONTRAST:
        return np.zeros_like(ink)
    # Paper noise under the threshold becomes 0, and the ink stays continuous above it.
    return np.clip((ink / ink.max() - INK_THRESHOLD) / (1 - INK_THRESHOLD), 0, 1)


def _centred(patch: np.ndarray) -> np.ndarray:
    """`patch` (ink 0..1) in a 28x28 field with its centre of mass on (14, 14)."""
    rows, cols = np.indices(patch.shape)
    top = round(CENTRE - float((rows * patch).sum() / patch.sum()))
    left = round(CENTRE - float((cols * patch).sum() / patch.sum()))
    field = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    # The part of the patch that lands inside the field.
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + patch.shape[0], IMAGE_SIZE), min(left + patch.shape[1], IMAGE_SIZE)
    field[r0:r1, c0:c1] = patch[r0 - top : r1 - top, c0 - left : c1 - left]
    return np.round(field * 255).astype(np.uint8)
