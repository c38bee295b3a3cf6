"""Following job records for event streams: one poll of Redis per watched job and API
process, however many streams follow that job.

Each stream subscribes to its job's feed and wakes when the record changes. The first
subscriber starts the feed's poll task, the last one to leave stops it, so a hundred
browsers on one job cost what one does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import anyio
import redis

from digitgan.jobs import JobRecord, JobStore

POLL_S = 0.5
UNAVAILABLE_RETRY_S = 1.0


@dataclass
class Reading:
    """What the feed read last: the record (None: gone), or that Redis was unavailable.
    Every stream of the job gets this same object: what they derive from it alike (the
    answer to send) can be made once, in `shared`."""

    record: JobRecord | None
    unavailable: bool = False
    shared: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass
class _Feed:
    reading: Reading | None = None
    version: int = 0
    subscribers: int = 0
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    task: asyncio.Task[None] | None = None

    def moved_from(self, version: int) -> bool:
        return self.version != version


class JobWatcher:
    def __init__(self, jobs: JobStore):
        self.jobs = jobs
        self._feeds: dict[str, _Feed] = {}

    async def follow(self, job_id: str) -> AsyncIterator[Reading]:
        """Readings of the job as they change, the current one first; until the caller
        stops iterating."""
        feed = self._feeds.get(job_id)
        if feed is None:
            feed = self._feeds[job_id] = _Feed()
            feed.task = asyncio.create_task(self._poll(job_id, feed))
        feed.subscribers += 1
        seen = 0
        try:
            while True:
                async with feed.changed:
                    await feed.changed.wait_for(partial(feed.moved_from, seen))
                    seen, reading = feed.version, feed.reading
                if reading is not None:
                    yield reading
        finally:
            feed.subscribers -= 1
            if feed.subscribers == 0 and feed.task is not None:
                feed.task.cancel()
                del self._feeds[job_id]

    async def _poll(self, job_id: str, feed: _Feed) -> None:
        while True:
            try:
                reading = Reading(await anyio.to_thread.run_sync(self.jobs.get, job_id))
                pause = POLL_S
            except redis.RedisError:
                reading, pause = Reading(None, unavailable=True), UNAVAILABLE_RETRY_S
            if reading != feed.reading:
                async with feed.changed:
                    feed.reading, feed.version = reading, feed.version + 1
                    feed.changed.notify_all()
            await asyncio.sleep(pause)
