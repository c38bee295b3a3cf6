"""The reaper: keeps every unfinished job on its way, from each API process.

- A running job whose worker stopped sending heartbeats (its lease expired) is requeued
  to resume from its last checkpoint, or failed after too many attempts. Celery cannot
  do this: with the Redis transport, a killed worker's job comes back only after the
  visibility timeout (a day).
- A queued job with no message in the broker (a crash between writing its record and
  sending its message, or a flushed queue) is sent again. It is found from Celery's own
  structures, the queue and the delivered-but-unacknowledged messages, and must be seen
  without a message in two sweeps ORPHAN_GRACE_S apart: a message a worker is taking at
  that instant is never mistaken for a lost one, and a job waiting in a long queue is
  never sent twice.
- Training states of finished jobs are dropped when their retention ends.
- An empty store gets the bundled model as `latest` (DIGITGAN_PUBLISH_BUNDLED), at start
  and whenever Redis was away then.

Several API processes (DIGITGAN_API_WORKERS) reap at once, safely: each state change is
one guarded Redis transaction, and resending a lost message is claimed by one reaper
(tests/test_limits.py runs two side by side). A second message for a job would be
harmless anyway: its lease lets one attempt run.
"""

from __future__ import annotations

import logging
import threading
import time

import redis
from celery import Celery

from digitgan.checkpoints import CheckpointStore
from digitgan.jobs import JobState, JobStore
from digitgan.queue import enqueue, jobs_with_messages

log = logging.getLogger(__name__)
ORPHAN_GRACE_S = 5.0


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


class Orphans:
    """Queued jobs without a message, remembered from one sweep to the next."""

    def __init__(self, grace_s: float = ORPHAN_GRACE_S):
        self.grace_s = grace_s
        self.seen: dict[str, float] = {}  # job id -> when first seen without a message

    def sweep(self, jobs: JobStore, celery: Celery, now: float | None = None) -> list[str]:
        """Send again the queued jobs that had no message for grace_s; their ids."""
        now = time.monotonic() if now is None else now
        queued = set(jobs.ids_in(JobState.queued))
        orphans = queued - jobs_with_messages(jobs.redis, jobs.keys)
        self.seen = {job_id: self.seen.get(job_id, now) for job_id in orphans}
        sent = []
        for job_id, since in self.seen.items():
            if now - since < self.grace_s or not self._claim(jobs, job_id):
                continue
            if jobs.note(job_id, JobState.queued, LOST_MESSAGE):
                log.warning("job %s was queued without a message: sent again", job_id)
                enqueue(celery, job_id)
                sent.append(job_id)
        for job_id in sent:
            del self.seen[job_id]
        return sent

    def _claim(self, jobs: JobStore, job_id: str) -> bool:
        """Whether this reaper, of the API processes that may all have seen the orphan,
        is the one to send it again (the claim lapses after a grace period)."""
        claim = jobs.keys.resend_claim(job_id)
        return bool(jobs.redis.set(claim, "1", nx=True, px=int(self.grace_s * 1000)))


LOST_MESSAGE = "its queue message was lost; sent again"


class Reaper(threading.Thread):
    """Sweeps every `interval_s` until stopped; Redis being away only delays a sweep."""

    def __init__(
        self,
        jobs: JobStore,
        checkpoints: CheckpointStore,
        celery: Celery,
        max_attempts: int,
        interval_s: float,
        publish_bundled: bool = False,
    ):
        super().__init__(name="reaper", daemon=True)
        self.jobs, self.checkpoints, self.celery = jobs, checkpoints, celery
        self.max_attempts, self.interval_s = max_attempts, interval_s
        self.publish_bundled = publish_bundled
        self.orphans = Orphans()
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()
        self.join()

    def run(self) -> None:
        while True:
            try:
                if self.publish_bundled and self.checkpoints.publish_bundled():
                    log.info("the store was empty: published the bundled model as latest")
                reap_lost_jobs(self.jobs, self.celery, self.max_attempts)
                self.orphans.sweep(self.jobs, self.celery)
                self.checkpoints.drop_expired_states()
            except redis.RedisError as exc:
                log.warning("reaper: Redis unavailable, retrying: %s", exc)
            except Exception:
                log.exception("reaper: sweep failed")
            if self._stopping.wait(self.interval_s):
                return
