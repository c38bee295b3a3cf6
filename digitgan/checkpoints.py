"""Published checkpoints in Redis: the only thing a worker and an API host share.

Besides the blobs and their metadata: `latest`, named aliases (for example `production`)
that point at a chosen checkpoint, and a pub/sub channel on which every change of either
is announced, so API processes follow it at once.

Rules every writer goes through (each one atomic, a Lua script):
- a checkpoint id is written once and never overwritten: its images are served as
  immutable, so its weights must never change;
- a worker publishes only while it holds the job's lease, checked in the same step;
- `latest` moves only when asked (a job that succeeded and publishes, or the bundled
  model into an empty store), never to a half-trained checkpoint;
- every stored byte (weights, training states, uploaded data sets) is counted, so the
  store's size is one read and new work can be refused before Redis fills up;
- a checkpoint that `latest` or an alias names is never deleted.
"""

from __future__ import annotations

import json
import time
from typing import Any, Protocol

import redis

from digitgan.keys import Keys
from digitgan.redis_client import blob, text, texts
from models import bundled
from models.checkpoint import load_generator

# Aliases are names a person picks; a bound keeps every alias check cheap.
MAX_ALIASES = 100

# KEYS: blob, meta, state, index, latest, lease, sizes, bytes, job checkpoints, old state
# ARGV: id, blob, meta, state ('' none), lease token ('' none), move latest, step,
#       channel, only if the store is empty
_PUBLISH = """
if ARGV[5] ~= '' and redis.call('get', KEYS[6]) ~= ARGV[5] then return 'lease-lost' end
if ARGV[9] == '1' and redis.call('zcard', KEYS[4]) > 0 then return 'not-empty' end
local stored = 'exists'
if redis.call('exists', KEYS[2]) == 0 then
  stored = 'stored'
  redis.call('set', KEYS[1], ARGV[2])
  redis.call('set', KEYS[2], ARGV[3])
  redis.call('hset', KEYS[7], KEYS[1], string.len(ARGV[2]))
  redis.call('incrby', KEYS[8], string.len(ARGV[2]))
  if ARGV[4] ~= '' then
    redis.call('set', KEYS[3], ARGV[4])
    redis.call('hset', KEYS[7], KEYS[3], string.len(ARGV[4]))
    redis.call('incrby', KEYS[8], string.len(ARGV[4]))
  end
  local now = redis.call('time')
  redis.call('zadd', KEYS[4], tonumber(now[1]) + tonumber(now[2]) / 1e6, ARGV[1])
  if KEYS[9] ~= KEYS[4] then redis.call('zadd', KEYS[9], tonumber(ARGV[7]), ARGV[1]) end
  if KEYS[10] ~= KEYS[3] then
    local size = redis.call('hget', KEYS[7], KEYS[10])
    if size then
      redis.call('decrby', KEYS[8], size)
      redis.call('hdel', KEYS[7], KEYS[10])
      redis.call('del', KEYS[10])
    end
  end
end
if ARGV[6] == '1' then
  redis.call('set', KEYS[5], ARGV[1])
  redis.call('publish', ARGV[8], 'latest ' .. ARGV[1])
end
return stored
"""

# Deletes counted keys (KEYS[3..]) and forgets a checkpoint id (ARGV[1]) unless `latest`
# or an alias names it. KEYS: latest, aliases, then the keys; ARGV: id, index, job zset.
_DELETE = """
if ARGV[1] ~= '' then
  if redis.call('get', KEYS[1]) == ARGV[1] then return 'latest' end
  local aliases = redis.call('hgetall', KEYS[2])
  for i = 2, #aliases, 2 do
    if aliases[i] == ARGV[1] then return 'alias ' .. aliases[i - 1] end
  end
  redis.call('zrem', ARGV[2], ARGV[1])
  if ARGV[3] ~= '' then redis.call('zrem', ARGV[3], ARGV[1]) end
end
local sizes, total = ARGV[4], ARGV[5]
for i = 3, #KEYS do
  local size = redis.call('hget', sizes, KEYS[i])
  if size then
    redis.call('decrby', total, size)
    redis.call('hdel', sizes, KEYS[i])
  end
  redis.call('del', KEYS[i])
end
return 'deleted'
"""


class LeaseLost(RuntimeError):
    """The publisher no longer holds the job's lease; nothing was written."""


class StoreFull(RuntimeError):
    """The store holds its budget of bytes; the message says what to delete."""


class CheckpointInUse(RuntimeError):
    """`latest` or an alias names the checkpoint; the message says which and what to do."""


class Lease(Protocol):
    """Whose lease guards a publish (a digitgan.leases.JobLease): its key and the holder's
    token."""

    key: str
    token: str


class CheckpointStore:
    def __init__(self, client: redis.Redis, prefix: str):
        self.redis = client
        self.keys = Keys(prefix)
        # Pub/sub channel announcing a new `latest` or a changed alias.
        self.channel = self.keys.checkpoint_events
        self._publish = client.register_script(_PUBLISH)
        self._delete = client.register_script(_DELETE)

    # -- writing -------------------------------------------------------------------------

    def publish(
        self,
        blob: bytes,
        training_state: bytes | None = None,
        *,
        latest: bool = False,
        lease: Lease | None = None,
        replaces_state_of: str | None = None,
        only_if_empty: bool = False,
    ) -> tuple[dict[str, Any], bool]:
        """Check that `blob` loads, then store it and its training state (what resuming
        needs) in one step; (its metadata, whether it was stored now).

        An id that exists is left as it is (same id, same weights: publishing twice is a
        no-op). `latest` moves it there; `replaces_state_of` drops that checkpoint's
        training state (a job keeps only its newest). With `lease`, nothing is written
        unless that lease is still held (LeaseLost); with `only_if_empty`, nothing is
        written into a store that already has a checkpoint.

        Raises models.checkpoint.CheckpointError (and publishes nothing) for a bad blob.
        """
        meta, _ = load_generator(blob)
        checkpoint_id, job_id = meta["id"], meta.get("job_id")
        keys = self.keys
        state_key = keys.checkpoint_state(checkpoint_id)
        outcome = text(
            self._publish(
                keys=[
                    keys.checkpoint_blob(checkpoint_id),
                    keys.checkpoint_meta(checkpoint_id),
                    state_key,
                    keys.checkpoints,
                    keys.latest,
                    lease.key if lease else keys.latest,
                    keys.sizes,
                    keys.store_bytes,
                    keys.job_checkpoints(job_id) if job_id else keys.checkpoints,
                    keys.checkpoint_state(replaces_state_of) if replaces_state_of else state_key,
                ],
                args=[
                    checkpoint_id,
                    blob,
                    json.dumps(meta),
                    training_state or b"",
                    lease.token if lease else "",
                    int(latest),
                    int(meta["step"]),
                    self.channel,
                    int(only_if_empty),
                ],
            )
        )
        if outcome == "lease-lost":
            raise LeaseLost(f"checkpoint {checkpoint_id}: the job's lease is no longer held")
        return meta, outcome == "stored"

    def publish_bundled(self) -> str | None:
        """Publish the bundled model as `latest` if the store holds no checkpoint yet; its
        id if it was published now (None: the store had checkpoints, or it was there)."""
        if self.count() > 0:
            return None
        meta, stored = self.publish(bundled.blob(), latest=True, only_if_empty=True)
        return str(meta["id"]) if stored else None

    def set_latest(self, checkpoint_id: str) -> bool:
        """Point `latest` at a published checkpoint; False (and no change) if there is none."""
        if not self.exists(checkpoint_id):
            return False
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self.keys.latest, checkpoint_id)
            pipe.publish(self.channel, f"latest {checkpoint_id}")
            pipe.execute()
        return True

    def delete(self, checkpoint_id: str) -> bool:
        """Delete a checkpoint (weights, metadata, training state); False if there was none.
        CheckpointInUse if `latest` or an alias names it."""
        meta = self.meta(checkpoint_id)
        if meta is None:
            return False
        job_id = meta.get("job_id")
        self._run_delete(
            checkpoint_id,
            self.keys.job_checkpoints(job_id) if job_id else "",
            [
                self.keys.checkpoint_blob(checkpoint_id),
                self.keys.checkpoint_meta(checkpoint_id),
                self.keys.checkpoint_state(checkpoint_id),
            ],
        )
        return True

    def _run_delete(self, checkpoint_id: str, job_index: str, keys: list[str]) -> None:
        outcome = text(
            self._delete(
                keys=[self.keys.latest, self.keys.aliases, *keys],
                args=[
                    checkpoint_id,
                    self.keys.checkpoints,
                    job_index,
                    self.keys.sizes,
                    self.keys.store_bytes,
                ],
            )
        )
        if outcome == "latest":
            raise CheckpointInUse(
                f"checkpoint {checkpoint_id} is `latest`; it stays until a newer job publishes"
            )
        if outcome.startswith("alias "):
            name = outcome.removeprefix("alias ")
            raise CheckpointInUse(
                f"alias {name!r} points at checkpoint {checkpoint_id}; "
                f"move or delete the alias first (DELETE /v1/aliases/{name})"
            )

    def prune_job(self, job_id: str, keep: int) -> list[str]:
        """Delete a job's checkpoints beyond its newest `keep`, except those `latest` or an
        alias names; the ids deleted, oldest first."""
        index = self.keys.job_checkpoints(job_id)
        doomed = texts(self.redis.zrange(index, 0, -(keep + 1)))
        deleted = []
        for checkpoint_id in doomed:
            try:
                self.delete(checkpoint_id)
            except CheckpointInUse:
                continue
            deleted.append(checkpoint_id)
        return deleted

    def drop_training_state(self, checkpoint_id: str) -> None:
        """Forget what resuming from `checkpoint_id` needs; its weights stay servable."""
        self._run_delete("", "", [self.keys.checkpoint_state(checkpoint_id)])

    def drop_training_state_later(self, checkpoint_id: str, after_s: float) -> None:
        """Drop the training state `after_s` seconds from now (drop_expired_states does)."""
        self.redis.zadd(self.keys.expiring_states, {checkpoint_id: time.time() + after_s})

    def drop_expired_states(self, now: float | None = None) -> list[str]:
        """Drop the training states whose time came; their checkpoint ids."""
        due = texts(self.redis.zrangebyscore(self.keys.expiring_states, 0, now or time.time()))
        for checkpoint_id in due:
            self.drop_training_state(checkpoint_id)
            self.redis.zrem(self.keys.expiring_states, checkpoint_id)
        return due

    def count_bytes(self, key: str, size: int) -> None:
        """Count `size` bytes stored under `key` (written by the caller) in the store's
        size; uncount_bytes deletes the key and takes them off again."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.sizes, key, size)
            pipe.incrby(self.keys.store_bytes, size)
            pipe.execute()

    def uncount_bytes(self, *keys: str) -> None:
        self._run_delete("", "", list(keys))

    def set_alias(self, name: str, checkpoint_id: str) -> bool:
        """Point alias `name` at a published checkpoint; False (and no change) if there
        is no such checkpoint. ValueError when MAX_ALIASES exist and `name` is new."""
        if not self.exists(checkpoint_id):
            return False
        aliases = self.aliases()
        if name not in aliases and len(aliases) >= MAX_ALIASES:
            raise ValueError(f"there are {MAX_ALIASES} aliases already; delete one first")
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

    # -- reading -------------------------------------------------------------------------

    def latest_id(self) -> str | None:
        value = self.redis.get(self.keys.latest)
        return text(value) if value else None

    def blob(self, checkpoint_id: str) -> bytes | None:
        return blob(self.redis.get(self.keys.checkpoint_blob(checkpoint_id)))

    def training_state(self, checkpoint_id: str) -> bytes | None:
        return blob(self.redis.get(self.keys.checkpoint_state(checkpoint_id)))

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

    def job_checkpoint_ids(self, job_id: str) -> list[str]:
        """A job's checkpoints that are still kept, oldest first."""
        return texts(self.redis.zrange(self.keys.job_checkpoints(job_id), 0, -1))

    def count(self) -> int:
        return int(self.redis.zcard(self.keys.checkpoints))

    def stored_bytes(self) -> int:
        """Every byte the store holds in checkpoints, training states and data sets."""
        return int(self.redis.get(self.keys.store_bytes) or 0)

    def refs(self) -> tuple[str | None, dict[str, str]]:
        """`latest` and every alias, read together."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(self.keys.latest)
            pipe.hgetall(self.keys.aliases)
            latest, aliases = pipe.execute()
        return (text(latest) if latest else None), {text(k): text(v) for k, v in aliases.items()}

    def aliases(self) -> dict[str, str]:
        return self.refs()[1]
