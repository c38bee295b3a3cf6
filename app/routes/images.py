"""Public image endpoints: one digit, a number, a grid; PNG, cacheable, safe to embed."""

from __future__ import annotations

import asyncio
import math
import secrets
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from app.metrics import IMAGE_CACHE_HITS, IMAGES_RENDERED
from app.png import RGBA, grid_columns
from app.problems import INVALID, UNAVAILABLE, Responses, invalid, problem
from app.rendering import ImageSpec, Style, etag_matches
from app.repeats import remember
from app.sampler import LoadedModel, Resolved
from app.state import Services, services
from digitgan.ids import LATEST, REF
from digitgan.specs import MAX_SEED
from models.sampling import InkRequest

router = APIRouter(prefix="/v1", tags=["images"])

MAX_SIZE = 1024
MAX_PIXELS = 2048 * 2048
MAX_SAMPLES = 256
MAX_NUMBER_LENGTH = 32
IMMUTABLE = "public, max-age=31536000, immutable"
HEX = "[0-9a-fA-F]{6}(?:[0-9a-fA-F]{2})?"

PNG_RESPONSES: Responses = {
    200: {
        "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
        "description": "A PNG image. `ETag` and `Cache-Control` say how long it may be kept.",
    },
    304: {"description": "Not modified: the `If-None-Match` ETag still names these bytes."},
    404: problem("No checkpoint or alias of that name, or no checkpoint published yet."),
    409: problem("Specific digits were asked of an unconditional (mlp) checkpoint."),
    **INVALID,
    **UNAVAILABLE,
}


class ImageQuery(BaseModel):
    """Query parameters every image endpoint takes."""

    seed: int | None = Field(
        None,
        ge=0,
        le=MAX_SEED,
        description="Same seed and checkpoint id: same bytes. Left out: a random seed, "
        "sent back in `X-Seed`, and `Cache-Control: no-store`.",
        examples=[42],
    )
    size: int | None = Field(
        None,
        ge=8,
        le=MAX_SIZE,
        description="Output height in pixels (width keeps the aspect ratio); "
        f"at most {MAX_PIXELS} pixels in all. Default: natural size (28 per digit).",
        examples=[112],
    )
    smooth: bool = Field(False, description="Interpolate when scaling; default: crisp pixels.")
    fg: str = Field(
        "000000",
        pattern=f"^{HEX}$",
        description="Ink colour, hex RRGGBB or RRGGBBAA (no `#`).",
        examples=["1a1a2e"],
    )
    bg: str = Field(
        "ffffff",
        pattern=f"^(?:{HEX}|transparent)$",
        description="Paper colour, hex RRGGBB or RRGGBBAA, or `transparent`.",
        examples=["transparent"],
    )
    checkpoint: str = Field(
        LATEST,
        pattern=REF,
        description="A checkpoint id, an alias (e.g. `production`) or `latest`.",
        examples=["production"],
    )

    def style(self) -> Style:
        return Style(self.size, _rgba(self.fg), _rgba(self.bg), self.smooth)


class SamplesQuery(ImageQuery):
    model_config = ConfigDict(json_schema_extra={"description": "A grid of digits."})

    n: int = Field(16, ge=1, le=MAX_SAMPLES, description="How many digits.", examples=[30])
    cols: int | None = Field(
        None, ge=1, le=MAX_SAMPLES, description="Digits per row; default: a square.", examples=[10]
    )
    digit: int | None = Field(
        None,
        ge=0,
        le=9,
        description="Only this digit (needs a conditional checkpoint).",
        examples=[7],
    )
    rows: bool = Field(
        False,
        description="Row r shows the digit r mod 10 (needs a conditional checkpoint); "
        "not together with `digit`.",
    )


def _rgba(colour: str) -> RGBA:
    if colour == "transparent":
        return (255, 255, 255, 0)
    value = bytes.fromhex(colour if len(colour) == 8 else colour + "ff")
    return value[0], value[1], value[2], value[3]


@router.get("/digits/{digit}.png", responses=PNG_RESPONSES, operation_id="digit_png")
@router.head("/digits/{digit}.png", responses=PNG_RESPONSES, operation_id="digit_png_head")
async def digit_png(
    request: Request,
    digit: Annotated[int, Path(ge=0, le=9, description="The digit to draw.", examples=[7])],
    query: Annotated[ImageQuery, Query()],
) -> Response:
    """One handwritten digit (needs a conditional checkpoint), 28 pixels tall by default."""
    seed = _seed(query)
    spec = ImageSpec(InkRequest(1, seed, (digit,)), cols=1, pad=0, style=query.style())
    return await _serve(request, spec, query)


@router.get("/numbers/{text}.png", responses=PNG_RESPONSES, operation_id="number_png")
@router.head("/numbers/{text}.png", responses=PNG_RESPONSES, operation_id="number_png_head")
async def number_png(
    request: Request,
    text: Annotated[
        str,
        Path(
            pattern=f"^[0-9]{{1,{MAX_NUMBER_LENGTH}}}$",
            description=f"1 to {MAX_NUMBER_LENGTH} digits.",
            examples=["2026"],
        ),
    ],
    query: Annotated[ImageQuery, Query()],
) -> Response:
    """A number as one strip of handwriting: every character shares one noise vector,
    so it looks written by one hand (needs a conditional checkpoint)."""
    labels = tuple(int(c) for c in text)
    ink = InkRequest(len(labels), _seed(query), labels, one_style=True)
    spec = ImageSpec(ink, cols=len(labels), pad=0, style=query.style())
    return await _serve(request, spec, query)


@router.get("/samples.png", responses=PNG_RESPONSES, operation_id="samples_png")
@router.head("/samples.png", responses=PNG_RESPONSES, operation_id="samples_png_head")
async def samples_png(request: Request, query: Annotated[SamplesQuery, Query()]) -> Response:
    """A grid of `n` digits: any digits (every checkpoint), all one `digit`, or a digit
    per row (`rows`; both need a conditional checkpoint)."""
    if query.digit is not None and query.rows:
        raise invalid(("query", "rows"), "choose either digit or rows, not both")
    cols = grid_columns(query.n, query.cols)
    labels = None
    if query.digit is not None:
        labels = (query.digit,) * query.n
    elif query.rows:
        labels = tuple((i // cols) % 10 for i in range(query.n))
    ink = InkRequest(query.n, _seed(query), labels)
    return await _serve(request, ImageSpec(ink, cols=cols, pad=2, style=query.style()), query)


def _seed(query: ImageQuery) -> int:
    return secrets.randbits(63) if query.seed is None else query.seed


async def _serve(request: Request, spec: ImageSpec, query: ImageQuery) -> Response:
    height, width = spec.output_shape()
    if height * width > MAX_PIXELS:
        natural_h, natural_w = spec.natural_shape()
        most = math.isqrt(MAX_PIXELS * natural_h // natural_w)
        raise invalid(
            ("query", "size"), f"at most {MAX_PIXELS} pixels in all: for this image size <= {most}"
        )
    state = services(request.app)
    resolved = state.models.lookup(query.checkpoint)
    if resolved is None:
        resolved = await run_in_threadpool(state.models.resolve, query.checkpoint)
    model = resolved.model
    headers = {"X-Checkpoint-Id": model.checkpoint_id}
    if query.seed is None:
        headers |= {"Cache-Control": "no-store", "X-Seed": str(spec.ink.seed)}
        fresh = await _render(request, state, model, spec)
        return _png(request, fresh, headers) if fresh is not None else _GONE

    etag = spec.etag(model.checkpoint_id)
    headers |= {"ETag": etag, "Cache-Control": _cache_control(request, resolved)}
    remember(request.scope, model.checkpoint_id, etag, headers)
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    body = state.image_cache.get(etag)
    if body is not None:
        IMAGE_CACHE_HITS.inc()
    else:
        body = await _render(request, state, model, spec)
        if body is None:
            return _GONE
        if len(body) <= state.image_cache.maxsize:
            state.image_cache[etag] = body
    return _png(request, body, headers)


# The answer to a client that went away before its image was drawn: nobody reads it.
_GONE = Response(status_code=499)


async def _render(
    request: Request, state: Services, model: LoadedModel, spec: ImageSpec
) -> bytes | None:
    """The PNG, from the render thread; None if the client went away first (its place in
    the queue is given up: it is never drawn)."""
    rendered = state.batcher.submit(model, spec, units=spec.ink.n)
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({rendered, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
    if not rendered.done():
        rendered.cancel()
        return None
    body = rendered.result()
    IMAGES_RENDERED.inc()
    return body


async def _disconnected(request: Request) -> None:
    """Returns when the client disconnects (an image request has no body to read)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _cache_control(request: Request, resolved: Resolved) -> str:
    if resolved.follows_ref:
        return f"public, max-age={services(request.app).settings.alias_max_age_s}"
    return IMMUTABLE


def _png(request: Request, body: bytes, headers: dict[str, str]) -> Response:
    headers["Content-Length"] = str(len(body))
    if request.method == "HEAD":
        body = b""
    return Response(body, media_type="image/png", headers=headers)
