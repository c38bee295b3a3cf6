"""One way to open Redis, with timeouts so a dead server fails fast instead of hanging."""

from __future__ import annotations

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
