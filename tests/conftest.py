"""Fixtures on real services: a private redis-server, a Celery worker process, the ASGI app."""

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
from digitgan.settings import Settings
from tests.jobs_support import settings_env, start_worker, stop, wait_until

# The suite shares two cores with the worker processes it starts; two OpenMP threads on
# busy cores spin against each other and train several times slower than one.
torch.set_num_threads(1)

TOKEN = "test-token"

# A redis-server of the suite's own on a free port, removed when the session ends.
redis_server = factories.redis_proc(port=None)


def private_settings(redis_server, **overrides) -> Settings:
    """The private Redis, a key prefix of their own, and no .env file."""
    return Settings(
        redis_url=f"redis://{redis_server.host}:{redis_server.port}/0",
        redis_prefix=f"test-{uuid.uuid4().hex[:8]}",
        api_token=TOKEN,
        _env_file=None,
        **overrides,
    )


@pytest.fixture
def settings(redis_server) -> Settings:
    """Settings for one test."""
    return private_settings(redis_server)


@pytest.fixture
def redis_client(settings: Settings) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(settings.redis_url)
    yield client
    keys = list(client.scan_iter(f"{settings.redis_prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def client(settings: Settings, redis_client: redis.Redis) -> Iterator[TestClient]:
    """The real ASGI app, lifespan included, talking to the private Redis."""
    with TestClient(create_app(settings)) as test_client:
        yield test_client


AUTH = {"Authorization": f"Bearer {TOKEN}"}


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


@pytest.fixture
def wait_for():
    return wait_until
