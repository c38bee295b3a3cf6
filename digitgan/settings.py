"""All configuration, read once from DIGITGAN_* environment variables."""

from __future__ import annotations

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
    data_dir: Path = Path("data")
    # Celery redelivers an unacknowledged task after this many seconds; it must be
    # longer than the longest training job or a long job runs twice.
    visibility_timeout_s: int = Field(default=24 * 3600, ge=60)
    worker_torch_threads: int = Field(default=1, ge=1, le=256)
    api_torch_threads: int = Field(default=1, ge=1, le=256)
    log_json: bool = False
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


@lru_cache
def get_settings() -> Settings:
    return Settings()
