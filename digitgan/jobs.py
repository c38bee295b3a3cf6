"""Training job records in Redis: what was asked for, and where the job stands.

Celery only carries the job id; this record is the truth that the API serves, so an
unknown id is a 404 instead of Celery's eternal PENDING.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

import redis
from pydantic import BaseModel, Field
from redis.typing import EncodableT, FieldT

from digitgan.ids import new_job_id
from digitgan.keys import Keys
from digitgan.redis_client import text, texts
from digitgan.settings import Settings
from digitgan.specs import JobSpec

# Bounds on what one record holds, whatever the job's length.
MAX_LOSS_POINTS = 256
MAX_HISTORY = 100


class JobState(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


FINISHED_STATES = frozenset({JobState.succeeded, JobState.failed, JobState.cancelled})


class QueueFull(RuntimeError):
    """Too many jobs are waiting; the message says what to do."""


class JobProgress(BaseModel):
    step: int = 0
    total_steps: int = 0
    percent: float = 0.0
    images_per_second: float | None = None
    eta_s: float | None = Field(None, description="Estimated seconds left.")
    d_loss: float | None = None
    g_loss: float | None = None
    updated_at: float | None = None


class Transition(BaseModel):
    """One state change: when, in which attempt, on which worker, and why."""

    state: JobState
    at: float
    attempt: int = 0
    worker: str | None = None
    note: str | None = None


class JobRecord(BaseModel):
    id: str
    state: JobState
    spec: JobSpec
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    progress: JobProgress = Field(default_factory=JobProgress)
    checkpoint_id: str | None = None
    resumed_from: str | None = Field(
        None, description="The checkpoint the current attempt started from."
    )
    error: str | None = None
    attempt: int = 0
    worker: str | None = None
    device: str | None = None
    heartbeat_at: float | None = None
    cancel_requested: bool = False
    history: list[Transition] = Field(default_factory=list)
    # models.evaluation.evaluate's numbers for the final checkpoint (also in its metadata).
    evaluation: dict[str, Any] | None = None
    cpu_seconds: float | None = Field(
        None,
        description="CPU time the job's attempts took in all (data, training, scoring, "
        "publishing), counted when an attempt ends.",
    )


LossPoint = tuple[int, float, float]  # (step, d_loss, g_loss)
# Decides a guarded state change from the current record: (state, note, fields) or None.
Decision = tuple[JobState, str | None, dict[str, Any]] | None


class JobStore:
    """Job records as Redis hashes, one JSON value per field, so that concurrent writers
    (the API cancelling, the worker reporting progress) never overwrite each other's fields.

    Beside each record: its list of state changes, and sorted sets of ids (all jobs, and
    one per state) that page newest first. Finished records expire after `retention_s`,
    and creating a job deletes the oldest finished ones beyond `max_jobs`.
    """

    def __init__(
        self,
        client: redis.Redis,
        prefix: str,
        *,
        retention_s: int = 30 * 24 * 3600,
        max_jobs: int = 10_000,
        max_queued: int = 100,
    ):
        self.redis = client
        self.keys = Keys(prefix)
        self.retention_s = retention_s
        self.max_jobs = max_jobs
        self.max_queued = max_queued

    @classmethod
    def from_settings(cls, client: redis.Redis, settings: Settings) -> JobStore:
        return cls(
            client,
            settings.redis_prefix,
            retention_s=settings.job_retention_s,
            max_jobs=settings.max_jobs,
            max_queued=settings.max_queued_jobs,
        )

    # -- reading ---------------------------------------------------------------------

    def create(self, spec: JobSpec) -> JobRecord:
        """A new queued record; QueueFull when `max_queued` jobs are waiting already."""
        queued = self.count(JobState.queued)
        if queued >= self.max_queued:
            raise QueueFull(
                f"{queued} jobs are waiting for a worker already (at most {self.max_queued}); "
                "try again when some have started, or cancel some"
            )
        record = JobRecord(
            id=new_job_id(), state=JobState.queued, spec=spec, created_at=time.time()
        )
        fields = record.model_dump(mode="json", exclude={"history"})
        with self.redis.pipeline() as pipe:
            pipe.hset(self.keys.job(record.id), mapping=_encode(fields))
            pipe.zadd(self.keys.jobs, {record.id: record.created_at})
            self._queue_transition(pipe, record, JobState.queued, None, {})
            pipe.execute()
        self._trim()
        return self.get(record.id) or record

    def get(self, job_id: str) -> JobRecord | None:
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self.keys.job(job_id))
            pipe.lrange(self.keys.job_history(job_id), 0, -1)
            raw, history = pipe.execute()
        return _decode(raw, history)

    def page(
        self, limit: int = 50, offset: int = 0, state: JobState | None = None
    ) -> list[JobRecord]:
        """A page of jobs, newest first; records that expired meanwhile are left out."""
        index = self.keys.jobs_in(state) if state else self.keys.jobs
        ids = texts(self.redis.zrevrange(index, offset, offset + limit - 1))
        with self.redis.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hgetall(self.keys.job(job_id))
                pipe.lrange(self.keys.job_history(job_id), 0, -1)
            replies = pipe.execute()
        records = [
            _decode(raw, hist) for raw, hist in zip(replies[::2], replies[1::2], strict=True)
        ]
        gone = [job_id for job_id, rec in zip(ids, records, strict=True) if rec is None]
        if gone:
            self._forget(gone)
        return [rec for rec in records if rec is not None]

    def count(self, state: JobState | None = None) -> int:
        return int(self.redis.zcard(self.keys.jobs_in(state) if state else self.keys.jobs))

    def losses(self, job_id: str) -> list[LossPoint]:
        raw = self.redis.hget(self.keys.job(job_id), "loss_history")
        return [tuple(p) for p in json.loads(raw)] if raw else []

    def cancel_requested(self, job_id: str) -> bool:
        raw = self.redis.hget(self.keys.job(job_id), "cancel_requested")
        return bool(raw and json.loads(raw))

    # -- writing ---------------------------------------------------------------------

    def update(self, job_id: str, **fields: Any) -> None:
        self.redis.hset(self.keys.job(job_id), mapping=_encode(_jsonable(fields)))

    def set_state(
        self, job_id: str, state: JobState, note: str | None = None, **fields: Any
    ) -> None:
        """Change state unconditionally (the caller owns the job, e.g. holds its lease)."""
        self._change(job_id, lambda job: (state, note, fields))

    def request_cancel(self, job_id: str) -> JobRecord | None:
        """Flag the job for its worker; a queued job is cancelled here and now."""

        def decide(job: JobRecord) -> Decision:
            if job.state != JobState.queued:
                return None
            return JobState.cancelled, "cancelled before it started", {}

        self.update(job_id, cancel_requested=True)
        self._change(job_id, decide)
        return self.get(job_id)

    def start_attempt(self, job_id: str, worker: str, device: str) -> JobRecord | None:
        """queued (or running, after a lost worker) -> running with the next attempt
        number. None when there is nothing to run: unknown, finished or cancelled."""

        def decide(job: JobRecord) -> Decision:
            if job.state in FINISHED_STATES:
                return None
            if job.cancel_requested:
                return JobState.cancelled, "cancelled before it started", {}
            fields = {"attempt": job.attempt + 1, "worker": worker, "device": device}
            return JobState.running, None, fields | {"error": None, "heartbeat_at": time.time()}

        job = self._change(job_id, decide)
        return job if job is not None and job.state == JobState.running else None

    def finish(
        self,
        job_id: str,
        state: JobState,
        lease_token: str,
        note: str | None = None,
        **fields: Any,
    ) -> bool:
        """End an attempt, but only while the caller still holds its lease (a worker whose
        lease was taken over must not overwrite the new attempt's record)."""
        key = self.keys.lease(job_id)

        def decide(job: JobRecord) -> Decision:
            return (state, note, fields) if job.state == JobState.running else None

        def still_holder(pipe: redis.client.Pipeline) -> bool:
            value = pipe.get(key)
            return value is not None and text(value) == lease_token

        return self._change(job_id, decide, watch=(key,), guard=still_holder) is not None

    def requeue(self, job_id: str, lease_token: str, note: str, **fields: Any) -> bool:
        """running -> queued, by the worker that holds the lease as it shuts down."""
        return self.finish(job_id, JobState.queued, lease_token, note=note, **fields)

    def expire_lost(self, job_id: str, max_attempts: int, requeue_note: str) -> JobState | None:
        """A running job whose lease expired: requeue it, or fail it after `max_attempts`,
        or cancel it if that was asked. Returns the new state (None: not lost after all)."""
        key = self.keys.lease(job_id)

        def decide(job: JobRecord) -> Decision:
            if job.state != JobState.running:
                return None
            lost = f"worker {job.worker} stopped sending heartbeats during attempt {job.attempt}"
            if job.cancel_requested:
                return JobState.cancelled, lost, {}
            if job.attempt >= max_attempts:
                resume = (
                    f"; resubmit with resume_from={job.checkpoint_id!r} to go on from step "
                    f"{job.progress.step}"
                    if job.checkpoint_id
                    else "; no checkpoint was made, resubmit it to start over"
                )
                error = f"{lost}, and it had {max_attempts} attempt(s) in all{resume}"
                return JobState.failed, lost, {"error": error}
            return JobState.queued, f"{lost}; {requeue_note}", {}

        def lease_gone(pipe: redis.client.Pipeline) -> bool:
            return not pipe.exists(key)

        job = self._change(job_id, decide, watch=(key,), guard=lease_gone)
        return job.state if job is not None else None

    def running_ids(self) -> list[str]:
        return self.ids_in(JobState.running)

    def ids_in(self, state: JobState) -> list[str]:
        """Every job id in one state, oldest first."""
        return texts(self.redis.zrange(self.keys.jobs_in(state), 0, -1))

    def note(self, job_id: str, state: JobState, note: str) -> bool:
        """Record `note` in the history of a job that is (still) in `state`; whether it was."""

        def decide(job: JobRecord) -> Decision:
            return (state, note, {}) if job.state == state else None

        return self._change(job_id, decide) is not None

    # -- internals -------------------------------------------------------------------

    def _change(
        self,
        job_id: str,
        decide: Callable[[JobRecord], Decision],
        watch: tuple[str, ...] = (),
        guard: Callable[[redis.client.Pipeline], bool] | None = None,
    ) -> JobRecord | None:
        """Apply decide's state change in one transaction, retried if the record (or a
        watched key) changed meanwhile. Returns the new record, or None if nothing
        changed."""
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(self.keys.job(job_id), *watch)  # type: ignore[no-untyped-call]
                    raw = pipe.hgetall(self.keys.job(job_id))
                    job = _decode(raw, [])
                    decision = decide(job) if job is not None else None
                    if job is None or decision is None or (guard and not guard(pipe)):
                        pipe.unwatch()
                        return None
                    state, note, fields = decision
                    pipe.multi()
                    self._queue_transition(pipe, job, state, note, fields)
                    pipe.execute()
                    return self.get(job_id)
                except redis.WatchError:
                    continue

    def _queue_transition(
        self,
        pipe: redis.client.Pipeline,
        job: JobRecord,
        state: JobState,
        note: str | None,
        fields: dict[str, Any],
    ) -> None:
        now = time.time()
        fields = dict(fields)
        if state == JobState.running:
            fields["started_at"] = now
        if state in FINISHED_STATES:
            fields["finished_at"] = now
        pipe.hset(
            self.keys.job(job.id), mapping=_encode(_jsonable(fields | {"state": state.value}))
        )
        for each in JobState:
            if each != state:
                pipe.zrem(self.keys.jobs_in(each), job.id)
        pipe.zadd(self.keys.jobs_in(state), {job.id: job.created_at})
        change = Transition(
            state=state,
            at=now,
            attempt=fields.get("attempt", job.attempt),
            worker=fields.get("worker", job.worker),
            note=note,
        )
        pipe.rpush(self.keys.job_history(job.id), change.model_dump_json())
        pipe.ltrim(self.keys.job_history(job.id), -MAX_HISTORY, -1)
        if state in FINISHED_STATES:
            pipe.expire(self.keys.job(job.id), self.retention_s)
            pipe.expire(self.keys.job_history(job.id), self.retention_s)

    def _trim(self) -> None:
        """Delete the oldest finished records beyond max_jobs (unfinished ones stay)."""
        excess = self.count() - self.max_jobs
        if excess <= 0:
            return
        oldest = texts(self.redis.zrange(self.keys.jobs, 0, 2 * excess + 100))
        doomed = []
        for job_id in oldest:
            job = self.get(job_id)
            if job is None or job.state in FINISHED_STATES:
                doomed.append(job_id)
                if len(doomed) == excess:
                    break
        self._forget(doomed)

    def _forget(self, job_ids: list[str]) -> None:
        with self.redis.pipeline() as pipe:
            for job_id in job_ids:
                pipe.delete(self.keys.job(job_id), self.keys.job_history(job_id))
                pipe.zrem(self.keys.jobs, job_id)
                for state in JobState:
                    pipe.zrem(self.keys.jobs_in(state), job_id)
            pipe.execute()


def _decode(raw: Mapping[Any, Any], history: list[Any]) -> JobRecord | None:
    fields = {text(k): json.loads(v) for k, v in raw.items() if text(k) != "loss_history"}
    if "state" not in fields:
        return None
    fields["history"] = [json.loads(h) for h in history]
    return JobRecord.model_validate(fields)


def _jsonable(fields: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v.model_dump(mode="json") if isinstance(v, BaseModel) else v for k, v in fields.items()
    }


def _encode(fields: dict[str, Any]) -> Mapping[FieldT, EncodableT]:
    return {k: json.dumps(v) for k, v in fields.items()}
