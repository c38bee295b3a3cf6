"""A per-job lease in Redis: whoever holds it is the one process that may train the job.

A worker takes the lease before it starts a job and renews it from a heartbeat thread.
If the worker dies, the lease expires, and the reaper (app/reaper.py) requeues the job.
A second delivery of the same job finds the lease taken and leaves the job alone, so two
workers never train one job at the same time.
"""

from __future__ import annotations

import uuid

import redis

from digitgan.keys import Keys
from digitgan.redis_client import text

# Compare-and-act scripts: only the holder (the token it was given) may renew or release.
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class JobLease:
    def __init__(self, client: redis.Redis, prefix: str, job_id: str, ttl_s: float):
        self.redis = client
        self.key = Keys(prefix).lease(job_id)
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self.token = uuid.uuid4().hex
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    def acquire(self) -> bool:
        """Take the lease if nobody holds it."""
        return bool(self.redis.set(self.key, self.token, nx=True, px=self.ttl_ms))

    def renew(self) -> bool:
        """Extend the lease; False once it expired or someone else holds it."""
        return bool(self._renew(keys=[self.key], args=[self.token, self.ttl_ms]))

    def release(self) -> None:
        self._release(keys=[self.key], args=[self.token])

    def held(self) -> bool:
        value = self.redis.get(self.key)
        return value is not None and text(value) == self.token
