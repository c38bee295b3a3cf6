"""The heartbeat of a running job: a thread that keeps its lease and watches for a cancel.

The training loop only reads this thread's flags between steps, so it never waits on Redis.
"""

from __future__ import annotations

import logging
import os
import threading
import time

import redis

from digitgan.jobs import JobStore
from digitgan.leases import JobLease

log = logging.getLogger(__name__)
CANCEL_POLL_S = 0.5


class Heartbeat(threading.Thread):
    """Renews `lease` every `interval_s` and polls the job's cancel flag.

    Sets `lost` when this process may no longer train the job: the lease went to someone
    else, it could not be renewed for longer than the lease lasts (Redis unreachable, so
    the reaper may already have requeued the job), or the worker process that started
    this one died (a SIGKILLed Celery worker leaves its pool child running).
    """

    def __init__(
        self, jobs: JobStore, lease: JobLease, job_id: str, interval_s: float, ttl_s: float
    ):
        super().__init__(name=f"heartbeat-{job_id}", daemon=True)
        self.jobs, self.lease, self.job_id = jobs, lease, job_id
        self.interval_s, self.ttl_s = interval_s, ttl_s
        self.cancelled = threading.Event()
        self.lost = threading.Event()
        self._stopping = threading.Event()
        self._parent = os.getppid()

    def stop(self) -> None:
        self._stopping.set()
        self.join()

    def run(self) -> None:
        last_renewed = last_beat = time.monotonic()
        while not self._stopping.wait(min(CANCEL_POLL_S, self.interval_s)):
            now = time.monotonic()
            if os.getppid() != self._parent:
                return self._lose("its worker process died")
            if now - last_renewed > self.ttl_s:
                return self._lose(f"its lease could not be renewed for {now - last_renewed:.1f}s")
            try:
                if self.jobs.cancel_requested(self.job_id):
                    self.cancelled.set()
                if now - last_beat >= self.interval_s:
                    last_beat = now
                    if not self.lease.renew():
                        return self._lose("its lease was taken over")
                    last_renewed = now
                    self.jobs.update(self.job_id, heartbeat_at=time.time())
            except redis.RedisError as exc:
                log.warning("job %s: heartbeat failed, retrying: %s", self.job_id, exc)

    def _lose(self, why: str) -> None:
        log.error("job %s: stopping, this worker may no longer train it: %s", self.job_id, why)
        self.lost.set()
