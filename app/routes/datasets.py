"""Uploaded data sets: upload (token), list, look at one and its preview, delete (token)."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, UploadFile, status
from fastapi.concurrency import run_in_threadpool

from app.deps import Authorized, State
from app.png import encode_png, tile
from app.problems import BODY, INVALID, UNAVAILABLE, Responses, problem
from app.state import Services
from digitgan.checkpoints import StoreFull
from digitgan.datasets import to_blob
from digitgan.ids import DATASET_ID, UPLOAD_PREFIX
from digitgan.jobs import JobState
from digitgan.schemas import DatasetList, DatasetOut
from models.data import NUM_CLASSES, Digits
from models.uploads import UploadError, UploadLimits, digits_from_idx, digits_from_zip

router = APIRouter(prefix="/v1/datasets", tags=["datasets"], responses={**UNAVAILABLE})

PREVIEW_PER_DIGIT = 10
IMMUTABLE = "public, max-age=31536000, immutable"
DatasetId = Annotated[
    str, Path(pattern=DATASET_ID, description="16 hex digits.", examples=["3f2a9c0d4b1e4f7a"])
]
NO_DATASET: Responses = {404: problem("No uploaded data set with that id.")}


def _out(request: Request, meta: dict[str, Any]) -> DatasetOut:
    preview = request.url_for("dataset_preview", dataset_id=meta["id"])
    return DatasetOut(**meta, dataset=UPLOAD_PREFIX + meta["id"], preview_url=str(preview))


def _existing(services: Services, dataset_id: str) -> dict[str, Any]:
    meta = services.datasets.meta(dataset_id)
    if meta is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"no uploaded data set {dataset_id!r}; GET /v1/datasets lists them",
        )
    return meta


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Authorized],
    responses={
        200: {"model": DatasetOut, "description": "The same digits were uploaded before."},
        **BODY,
        413: problem("Too large: the upload, its images, or their pixels."),
        507: problem("The store is full; delete checkpoints or data sets first."),
        **INVALID,
    },
)
async def upload_dataset(
    request: Request,
    response: Response,
    state: State,
    file: UploadFile | None = None,
    images: UploadFile | None = None,
    labels: UploadFile | None = None,
) -> DatasetOut:
    """Upload digits to train on, as multipart form data: either `file`, a zip of images
    in folders named by digit (`3/any-name.png`; any size, colour or polarity: each is made
    an MNIST digit), or `images` and `labels`, an MNIST-format IDX pair (gzipped or not).
    Train on it with `"dataset": "upload:<id>"`."""
    limits = UploadLimits(max_upload_bytes=state.settings.max_upload_bytes)
    digits = await run_in_threadpool(_read, file, images, labels, limits)
    source = file or images
    name = source.filename if source is not None and source.filename else "upload"
    meta, created = await run_in_threadpool(_store, state, digits, name)
    if not created:
        response.status_code = status.HTTP_200_OK
    return _out(request, meta)


def _read(
    file: UploadFile | None,
    images: UploadFile | None,
    labels: UploadFile | None,
    limits: UploadLimits,
) -> Digits:
    if file is not None and images is None and labels is None:
        return digits_from_zip(file.file.read(), limits)
    if file is None and images is not None and labels is not None:
        return digits_from_idx(images.file.read(), labels.file.read(), limits)
    raise UploadError(
        422,
        "send either `file` (a zip of images in digit folders) or both `images` and "
        "`labels` (an IDX pair), as multipart form data",
    )


def _store(state: Services, digits: Digits, name: str) -> tuple[dict[str, Any], bool]:
    size = len(to_blob(digits))
    budget, stored = state.settings.store_budget_bytes, state.checkpoints.stored_bytes()
    if stored + size > budget:
        raise StoreFull(
            f"the store holds {stored / 2**20:.0f} MiB and this data set takes "
            f"{size / 2**20:.1f} MiB, past its budget (DIGITGAN_STORE_BUDGET_BYTES) of "
            f"{budget / 2**20:.0f} MiB; delete data sets (DELETE /v1/datasets/{{id}}) or "
            "checkpoints (DELETE /v1/checkpoints/{id}) you no longer need"
        )
    return state.datasets.add(digits, name[:200])


@router.get("")
def list_datasets(
    request: Request,
    state: State,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> DatasetList:
    """Uploaded data sets, newest first."""
    listed = [_out(request, meta) for meta in state.datasets.page(limit, offset)]
    return DatasetList(datasets=listed, total=state.datasets.count(), limit=limit, offset=offset)


@router.get("/{dataset_id}", responses=NO_DATASET)
def get_dataset(request: Request, state: State, dataset_id: DatasetId) -> DatasetOut:
    """One data set: its digits per class and where to see some."""
    return _out(request, _existing(state, dataset_id))


@router.get(
    "/{dataset_id}/preview.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "A PNG image."}, **NO_DATASET},
)
def dataset_preview(state: State, dataset_id: DatasetId) -> Response:
    """Up to ten digits of each class, a row per digit, as the GANs see them."""
    _existing(state, dataset_id)
    digits = state.datasets.digits(dataset_id)
    if digits is None:  # deleted meanwhile
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no uploaded data set {dataset_id!r}")
    rows = []
    for digit in range(NUM_CLASSES):
        some = digits.images[digits.labels == digit][:PREVIEW_PER_DIGIT]
        blank = np.zeros((PREVIEW_PER_DIGIT - len(some), *digits.images.shape[1:]), np.uint8)
        rows.append(np.concatenate([some, blank]))
    png = encode_png(tile(np.concatenate(rows), cols=PREVIEW_PER_DIGIT))
    # The id is the content's hash: these bytes never change.
    return Response(png, media_type="image/png", headers={"Cache-Control": IMMUTABLE})


@router.delete(
    "/{dataset_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[Authorized],
    responses={
        **BODY,
        409: problem("A queued or running job trains on it."),
        **NO_DATASET,
    },
)
def delete_dataset(state: State, dataset_id: DatasetId) -> Response:
    """Delete a data set; a queued or running job that trains on it keeps it (409)."""
    _existing(state, dataset_id)
    name = UPLOAD_PREFIX + dataset_id
    for job_state in (JobState.queued, JobState.running):
        for job_id in state.jobs.ids_in(job_state):
            job = state.jobs.get(job_id)
            if job is not None and job.spec.dataset == name:
                raise HTTPException(
                    status.HTTP_409_CONFLICT,
                    f"job {job_id} ({job_state.value}) trains on {name}; cancel it or let "
                    "it finish first",
                )
    state.datasets.delete(dataset_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
