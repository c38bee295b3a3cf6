"""Published checkpoints in Redis: the only thing a worker and an API host share.

Besides the blobs and their metadata: `latest` (the newest published), named aliases
(for example `production`) that point at a chosen checkpoint, and a pub/sub channel on
which every change of either is announced, so API processes follow it at once.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from digitgan.keys import Keys
from digitgan.redis_client import blob, text, texts
from models.checkpoint import load_generator


class CheckpointStore:
    def __init__(self, client: redis.Redis, prefix: str):
        self.redis = client
        self.keys = Keys(prefix)
        # Pub/sub channel announcing a new `latest` or a changed alias.
        self.channel = self.keys.checkpoint_events

    def publish(self, blob: bytes, training_state: bytes | None = None) -> dict[str, Any]:
        """Check that `blob` loads, then store it (with the training state that resuming
        needs) and point "latest" at it, all in one transaction.

        Raises models.checkpoint.CheckpointError (and publishes nothing) for a bad blob.
        """
        meta, _ = load_generator(blob)
        checkpoint_id = meta["id"]
        with self.redis.pipeline(transaction=True) as pipe:
            if training_state is not None:
                pipe.set(self.keys.checkpoint_state(checkpoint_id), training_state)
            pipe.set(self.keys.checkpoint_blob(checkpoint_id), blob)
            pipe.set(self.keys.checkpoint_meta(checkpoint_id), json.dumps(meta))
            pipe.zadd(self.keys.checkpoints, {checkpoint_id: pipe_time(self.redis)})
            pipe.set(self.keys.latest, checkpoint_id)
            pipe.publish(self.channel, f"latest {checkpoint_id}")
            pipe.execute()
        return meta

    def set_latest(self, checkpoint_id: str) -> bool:
        """Point `latest` at a published checkpoint; False (and no change) if there is none."""
        if not self.exists(checkpoint_id):
            return False
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self.keys.latest, checkpoint_id)
            pipe.publish(self.channel, f"latest {checkpoint_id}")
            pipe.execute()
        return True

    def latest_id(self) -> str | None:
        value = self.redis.get(self.keys.latest)
        return text(value) if value else None

    def blob(self, checkpoint_id: str) -> bytes | None:
        return blob(self.redis.get(self.keys.checkpoint_blob(checkpoint_id)))

    def training_state(self, checkpoint_id: str) -> bytes | None:
        return blob(self.redis.get(self.keys.checkpoint_state(checkpoint_id)))

    def drop_training_state(self, checkpoint_id: str) -> None:
        """Forget what resuming from `checkpoint_id` needs; its weights stay servable."""
        self.redis.delete(self.keys.checkpoint_state(checkpoint_id))

    def meta(self, checkpoint_id: str) -> dict[str, Any] | None:
        value = self.redis.get(self.keys.checkpoint_meta(checkpoint_id))
        return json.loads(value) if value else None

    def exists(self, checkpoint_id: str) -> bool:
        return bool(self.redis.exists(self.keys.checkpoint_meta(checkpoint_id)))

    def page(self, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        """Metadata of published checkpoints, newest first."""
        ids = self.redis.zrevrange(self.keys.checkpoints, offset, offset + limit - 1)
        if not ids:
            return []
        values = self.redis.mget([self.keys.checkpoint_meta(i) for i in texts(ids)])
        return [json.loads(v) for v in values if v]

    def count(self) -> int:
        return int(self.redis.zcard(self.keys.checkpoints))

    def refs(self) -> tuple[str | None, dict[str, str]]:
        """`latest` and every alias, read together."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(self.keys.latest)
            pipe.hgetall(self.keys.aliases)
            latest, aliases = pipe.execute()
        return (text(latest) if latest else None), {text(k): text(v) for k, v in aliases.items()}

    def aliases(self) -> dict[str, str]:
        return self.refs()[1]

    def set_alias(self, name: str, checkpoint_id: str) -> bool:
        """Point alias `name` at a published checkpoint; False (and no change) if there
        is no such checkpoint."""
        if not self.exists(checkpoint_id):
            return False
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.aliases, name, checkpoint_id)
            pipe.publish(self.channel, f"alias {name}")
            pipe.execute()
        return True

    def delete_alias(self, name: str) -> bool:
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self.keys.aliases, name)
            pipe.publish(self.channel, f"alias {name}")
            removed, _ = pipe.execute()
        return bool(removed)


def pipe_time(client: redis.Redis) -> float:
    """Redis's own clock, so checkpoints from hosts with skewed clocks still order right."""
    seconds, micros = client.time()
    return seconds + micros / 1e6
