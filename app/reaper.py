"""The reaper: finds running jobs whose worker stopped sending heartbeats, and requeues
them (to resume from their last checkpoint) or fails them after too many attempts.

Celery cannot do this: with the Redis transport, the unacknowledged job of a killed
worker comes back only after the visibility timeout (a day). Every API process runs a
reaper; several at once are safe, as each state change is one guarded transaction.
"""

from __future__ import annotations

import logging
import threading

import redis
from celery import Celery

from digitgan.jobs import JobState, JobStore
from digitgan.queue import enqueue

log = logging.getLogger(__name__)


def reap_lost_jobs(jobs: JobStore, celery: Celery, max_attempts: int) -> dict[str, JobState]:
    """One sweep: the new state of each running job found without a live lease."""
    changed = {}
    for job_id in jobs.running_ids():
        state = jobs.expire_lost(
            job_id, max_attempts, "requeued to resume from its last checkpoint"
        )
        if state is None:
            continue
        changed[job_id] = state
        log.warning("job %s lost its worker: now %s", job_id, state.value)
        if state == JobState.queued:
            enqueue(celery, job_id)
    return changed


class Reaper(threading.Thread):
    """Sweeps every `interval_s` until stopped; Redis being away only delays a sweep."""

    def __init__(self, jobs: JobStore, celery: Celery, max_attempts: int, interval_s: float):
        super().__init__(name="reaper", daemon=True)
        self.jobs, self.celery = jobs, celery
        self.max_attempts, self.interval_s = max_attempts, interval_s
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()
        self.join()

    def run(self) -> None:
        while not self._stopping.wait(self.interval_s):
            try:
                reap_lost_jobs(self.jobs, self.celery, self.max_attempts)
            except redis.RedisError as exc:
                log.warning("reaper: Redis unavailable, retrying: %s", exc)
            except Exception:
                log.exception("reaper: sweep failed")
