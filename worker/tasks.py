"""The Celery task: a few lines around worker.attempt.run_attempt."""

from __future__ import annotations

import logging

import redis

from digitgan.queue import TRAIN_TASK
from digitgan.redis_client import connect
from worker import shutdown
from worker.attempt import run_attempt
from worker.celery_app import app, settings

log = logging.getLogger(__name__)


@app.task(name=TRAIN_TASK)
def train_job(job_id: str) -> None:
    shutdown.listen_in_child()
    client = connect(settings)
    try:
        run_attempt(client, settings, app, job_id, shutdown.requested)
    except redis.RedisError as exc:
        # The record cannot be written now; the lease expires and the reaper requeues it.
        log.error("job %s: Redis unavailable, leaving the job to be requeued: %s", job_id, exc)
    finally:
        client.close()
