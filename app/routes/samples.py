"""Public sampling endpoints: PNG digits from the latest checkpoint."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.deps import Model
from digitgan.jobs import MAX_SEED
from models.sampling import encode_png, generate, tile

router = APIRouter(prefix="/v1", tags=["samples"])

PNG = {200: {"content": {"image/png": {}}, "description": "A PNG image."}}


@router.get("/samples.png", response_class=Response, responses=PNG)
def samples_png(
    model: Model,
    n: Annotated[int, Query(ge=1, le=256, description="How many digits.")] = 16,
    seed: Annotated[
        int | None, Query(ge=0, le=MAX_SEED, description="Same seed, same bytes.")
    ] = None,
    cols: Annotated[int | None, Query(ge=1, le=256, description="Grid columns.")] = None,
) -> Response:
    """A grid of `n` generated digits from the latest checkpoint."""
    loaded = model.get()
    png = encode_png(tile(generate(loaded.generator, n, seed), cols))
    headers = {"X-Checkpoint-Id": loaded.checkpoint_id}
    if seed is None:
        headers["Cache-Control"] = "no-store"
    return Response(png, media_type="image/png", headers=headers)
