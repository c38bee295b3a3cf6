"""Fixtures on real services: a private redis-server, Celery worker processes, the ASGI app.
The helpers they are built on live in tests/support/."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
import torch
from fastapi.testclient import TestClient
from pytest_redis import factories

from app.main import create_app
from digitgan.checkpoints import CheckpointStore
from digitgan.jobs import JobStore
from digitgan.keys import Keys
from digitgan.settings import Settings
from tests.support import TOKEN
from tests.support.processes import settings_env, start_worker, stop

# The suite shares two cores with the worker processes it starts; two OpenMP threads on
# busy cores spin against each other and train several times slower than one.
torch.set_num_threads(1)

# A redis-server of the suite's own on a free port, removed when the session ends.
redis_server = factories.redis_proc(port=None)


def private_settings(redis_server, **overrides) -> Settings:
    """Settings of their own: a Redis (pytest-redis's server, or a URL), a key prefix of
    their own, no .env file, and (unless overridden) an empty store: the bundled model
    is not published."""
    url = redis_server
    if not isinstance(url, str):
        url = f"redis://{redis_server.host}:{redis_server.port}/0"
    return Settings(
        **{
            "redis_url": url,
            "redis_prefix": f"test-{uuid.uuid4().hex[:8]}",
            "api_token": TOKEN,
            "publish_bundled": False,
            "_env_file": None,
        }
        | overrides
    )


@pytest.fixture
def settings(redis_server) -> Settings:
    """Settings for one test."""
    return private_settings(redis_server)


@pytest.fixture
def keys(settings: Settings) -> Keys:
    return Keys(settings.redis_prefix)


@pytest.fixture
def redis_client(settings: Settings) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(settings.redis_url)
    yield client
    stale = list(client.scan_iter(f"{settings.redis_prefix}*"))
    if stale:
        client.delete(*stale)
    client.close()


@pytest.fixture
def checkpoints(settings: Settings, redis_client: redis.Redis) -> CheckpointStore:
    return CheckpointStore(redis_client, settings.redis_prefix)


@pytest.fixture
def jobs(settings: Settings, redis_client: redis.Redis) -> JobStore:
    return JobStore.from_settings(redis_client, settings)


@pytest.fixture
def client(settings: Settings, redis_client: redis.Redis) -> Iterator[TestClient]:
    """The real ASGI app, lifespan included, talking to the private Redis."""
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@contextmanager
def running_worker(settings: Settings, log: Path, **env: str) -> Iterator[subprocess.Popen]:
    """A real Celery worker process consuming `settings`' queue, its output in `log`."""
    proc = start_worker(settings, log, env=settings_env(settings) | env)
    try:
        yield proc
    finally:
        stop(proc)


@pytest.fixture
def worker(settings: Settings, tmp_path: Path) -> Iterator[subprocess.Popen]:
    with running_worker(settings, tmp_path / "worker.log") as proc:
        yield proc
