"""The shapes of the API's answers (and of alias requests): declared once, here, so the
routes (app/routes/) answer with them and the Python client (digitgan.client) reads them
back as the same typed objects."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from digitgan.ids import MAX_CHECKPOINT_ID, REF
from digitgan.jobs import JobRecord, JobState, LossPoint

META_EXAMPLE: dict[str, Any] = {
    "id": "3f2a9c0d4b1e4f7a8c6d5e4f3a2b1c0d-0003000",
    "architecture": "cmlp",
    "step": 3000,
    "dataset": "mnist-5k",
    "job_id": "3f2a9c0d4b1e4f7a8c6d5e4f3a2b1c0d",
    "created_at": "2026-01-01T12:00:00+00:00",
}


class JobOut(JobRecord):
    url: str
    checkpoints: list[str] = Field(
        description="The job's checkpoints that are still kept, oldest first; each is "
        "servable by id (GET /v1/digits/7.png?checkpoint=<id>)."
    )


class JobList(BaseModel):
    jobs: list[JobOut]
    total: int
    limit: int
    offset: int
    state: JobState | None


class LossHistoryOut(BaseModel):
    job_id: str
    points: list[LossPoint]


class CheckpointOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"id": META_EXAMPLE["id"], "aliases": ["production"]}]}
    )

    id: str
    aliases: list[str] = Field(description="The aliases (and `latest`) that point here.")
    meta: dict[str, Any] = Field(
        description="The checkpoint's metadata as stored: architecture, sizes, "
        "hyperparameters, data set, step, job, time, and quality numbers where measured.",
        examples=[META_EXAMPLE],
    )


class CheckpointList(BaseModel):
    checkpoints: list[CheckpointOut]
    latest: str | None = Field(examples=[META_EXAMPLE["id"]])
    aliases: dict[str, str] = Field(examples=[{"production": META_EXAMPLE["id"]}])
    total: int
    limit: int
    offset: int


class AliasIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    checkpoint_id: str = Field(
        pattern=REF, max_length=MAX_CHECKPOINT_ID, examples=[META_EXAMPLE["id"]]
    )


class AliasOut(BaseModel):
    name: str = Field(examples=["production"])
    checkpoint_id: str = Field(examples=[META_EXAMPLE["id"]])


class DatasetOut(BaseModel):
    """An uploaded data set: train on it with `"dataset": "upload:<id>"`."""

    id: str = Field(examples=["3f2a9c0d4b1e4f7a"])
    name: str = Field(description="The file name it was uploaded as.", examples=["mine.zip"])
    count: int = Field(description="How many digits.")
    per_digit: list[int] = Field(description="How many of each digit, 0 to 9.")
    bytes: int = Field(description="What it takes in the store.")
    created_at: float
    dataset: str = Field(
        description="What a job names it by.", examples=["upload:3f2a9c0d4b1e4f7a"]
    )
    preview_url: str = Field(description="A grid of some of its digits, a row per digit.")


class DatasetList(BaseModel):
    datasets: list[DatasetOut]
    total: int
    limit: int
    offset: int
