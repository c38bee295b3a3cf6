"""A micro-batcher: concurrent requests share one call of a batch function.

Requests queue while the previous batch runs, then go together: no timer, so a lone
request waits for nothing, and under load the batches grow by themselves. The work
runs on one thread of its own, which keeps PyTorch off the event loop and off the
thread pool that FastAPI uses for blocking routes.
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


@dataclass
class _Entry:
    key: Hashable
    item: Any
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop


class MicroBatcher(Generic[Item, Result]):
    def __init__(self, run_batch: Callable[[Any, list[Item]], list[Result]], max_batch: int = 256):
        """`run_batch(key, items)` returns one result per item; items of one batch share
        their key (for example the model they need)."""
        self.run_batch = run_batch
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._serve, name="micro-batcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(_STOP)
        if self._thread is not None:
            self._thread.join()

    async def submit(self, key: Hashable, item: Item) -> Result:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put(_Entry(key, item, future, loop))
        return await future

    def _serve(self) -> None:
        while True:
            entries = [self._queue.get()]
            while len(entries) < self.max_batch and not self._queue.empty():
                entries.append(self._queue.get_nowait())
            stop = _STOP in entries
            groups: dict[Hashable, list[_Entry]] = {}
            for entry in entries:
                if entry is not _STOP:
                    groups.setdefault(entry.key, []).append(entry)
            for group in groups.values():
                self._run(group)
            if stop:
                return

    def _run(self, group: list[_Entry]) -> None:
        try:
            results = self.run_batch(group[0].key, [e.item for e in group])
        except Exception as exc:
            if len(group) > 1:
                # Find the culprit: each item alone, so one bad item fails only itself.
                for entry in group:
                    self._run([entry])
            else:
                _settle(group[0], exc)
            return
        for entry, result in zip(group, results, strict=True):
            _settle(entry, result)


def _settle(entry: _Entry, outcome: Any) -> None:
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
