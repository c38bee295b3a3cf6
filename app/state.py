"""What one API process holds while it runs, typed, behind one accessor.

main.py's lifespan builds it; routes reach it through app/deps.py, and the pure-ASGI
middlewares (which see no FastAPI request) through `services(scope["app"])`.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis
from cachetools import LRUCache
from celery import Celery
from starlette.applications import Starlette

from app.batcher import MicroBatcher
from app.sampler import Models
from app.watch import JobWatcher
from digitgan.checkpoints import CheckpointStore
from digitgan.datasets import DatasetStore
from digitgan.jobs import JobStore
from digitgan.settings import Settings


@dataclass(frozen=True)
class Services:
    settings: Settings
    redis: redis.Redis
    jobs: JobStore
    checkpoints: CheckpointStore
    datasets: DatasetStore
    models: Models  # the generators that `latest`, aliases and recent ids name
    batcher: MicroBatcher  # the render thread
    image_cache: LRUCache  # etag -> PNG bytes, bounded in bytes
    answers: LRUCache  # remembered image URLs (app/repeats.py)
    celery: Celery  # only to send jobs (digitgan.queue.enqueue)
    watcher: JobWatcher  # one Redis poll per followed job, for every event stream


def services(app: Starlette) -> Services:
    found: Services = app.state.services
    return found
