"""Training job records in Redis: what was asked for, and where the job stands.

Celery only carries the job id; this record is the truth that the API serves, so an
unknown id is a 404 instead of Celery's eternal PENDING.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from enum import StrEnum
from typing import Any

import redis
from pydantic import BaseModel, ConfigDict, Field, field_validator

from models.data import DATASETS, DatasetError, check_dataset_name
from models.networks import ARCHITECTURES

MAX_STEPS = 200_000
MAX_SEED = 2**63 - 1


class JobState(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


FINISHED_STATES = frozenset({JobState.succeeded, JobState.failed, JobState.cancelled})


class JobSpec(BaseModel):
    """A training request. Every field has a default and bounds."""

    model_config = ConfigDict(extra="forbid")

    architecture: str = Field("mlp", description=f"One of: {', '.join(ARCHITECTURES)}.")
    steps: int = Field(3000, ge=1, le=MAX_STEPS, description="Training iterations.")
    batch_size: int = Field(32, ge=1, le=1024)
    learning_rate: float = Field(2e-4, gt=0, le=0.1)
    seed: int | None = Field(
        None, ge=0, le=MAX_SEED, description="Random seed; chosen and recorded when left out."
    )
    dataset: str = Field(
        "mnist-5k",
        max_length=1024,
        description=f"One of: {', '.join(DATASETS)} (a folder of MNIST-format IDX files).",
    )
    checkpoint_every: int = Field(
        1000, ge=1, le=MAX_STEPS, description="Steps between checkpoints."
    )
    ema_decay: float = Field(
        0.999,
        ge=0,
        le=0.9999,
        description="Decay of the generator's weight average that checkpoints hold; 0: off.",
    )
    label_smoothing: float = Field(
        0.1, ge=0, le=0.5, description="Real images are labelled 1 - this for the discriminator."
    )

    @field_validator("architecture")
    @classmethod
    def _known_architecture(cls, value: str) -> str:
        if value not in ARCHITECTURES:
            raise ValueError(f"unknown architecture; allowed: {', '.join(ARCHITECTURES)}")
        return value

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, value: str) -> str:
        try:
            return check_dataset_name(value)
        except DatasetError as exc:
            raise ValueError(str(exc)) from None


class JobProgress(BaseModel):
    step: int = 0
    total_steps: int = 0
    d_loss: float | None = None
    g_loss: float | None = None
    images_per_second: float | None = None


class JobRecord(BaseModel):
    id: str
    state: JobState
    spec: JobSpec
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    progress: JobProgress = Field(default_factory=JobProgress)
    checkpoint_id: str | None = None
    error: str | None = None
    attempt: int = 0
    worker: str | None = None
    device: str | None = None
    # models.evaluation.evaluate's numbers for the final checkpoint (also in its metadata).
    evaluation: dict[str, Any] | None = None


class JobStore:
    """Job records as Redis hashes, one JSON value per field, so that concurrent writers
    (the API cancelling, the worker reporting progress) never overwrite each other's fields."""

    def __init__(self, client: redis.Redis, prefix: str):
        self.redis = client
        self.prefix = prefix

    def _key(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}"

    @property
    def _index(self) -> str:
        return f"{self.prefix}:jobs"

    def create(self, spec: JobSpec) -> JobRecord:
        if spec.seed is None:
            spec = spec.model_copy(update={"seed": secrets.randbelow(2**31)})
        record = JobRecord(
            id=uuid.uuid4().hex, state=JobState.queued, spec=spec, created_at=time.time()
        )
        with self.redis.pipeline() as pipe:
            pipe.hset(self._key(record.id), mapping=_encode(record.model_dump(mode="json")))
            pipe.zadd(self._index, {record.id: record.created_at})
            pipe.execute()
        return record

    def get(self, job_id: str) -> JobRecord | None:
        raw = self.redis.hgetall(self._key(job_id))
        if not raw:
            return None
        return JobRecord.model_validate({k.decode(): json.loads(v) for k, v in raw.items()})

    def list(self, limit: int = 50, offset: int = 0) -> list[JobRecord]:
        ids = self.redis.zrevrange(self._index, offset, offset + limit - 1)
        return [job for job in (self.get(i.decode()) for i in ids) if job is not None]

    def update(self, job_id: str, **fields: Any) -> None:
        self.redis.hset(self._key(job_id), mapping=_encode(_jsonable(fields)))

    def request_cancel(self, job_id: str) -> None:
        self.update(job_id, cancel_requested=True)

    def cancel_requested(self, job_id: str) -> bool:
        return bool(self.redis.hexists(self._key(job_id), "cancel_requested"))

    def set_state(self, job_id: str, state: JobState, **fields: Any) -> None:
        stamp = {JobState.running: "started_at"}.get(state)
        if state in FINISHED_STATES:
            stamp = "finished_at"
        if stamp:
            fields[stamp] = time.time()
        self.update(job_id, state=state.value, **fields)


def _jsonable(fields: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v.model_dump(mode="json") if isinstance(v, BaseModel) else v for k, v in fields.items()
    }


def _encode(fields: dict[str, Any]) -> dict[str, str]:
    return {k: json.dumps(v) for k, v in fields.items()}
