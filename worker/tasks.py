"""The `train` task: run the training loop for one job and keep its Redis record current."""

from __future__ import annotations

import logging
import socket
import time

import torch

from digitgan.checkpoints import CheckpointStore
from digitgan.jobs import FINISHED_STATES, JobProgress, JobRecord, JobState, JobStore
from digitgan.redis_client import connect
from models import checkpoint as ckpt_format
from models.evaluation import evaluate_checkpoint
from models.train import Checkpoint, Progress, TrainConfig, train
from worker.celery_app import TRAIN_TASK, app, settings

log = logging.getLogger(__name__)
STOP_POLL_S = 0.5


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


@app.task(name=TRAIN_TASK)
def train_job(job_id: str) -> None:
    client = connect(settings)
    jobs = JobStore(client, settings.redis_prefix)
    checkpoints = CheckpointStore(client, settings.redis_prefix)
    job = jobs.get(job_id)
    if job is None or job.state in FINISHED_STATES:
        log.info("job %s: nothing to do (%s)", job_id, "unknown" if job is None else job.state)
        return

    device = training_device()
    jobs.set_state(
        job_id,
        JobState.running,
        attempt=job.attempt + 1,
        worker=socket.gethostname(),
        device=device,
    )

    def report(p: Progress) -> None:
        jobs.update(job_id, progress=JobProgress(**vars(p)))

    last_poll, cancelled = 0.0, False

    def cancel_requested() -> bool:
        nonlocal last_poll, cancelled
        if not cancelled and time.monotonic() - last_poll >= STOP_POLL_S:
            last_poll = time.monotonic()
            cancelled = jobs.cancel_requested(job_id)
        return cancelled

    def publish(c: Checkpoint) -> None:
        if c.final:
            # Scored before publishing, so the numbers travel inside the checkpoint.
            c.meta["evaluation"] = score(c)
        blob = ckpt_format.to_bytes(c.meta, c.generator_state)
        meta = checkpoints.publish(blob, c.training_state)
        jobs.update(job_id, checkpoint_id=meta["id"], evaluation=meta.get("evaluation"))

    try:
        train(
            train_config(job),
            device=device,
            job_id=job_id,
            on_progress=report,
            should_stop=cancel_requested,
            on_checkpoint=publish,
            data_dir=settings.data_dir,
        )
    except Exception as exc:
        log.exception("job %s failed", job_id)
        jobs.set_state(job_id, JobState.failed, error=f"{type(exc).__name__}: {exc}")
        return
    jobs.set_state(job_id, JobState.cancelled if cancelled else JobState.succeeded)
