"""One attempt at a training job: take its lease, resume where it stood, train, publish
its checkpoints and end its record (succeeded, cancelled, failed with a reason, or back
in the queue when the worker stops). Plain functions over settings and stores, so tests
run an attempt without a worker process; worker/tasks.py is the Celery entry."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from dataclasses import dataclass

import redis
import torch
from celery import Celery

from digitgan.checkpoints import CheckpointStore
from digitgan.ids import checkpoint_id
from digitgan.jobs import JobRecord, JobState, JobStore
from digitgan.leases import JobLease
from digitgan.queue import enqueue
from digitgan.settings import Settings
from models import checkpoint as ckpt_format
from models.data import DatasetError
from models.evaluation import evaluate_checkpoint
from models.train import Checkpoint, TrainConfig, train
from worker.heartbeat import Heartbeat
from worker.progress import LossHistory, ProgressReporter

log = logging.getLogger(__name__)
# How many progress reports a job makes at most, whatever its length.
PROGRESS_REPORTS = 500


class LeaseLost(RuntimeError):
    """This worker may no longer train the job; whoever holds the lease now takes over."""


class JobError(RuntimeError):
    """A failure whose message tells the user what to do."""


def training_device() -> str:
    return "cuda:0" if torch.cuda.is_available() else "cpu"


def train_config(job: JobRecord) -> TrainConfig:
    spec = job.spec
    return TrainConfig(
        architecture=spec.architecture,
        steps=spec.steps,
        batch_size=spec.batch_size,
        learning_rate=spec.learning_rate,
        seed=spec.seed or 0,
        dataset=spec.dataset,
        checkpoint_every=spec.checkpoint_every,
        progress_every=max(1, min(50, spec.steps // PROGRESS_REPORTS)),
        ema_decay=spec.ema_decay,
        label_smoothing=spec.label_smoothing,
    )


def score(c: Checkpoint) -> dict:
    """The final checkpoint's quality numbers; a failure to score never costs the checkpoint."""
    try:
        return evaluate_checkpoint(c.meta, c.generator_state)
    except Exception as exc:
        log.exception("checkpoint %s: evaluation failed", c.meta["id"])
        return {"error": f"{type(exc).__name__}: {exc}"}


def run_attempt(
    client: redis.Redis,
    settings: Settings,
    celery: Celery,
    job_id: str,
    shutdown: threading.Event,
) -> None:
    """Run one attempt at `job_id` if nobody else holds its lease. `shutdown` set (the
    worker is stopping) ends it at the next step with a checkpoint, back in the queue."""
    jobs = JobStore.from_settings(client, settings)
    lease = JobLease(client, settings.redis_prefix, job_id, settings.lease_s)
    if not lease.acquire():
        log.info("job %s: another worker holds it; this delivery is a duplicate", job_id)
        return
    try:
        job = jobs.start_attempt(job_id, worker=socket.gethostname(), device=training_device())
        if job is None:
            log.info("job %s: nothing to run (unknown, ended or cancelled)", job_id)
            return
        log.info("job %s: attempt %d on %s", job_id, job.attempt, job.device)
        heartbeat = Heartbeat(jobs, lease, job_id, settings.heartbeat_s, settings.lease_s)
        heartbeat.start()
        try:
            checkpoints = CheckpointStore(client, settings.redis_prefix)
            stores = _Stores(jobs, checkpoints, celery)
            _train_under(job, settings, stores, heartbeat, shutdown)
        except LeaseLost:
            return
        finally:
            heartbeat.stop()
    finally:
        with contextlib.suppress(redis.RedisError):  # if so, it expires on its own
            lease.release()


@dataclass(frozen=True)
class _Stores:
    jobs: JobStore
    checkpoints: CheckpointStore
    celery: Celery


def _train_under(
    job: JobRecord,
    settings: Settings,
    stores: _Stores,
    heartbeat: Heartbeat,
    shutdown: threading.Event,
) -> None:
    """Train `job` and end its record: succeeded, cancelled or failed (with a reason)."""
    jobs, checkpoints = stores.jobs, stores.checkpoints
    token = heartbeat.lease.token
    state = {"checkpoint_id": job.checkpoint_id}

    def stop_requested() -> bool:
        if heartbeat.lost.is_set():
            raise LeaseLost(job.id)
        return heartbeat.cancelled.is_set() or shutdown.is_set()

    def publish(c: Checkpoint) -> None:
        if heartbeat.lost.is_set() or not heartbeat.lease.held():
            raise LeaseLost(job.id)
        if c.final and heartbeat.cancelled.is_set():
            return  # a cancelled job keeps the checkpoint it had
        c.meta["id"] = checkpoint_id(job.id, c.meta["step"])
        if c.meta["step"] == job.spec.steps:
            # Scored before publishing, so the numbers travel inside the checkpoint.
            c.meta["evaluation"] = score(c)
        _publish(job.id, c, jobs, checkpoints, state["checkpoint_id"])
        state["checkpoint_id"] = c.meta["id"]

    try:
        resumed_from, training_state = _resume_source(job, checkpoints)
        history = LossHistory()
        if training_state is not None:
            step = int(ckpt_format.unpack_state(training_state)["step"])
            if resumed_from == job.checkpoint_id:
                history = LossHistory([p for p in jobs.losses(job.id) if p[0] <= step])
        jobs.update(job.id, resumed_from=resumed_from)
        last = train(
            train_config(job),
            device=job.device or "cpu",
            job_id=job.id,
            on_progress=ProgressReporter(jobs, job.id, job.spec.batch_size, history),
            should_stop=stop_requested,
            on_checkpoint=publish,
            resume=training_state,
            data_dir=settings.data_dir,
        )
    except (LeaseLost, redis.RedisError):
        raise
    except Exception as exc:
        log.exception("job %s failed", job.id)
        jobs.finish(job.id, JobState.failed, token, error=_explain(exc, job, state))
        return
    if heartbeat.cancelled.is_set():
        note = f"cancelled at step {last.meta['step']}; kept checkpoint {state['checkpoint_id']}"
        jobs.finish(job.id, JobState.cancelled, token, note=note)
    elif shutdown.is_set():
        note = f"worker shut down at step {last.meta['step']}; requeued to resume from it"
        if jobs.requeue(job.id, token, note):
            enqueue(stores.celery, job.id)
    else:
        jobs.finish(job.id, JobState.succeeded, token)


def _resume_source(job: JobRecord, checkpoints: CheckpointStore) -> tuple[str | None, bytes | None]:
    """The checkpoint this attempt goes on from: the job's own last one (an earlier
    attempt got that far), else the one it was asked to resume from, else none."""
    checkpoint_id = job.checkpoint_id or job.spec.resume_from
    if checkpoint_id is None:
        return None, None
    training_state = checkpoints.training_state(checkpoint_id)
    if training_state is None:
        raise JobError(
            f"checkpoint {checkpoint_id} no longer has the training state that resuming "
            "needs (only each job's latest checkpoint keeps it); resume from a job's "
            "latest checkpoint instead"
        )
    return checkpoint_id, training_state


def _publish(
    job_id: str,
    c: Checkpoint,
    jobs: JobStore,
    checkpoints: CheckpointStore,
    previous: str | None,
) -> None:
    """Publish a checkpoint; only the job's newest one keeps its (large) training state."""
    blob = ckpt_format.to_bytes(c.meta, c.generator_state)
    try:
        meta = checkpoints.publish(blob, c.training_state)
    except ckpt_format.CheckpointError as exc:
        log.error("job %s: checkpoint %s refused, not published: %s", job_id, c.meta["id"], exc)
        kept = f"the API still serves {previous}" if previous else "nothing was published"
        raise JobError(
            f"checkpoint {c.meta['id']} (step {c.meta['step']}) failed its check and was "
            f"refused ({exc}); {kept}. This points at the worker's memory, disk or "
            "software: check that host, then resubmit"
            + (f" with resume_from={previous!r}" if previous else "")
        ) from exc
    jobs.update(job_id, checkpoint_id=meta["id"], evaluation=meta.get("evaluation"))
    # A stop right after a periodic checkpoint publishes the same step, and id, again.
    if previous and previous.startswith(f"{job_id}-") and previous != meta["id"]:
        checkpoints.drop_training_state(previous)


def _explain(exc: Exception, job: JobRecord, state: dict) -> str:
    """What went wrong, in words that say what to do about it."""
    if isinstance(exc, JobError | DatasetError):
        return str(exc)
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return (
            f"{job.device} ran out of memory at batch_size {job.spec.batch_size}; "
            "resubmit with a smaller batch_size"
        )
    resume = (
        f"; resubmit with resume_from={state['checkpoint_id']!r} to keep its progress"
        if state["checkpoint_id"]
        else ""
    )
    return (
        f"training crashed on worker {job.worker} ({type(exc).__name__}: {exc}); "
        f"its log has the traceback{resume}"
    )
