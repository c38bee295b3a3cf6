"""All configuration, read once from DIGITGAN_* environment variables."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DIGITGAN_", env_file=".env", extra="ignore")

    redis_url: str = DEFAULT_REDIS_URL
    # Every key this service writes starts with this, so several deployments (or test
    # runs) can share one Redis database without touching each other.
    redis_prefix: str = "digitgan"
    api_token: SecretStr | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # API processes behind the one port (`python -m app`); each keeps its own generators,
    # render thread and caches, and the per-process limits below apply to each.
    api_workers: int = Field(default_factory=lambda: default_api_workers(), ge=1, le=64)
    # Training jobs a worker runs at once, each in a process of its own (Celery's
    # concurrency); on a GPU host they share the GPU.
    gpu_jobs: int = Field(default=1, ge=1, le=64)
    data_dir: Path = Path("data")
    # Celery redelivers an unacknowledged task after this many seconds; it must be
    # longer than the longest training job or a long job runs twice.
    visibility_timeout_s: int = Field(default=24 * 3600, ge=60)
    # A running job's worker renews its lease every heartbeat_s; a job whose lease is
    # older than lease_s is lost: requeued (resuming from its last checkpoint) until it
    # has had max_attempts, then failed. Lost is noticed within lease_s + heartbeat_s.
    heartbeat_s: float = Field(default=5.0, gt=0, le=300)
    lease_s: float = Field(default=30.0, gt=0, le=3600)
    max_attempts: int = Field(default=3, ge=1, le=100)
    # Finished job records are deleted after job_retention_s, and the oldest finished ones
    # beyond max_jobs go sooner, so Redis holds a bounded number of records.
    job_retention_s: int = Field(default=30 * 24 * 3600, ge=60)
    max_jobs: int = Field(default=10_000, ge=10, le=1_000_000)
    worker_torch_threads: int = Field(default=1, ge=1, le=256)
    api_torch_threads: int = Field(default=1, ge=1, le=256)
    log_json: bool = False
    # A line per HTTP request (uvicorn's access log); off by default: /metrics counts
    # requests, and at thousands of images a second the lines cost more than the images.
    access_log: bool = False
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Origins allowed to read the images and read-only endpoints from a browser (CORS).
    cors_origins: list[str] = ["*"]
    # The in-process cache of rendered PNGs, bounded by the bytes it holds.
    image_cache_bytes: int = Field(default=64 * 2**20, ge=0, le=2**34)
    # max-age of images that follow `latest` or an alias (they change when it moves).
    alias_max_age_s: int = Field(default=60, ge=0, le=86400)
    # How often each API process re-reads `latest` and the aliases when no pub/sub
    # announcement came (a fallback: announcements are followed at once).
    refresh_interval_s: float = Field(default=0.5, gt=0, le=60)
    # Checkpoints asked for by id stay loaded, the most recently used this many.
    loaded_checkpoints: int = Field(default=4, ge=1, le=64)

    # -- what a fresh store starts with ------------------------------------------------
    # Publish the bundled model as `latest` when the store holds no checkpoint yet.
    publish_bundled: bool = True

    # -- bounds on what the store holds (docs: README, Limits) -------------------------
    # Each job keeps its final checkpoint and this many intermediate ones (older ones go,
    # unless `latest` or an alias names them).
    keep_checkpoints: int = Field(default=3, ge=0, le=100)
    # A finished job's training state (what resume_from needs) is dropped this long after.
    training_state_retention_s: int = Field(default=7 * 24 * 3600, ge=0)
    # Past this many stored bytes (checkpoints, training states, data sets), new jobs and
    # uploads are refused with 507.
    store_budget_bytes: int = Field(default=4 * 2**30, ge=2**20)
    # Past this many queued jobs, new ones are refused with 429.
    max_queued_jobs: int = Field(default=100, ge=1, le=100_000)
    # Data sets (`idx:PATH`) are read only under these folders; default: data_dir and
    # /usr/share/datasets (Debian's data set packages).
    dataset_roots: list[Path] | None = None

    # -- bounds on what one API process holds, per process ------------------------------
    # Image requests waiting to render, counted in digits; past it, 503 with Retry-After.
    render_queue_digits: int = Field(default=4096, ge=1, le=1_000_000)
    # Open event streams (GET /v1/jobs/{id}/events); past it, 503.
    max_event_streams: int = Field(default=200, ge=1, le=100_000)
    # Request bodies (JSON), and uploads (POST /v1/datasets), in bytes; past them, 413.
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    max_upload_bytes: int = Field(default=32 * 2**20, ge=1024)
    # The request line, and all headers together; past them, 414 and 431.
    max_url_bytes: int = Field(default=4096, ge=256)
    max_header_bytes: int = Field(default=16 * 1024, ge=1024)

    def roots(self) -> list[Path]:
        """The folders `idx:` data sets may be read from."""
        if self.dataset_roots is not None:
            return self.dataset_roots
        return [self.data_dir, Path("/usr/share/datasets")]


# More API processes than this rarely pay: each holds its own models and caches.
MAX_DEFAULT_API_WORKERS = 8


def default_api_workers() -> int:
    """One API process per core, at most MAX_DEFAULT_API_WORKERS."""
    return max(1, min(os.cpu_count() or 1, MAX_DEFAULT_API_WORKERS))


@lru_cache
def get_settings() -> Settings:
    return Settings()
