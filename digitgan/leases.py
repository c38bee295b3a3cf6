"""A per-job lease in Redis: whoever holds it is the one process that may train the job.

A worker takes the lease before it starts a job and renews it from a heartbeat thread.
If the worker dies, the lease expires, and the reaper (app/reaper.py) requeues the job.
A second delivery of the same job finds the lease taken and leaves the job alone, so two
workers never train one job at the same time.

The token names its holder (`host:pid:random`). When a training process is killed
(the out-of-memory killer, a crash), its Celery parent notices at once and delivers the
job again; the next process on the same host sees that the holder's pid is gone and takes
the lease over, instead of waiting for it to expire.
"""

from __future__ import annotations

import os
import socket
import uuid

import redis

from digitgan.keys import Keys
from digitgan.redis_client import text

# Compare-and-act scripts: only the holder (the token it was given) may renew or release;
# a lease is taken over only from the holder that was found dead.
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
_TAKE_OVER = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return false
"""


class JobLease:
    def __init__(self, client: redis.Redis, prefix: str, job_id: str, ttl_s: float):
        self.redis = client
        self.key = Keys(prefix).lease(job_id)
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._take_over = client.register_script(_TAKE_OVER)

    def acquire(self) -> bool:
        """Take the lease if nobody holds it, or if its holder was a process on this host
        that no longer exists."""
        if self.redis.set(self.key, self.token, nx=True, px=self.ttl_ms):
            return True
        holder = self.redis.get(self.key)
        if holder is None or not _dead_here(text(holder)):
            return False
        return bool(self._take_over(keys=[self.key], args=[holder, self.token, self.ttl_ms]))

    def renew(self) -> bool:
        """Extend the lease; False once it expired or someone else holds it."""
        return bool(self._renew(keys=[self.key], args=[self.token, self.ttl_ms]))

    def release(self) -> None:
        self._release(keys=[self.key], args=[self.token])

    def held(self) -> bool:
        value = self.redis.get(self.key)
        return value is not None and text(value) == self.token


def _dead_here(token: str) -> bool:
    """Whether a token names a process of this host that no longer runs."""
    host, _, rest = token.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False
