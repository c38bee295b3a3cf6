"""One attempt at a training job: take its lease, load its data, resume where it stood,
train, publish its checkpoints and end its record (succeeded, cancelled, failed with a
reason, or back in the queue when the worker stops).

Plain functions over settings and stores, so tests run an attempt without a worker
process; worker/tasks.py is the Celery entry.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import redis
import torch
from celery import Celery

from digitgan.checkpoints import CheckpointStore
from digitgan.checkpoints import LeaseLost as PublishLeaseLost
from digitgan.datasets import DatasetStore
from digitgan.ids import checkpoint_id, uploaded_dataset
from digitgan.jobs import JobRecord, JobState, JobStore
from digitgan.leases import JobLease
from digitgan.queue import enqueue
from digitgan.settings import Settings
from models import checkpoint as ckpt_format
from models.data import DatasetError, Digits, load_dataset
from models.evaluation import evaluate_checkpoint
from models.train import Checkpoint, Init, train
from worker.heartbeat import Heartbeat
from worker.progress import LossHistory, ProgressReporter

log = logging.getLogger(__name__)


class LeaseLost(RuntimeError):
    """This worker may no longer train the job; whoever holds the lease now takes over."""


class JobError(RuntimeError):
    """A failure whose message tells the user what to do."""


@dataclass(frozen=True)
class Stores:
    jobs: JobStore
    checkpoints: CheckpointStore
    datasets: DatasetStore
    celery: Celery


def training_device() -> str:
    return "cuda:0" if torch.cuda.is_available() else "cpu"


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
    if settings.publish_bundled:
        CheckpointStore(client, settings.redis_prefix).publish_bundled()
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
        stores = Stores(
            jobs,
            CheckpointStore(client, settings.redis_prefix),
            DatasetStore(client, settings.redis_prefix),
            celery,
        )
        try:
            _Attempt(job, settings, stores, heartbeat, shutdown).run()
        except LeaseLost:
            return
        finally:
            heartbeat.stop()
    finally:
        with contextlib.suppress(redis.RedisError):  # if so, it expires on its own
            lease.release()


class _Attempt:
    """Train one job under its lease and end its record."""

    def __init__(
        self,
        job: JobRecord,
        settings: Settings,
        stores: Stores,
        heartbeat: Heartbeat,
        shutdown: threading.Event,
    ):
        self.job, self.settings, self.stores = job, settings, stores
        self.heartbeat, self.shutdown = heartbeat, shutdown
        self.newest = job.checkpoint_id  # the job's newest published checkpoint
        self.started = time.process_time()
        self.style: Digits | None = None  # uploaded digits: the style the job is judged by

    def stop_requested(self) -> bool:
        """Between steps (and around loading data): cancelled, stopping, or lost."""
        if self.heartbeat.lost.is_set():
            raise LeaseLost(self.job.id)
        return self.heartbeat.cancelled.is_set() or self.shutdown.is_set()

    def cpu_seconds(self) -> float:
        """The job's CPU time in all: earlier attempts' and this one's so far."""
        return round((self.job.cpu_seconds or 0) + time.process_time() - self.started, 2)

    def run(self) -> None:
        job, jobs = self.job, self.stores.jobs
        token = self.heartbeat.lease.token
        try:
            data = self.load_data()
            resumed_from, training_state = self.resume_source()
            step = 0
            if training_state is not None:
                step = int(ckpt_format.unpack_state(training_state)["step"])
            # Loading data takes a while: a stop asked meanwhile needs no training at all.
            if not self.stop_requested():
                step = self.train(data, resumed_from, training_state, step)
        except (LeaseLost, redis.RedisError):
            raise
        except Exception as exc:
            log.exception("job %s failed", job.id)
            self.end(JobState.failed, error=self.explain(exc))
            return
        if self.heartbeat.cancelled.is_set():
            kept = f"kept checkpoint {self.newest}" if self.newest else "no checkpoint made"
            self.end(JobState.cancelled, note=f"cancelled at step {step}; {kept}")
        elif self.shutdown.is_set():
            note = f"worker shut down at step {step}; requeued to resume from it"
            if jobs.requeue(job.id, token, note, cpu_seconds=self.cpu_seconds()):
                enqueue(self.stores.celery, job.id)
        else:
            self.end(JobState.succeeded)

    def train(
        self, data: Digits, resumed_from: str | None, training_state: bytes | None, step: int
    ) -> int:
        """Train to the job's steps (or a stop); the step it ended at."""
        job, jobs = self.job, self.stores.jobs
        history = LossHistory()
        if training_state is not None and resumed_from == job.checkpoint_id:
            history = LossHistory([p for p in jobs.losses(job.id) if p[0] <= step])
        jobs.update(job.id, resumed_from=resumed_from)
        last = train(
            job.spec.train_config(),
            device=job.device or "cpu",
            job_id=job.id,
            on_progress=ProgressReporter(jobs, job.id, job.spec.batch_size, history),
            should_stop=self.stop_requested,
            on_checkpoint=self.publish,
            resume=training_state,
            init=self.init_source() if training_state is None else None,
            data=data,
        )
        return int(last.meta["step"])

    def end(self, state: JobState, note: str | None = None, **fields: Any) -> None:
        """End the record (under the lease); the newest checkpoint's training state is
        kept for resume_from a while longer, then dropped."""
        token = self.heartbeat.lease.token
        fields["cpu_seconds"] = self.cpu_seconds()
        if self.stores.jobs.finish(self.job.id, state, token, note, **fields) and self.newest:
            retention = self.settings.training_state_retention_s
            self.stores.checkpoints.drop_training_state_later(self.newest, retention)

    def load_data(self) -> Digits:
        """The job's digits, loaded under the same cancel and lease rules as training."""
        name = self.job.spec.dataset
        upload = uploaded_dataset(name)
        if upload is not None:
            digits = self.stores.datasets.digits(upload)
            if digits is None:
                raise JobError(f"data set {name!r} was deleted; upload it again")
            self.style = digits
        else:
            digits = load_dataset(name, self.settings.data_dir, self.settings.roots())
        return digits

    def resume_source(self) -> tuple[str | None, bytes | None]:
        """The checkpoint this attempt goes on from: the job's own last one (an earlier
        attempt got that far), else the one it was asked to resume from, else none."""
        source = self.job.checkpoint_id or self.job.spec.resume_from
        if source is None:
            return None, None
        training_state = self.stores.checkpoints.training_state(source)
        if training_state is None:
            raise JobError(
                f"checkpoint {source} no longer has the training state that resuming "
                "needs (only each job's newest checkpoint keeps it, and only for a while "
                "after the job ends); resume from a newer checkpoint, or start over"
            )
        return source, training_state

    def init_source(self) -> Init | None:
        """The checkpoint a fine-tuning job starts from (spec.init_from, already resolved
        from an alias to an id when the job was made)."""
        source = self.job.spec.init_from
        if source is None:
            return None
        blob = self.stores.checkpoints.blob(source)
        if blob is None:
            raise JobError(f"init_from: checkpoint {source} was deleted; pick another")
        meta, generator = ckpt_format.from_bytes(blob)
        discriminator = None
        state = self.stores.checkpoints.training_state(source)
        if state is not None:
            discriminator = ckpt_format.unpack_state(state)["discriminator"]
        return Init(source, generator, discriminator)

    def publish(self, c: Checkpoint) -> None:
        """The training loop's checkpoint hook: store it (under the lease), keep the record
        pointing at it, and let only a succeeding job's final checkpoint move `latest`."""
        job, stores = self.job, self.stores
        if self.heartbeat.lost.is_set():
            raise LeaseLost(job.id)
        if c.final and self.heartbeat.cancelled.is_set():
            return  # a cancelled job keeps the checkpoint it had
        done = c.meta["step"] == job.spec.steps
        c.meta["id"] = checkpoint_id(job.id, c.meta["step"])
        if done:
            # Scored before publishing, so the numbers travel inside the checkpoint.
            c.meta["evaluation"] = self.score(c)
        blob = ckpt_format.to_bytes(c.meta, c.generator_state)
        previous = self.newest if self.newest and self.newest != c.meta["id"] else None
        try:
            meta, _ = stores.checkpoints.publish(
                blob,
                c.training_state,
                latest=done and job.spec.publish,
                lease=self.heartbeat.lease,
                replaces_state_of=previous,
            )
        except PublishLeaseLost as exc:
            raise LeaseLost(job.id) from exc
        except ckpt_format.CheckpointError as exc:
            log.error("job %s: checkpoint %s refused, not published: %s", job.id, c.meta["id"], exc)
            kept = f"its last good checkpoint is {self.newest}" if self.newest else "none was kept"
            raise JobError(
                f"checkpoint {c.meta['id']} (step {c.meta['step']}) failed its check and was "
                f"refused ({exc}); {kept}. This points at the worker's memory, disk or "
                "software: check that host, then resubmit"
                + (f" with resume_from={self.newest!r}" if self.newest else "")
            ) from exc
        self.newest = meta["id"]
        stores.jobs.update(job.id, checkpoint_id=meta["id"], evaluation=meta.get("evaluation"))
        stores.checkpoints.prune_job(job.id, self.settings.keep_checkpoints + int(done))

    def score(self, c: Checkpoint) -> dict[str, Any]:
        """The final checkpoint's quality numbers; a failure to score never costs the
        checkpoint."""
        try:
            return evaluate_checkpoint(c.meta, c.generator_state, data=self.style)
        except Exception as exc:
            log.exception("checkpoint %s: evaluation failed", c.meta["id"])
            return {"error": f"{type(exc).__name__}: {exc}"}

    def explain(self, exc: Exception) -> str:
        """What went wrong, in words that say what to do about it."""
        job = self.job
        if isinstance(exc, DatasetError):
            log.error("job %s: data set: %s", job.id, exc.detail)
            return str(exc)
        if isinstance(exc, JobError):
            return str(exc)
        if isinstance(exc, torch.cuda.OutOfMemoryError):
            return (
                f"{job.device} ran out of memory at batch_size {job.spec.batch_size}; "
                "resubmit with a smaller batch_size"
            )
        resume = (
            f"; resubmit with resume_from={self.newest!r} to keep its progress"
            if self.newest
            else ""
        )
        return (
            f"training crashed on worker {job.worker} ({type(exc).__name__}: {exc}); "
            f"its log has the traceback{resume}"
        )
