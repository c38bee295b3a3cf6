"""The training queue: the Celery app's configuration and the one way to send a job.

The API, its reaper and a worker that puts its job back all call `enqueue`, which always
sends the job's id as the Celery task id, so every log line about a delivery names the
job. Celery only carries that id; the job record in Redis (digitgan.jobs) is the truth.
"""

from __future__ import annotations

import json
from typing import Any

import redis
from celery import Celery

from digitgan.keys import Keys
from digitgan.settings import Settings

TRAIN_TASK = "digitgan.train"


def create_celery(settings: Settings, include: tuple[str, ...] = ()) -> Celery:
    """The Celery app for `settings`. The API sends by task name and includes nothing;
    the worker (worker/celery_app.py) includes its task module."""
    keys = Keys(settings.redis_prefix)
    transport = {
        "visibility_timeout": settings.visibility_timeout_s,
        # Per deployment, like every other key, so deployments sharing a Redis (and the
        # reaper looking for a job's message) see only their own deliveries.
        "unacked_key": keys.unacked,
        "unacked_index_key": keys.unacked_index,
        "unacked_mutex_key": keys.unacked_mutex,
    }
    celery = Celery("digitgan", broker=settings.redis_url, include=list(include))
    celery.conf.update(
        # A job is acknowledged only when it ends, so a worker that dies mid-job leaves it
        # to be delivered again instead of losing it.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # One training job at a time per pool process, and none waiting behind it; as many
        # pool processes as DIGITGAN_GPU_JOBS (1 unless a GPU host says more).
        worker_prefetch_multiplier=1,
        worker_concurrency=settings.gpu_jobs,
        # A fresh child process per job: its memory (and GPU memory) goes back when it ends.
        worker_max_tasks_per_child=1,
        broker_transport_options=transport,
        result_backend_transport_options=transport,
        # The job record in Redis is the result; Celery's own result store is not used.
        task_ignore_result=True,
        task_default_queue=keys.train_queue,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    return celery


def enqueue(celery: Celery, job_id: str) -> None:
    """Send a training job to the queue under its own id."""
    celery.send_task(TRAIN_TASK, args=[job_id], task_id=job_id)


def jobs_with_messages(client: redis.Redis, keys: Keys) -> set[str]:
    """The ids of jobs that have a message in the broker: waiting in the queue, or
    delivered to a worker and not yet acknowledged. Read from Celery's own Redis
    structures (kombu's message format: the task id is in `headers.id`)."""
    waiting = client.lrange(keys.train_queue, 0, -1)
    delivered = client.hvals(keys.unacked)  # each [message, exchange, routing key]
    messages = [_json(m) for m in waiting] + [(_json(d) or [None])[0] for d in delivered]
    ids = set()
    for message in messages:
        if isinstance(message, dict) and isinstance(message.get("headers"), dict):
            task_id = message["headers"].get("id")
            if isinstance(task_id, str):
                ids.add(task_id)
    return ids


def _json(raw: Any) -> Any:
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return None
