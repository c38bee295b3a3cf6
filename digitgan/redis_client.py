"""One way to open Redis, with timeouts so a dead server fails fast instead of hanging,
and the small conversions its replies need."""

from __future__ import annotations

from typing import Any

import redis

from digitgan.settings import Settings


def connect(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=2,
        socket_timeout=10,
        health_check_interval=15,
        retry_on_timeout=True,
    )


def text(value: Any) -> str:
    """A reply's bytes as text (the client is opened without decode_responses)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def texts(values: Any) -> list[str]:
    return [text(v) for v in values]


def blob(value: Any) -> bytes | None:
    """A binary value as bytes, or None where the key was missing."""
    return None if value is None else bytes(value)
