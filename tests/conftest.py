"""Fixtures on real services: a private redis-server, a Celery worker process, the ASGI app."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import torch
from fastapi.testclient import TestClient
from pytest_redis import factories

from app.main import create_app
from digitgan.settings import Settings

ROOT = Path(__file__).resolve().parent.parent

# The suite shares two cores with the worker processes it starts; two OpenMP threads on
# busy cores spin against each other and train several times slower than one.
torch.set_num_threads(1)
TOKEN = "test-token"

# A redis-server of the suite's own on a free port, removed when the session ends.
redis_server = factories.redis_proc(port=None)


@pytest.fixture
def settings(redis_server) -> Settings:
    """Settings for one test: the private Redis, and a key prefix of its own."""
    return Settings(
        redis_url=f"redis://{redis_server.host}:{redis_server.port}/0",
        redis_prefix=f"test-{uuid.uuid4().hex[:8]}",
        api_token=TOKEN,
        _env_file=None,
    )


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


def service_env(settings: Settings) -> dict[str, str]:
    return os.environ | {
        "DIGITGAN_REDIS_URL": settings.redis_url,
        "DIGITGAN_REDIS_PREFIX": settings.redis_prefix,
        "DIGITGAN_API_TOKEN": TOKEN,
    }


@pytest.fixture
def worker(settings: Settings, tmp_path: Path) -> Iterator[subprocess.Popen]:
    """A real Celery worker process consuming this test's queue."""
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "worker.celery_app",
                "worker",
                "--concurrency",
                "1",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT,
            env=service_env(settings),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for(lambda: b"ready." in log.read_bytes() or proc.poll() is not None, 60)
        if proc.poll() is not None:
            pytest.fail(f"worker exited early:\n{log.read_text()}")
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        print(log.read_text()[-4000:])


def _wait_for(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.1)


@pytest.fixture
def wait_for():
    return _wait_for
