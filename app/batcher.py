"""A micro-batcher: concurrent requests share one call of a batch function.

Requests queue while the previous batch runs, then go together: no timer, so a lone
request waits for nothing, and under load the batches grow by themselves. The work
runs on one thread of its own, which keeps PyTorch off the event loop and off the
thread pool that FastAPI uses for blocking routes.

Bounded: the queue holds at most `max_pending` units of work (digits, for images);
past that `submit` raises Overloaded at once, and the route answers 503 with
Retry-After instead of letting latency grow without end. A request whose caller went
away (its future cancelled) is dropped before it is worked on, and one item's failure
is its own: the batch function returns an outcome per item.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")

_STOP = object()
# What a batch function returns for each item: its result, or the exception it raised.
Outcome = Any


class Overloaded(RuntimeError):
    """Too much work is queued; the message says how much and what to do."""


@dataclass
class _Entry:
    key: Hashable
    item: Any
    units: int
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


class MicroBatcher(Generic[Item, Result]):
    def __init__(
        self,
        run_batch: Callable[[Any, list[Item]], list[Outcome]],
        max_pending: int,
        max_batch: int = 256,
    ):
        """`run_batch(key, items)` returns one outcome per item (a result, or an exception
        for that item alone); items of one batch share their key (the model they need)."""
        self.run_batch = run_batch
        self.max_pending, self.max_batch = max_pending, max_batch
        self.pending = 0  # units queued or running; changed under _lock
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._serve, name="micro-batcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(_STOP)
        if self._thread is not None:
            self._thread.join()

    def submit(self, key: Hashable, item: Item, units: int = 1) -> asyncio.Future[Result]:
        """Queue an item; a future of its result. Overloaded when the queue is full.
        Cancelling the future (the caller went away) drops the item if it has not run."""
        with self._lock:
            if self.pending + units > self.max_pending:
                raise Overloaded(
                    f"{self.pending} digits are waiting to be drawn (at most "
                    f"{self.max_pending}); try again in a moment"
                )
            self.pending += units
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        self._queue.put(_Entry(key, item, units, future, loop))
        return future

    def _serve(self) -> None:
        while True:
            entries = [self._queue.get()]
            while len(entries) < self.max_batch and not self._queue.empty():
                entries.append(self._queue.get_nowait())
            stop = _STOP in entries
            groups: dict[Hashable, list[_Entry]] = {}
            for entry in entries:
                if entry is _STOP:
                    continue
                if entry.future.cancelled():  # nobody waits for it any more
                    self._done(entry)
                    continue
                groups.setdefault(entry.key, []).append(entry)
            for group in groups.values():
                self._run(group)
            if stop:
                return

    def _run(self, group: list[_Entry]) -> None:
        try:
            outcomes = self.run_batch(group[0].key, [e.item for e in group])
        except Exception as exc:  # the batch function failed as a whole: all share it
            log.exception("a render batch failed")
            outcomes = [exc] * len(group)
        for entry, outcome in zip(group, outcomes, strict=True):
            self._done(entry)
            _settle(entry, outcome)

    def _done(self, entry: _Entry) -> None:
        with self._lock:
            self.pending -= entry.units


def _settle(entry: _Entry, outcome: Outcome) -> None:
    def set_outcome() -> None:
        if entry.future.done():  # the request was cancelled (client went away)
            return
        if isinstance(outcome, BaseException):
            entry.future.set_exception(outcome)
        else:
            entry.future.set_result(outcome)

    try:
        entry.loop.call_soon_threadsafe(set_outcome)
    except RuntimeError:
        log.debug("event loop closed before a result arrived")
