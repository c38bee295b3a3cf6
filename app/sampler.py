"""The generators the API samples from, kept in memory and following Redis.

`latest` and every alias are re-read whenever the checkpoint store announces a change
(Redis pub/sub) and every `refresh_interval_s` besides; a newly named checkpoint is
loaded on a thread of its own, then swapped in with one assignment, so requests never
wait for a load and a request in flight finishes on the model it started with.
Checkpoints asked for by id are loaded on first use and the last few kept.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import redis
import torch

from digitgan.checkpoints import CheckpointStore
from digitgan.ids import LATEST
from models.checkpoint import CheckpointError, load_generator

log = logging.getLogger(__name__)


class NoCheckpoint(LookupError):
    """No checkpoint has been published yet."""


class UnknownCheckpoint(LookupError):
    """No checkpoint or alias has this name."""


@dataclass(frozen=True, eq=False)
class LoadedModel:
    checkpoint_id: str
    meta: dict[str, Any]
    generator: torch.nn.Module


@dataclass(frozen=True)
class Resolved:
    model: LoadedModel
    # True when the request named `latest` or an alias, whose target can move.
    follows_ref: bool


class Models:
    def __init__(self, store: CheckpointStore, refresh_interval_s: float, keep_loaded: int):
        self.store = store
        self.refresh_interval_s = refresh_interval_s
        self._refs: dict[str, LoadedModel] = {}  # replaced whole, never changed in place
        self.keep_loaded = keep_loaded
        self._by_id: dict[str, LoadedModel] = {}  # asked for by id; replaced whole
        self._refused: set[str] = set()  # corrupt checkpoints: not retried every refresh
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # The request path: memory only.
    def lookup(self, ref: str) -> Resolved | None:
        model = self._refs.get(ref)
        if model is not None:
            return Resolved(model, follows_ref=True)
        model = self._by_id.get(ref) or self._loaded_by_id(ref)
        return None if model is None else Resolved(model, follows_ref=False)

    def _loaded_by_id(self, checkpoint_id: str) -> LoadedModel | None:
        return next((m for m in self._refs.values() if m.checkpoint_id == checkpoint_id), None)

    # The slow path (a thread, not the event loop): Redis, and a load if need be.
    def resolve(self, ref: str) -> Resolved:
        """What `ref` (an alias, `latest` or a checkpoint id) names, loading it if needed.

        Raises NoCheckpoint, UnknownCheckpoint, CheckpointError or redis.RedisError.
        """
        self.refresh()  # maybe it was published or aliased an instant ago
        found = self.lookup(ref)
        if found is not None:
            return found
        if ref == LATEST:
            latest = self.store.latest_id()
            if latest is None:
                raise NoCheckpoint(
                    "no checkpoint has been published yet; train one with POST /v1/jobs"
                )
            # Only a latest that refresh() refused (it is corrupt) gets here: say why.
            return Resolved(self._load(latest), follows_ref=True)
        if not self.store.exists(ref):
            raise UnknownCheckpoint(
                f"no checkpoint or alias named {ref!r}; GET /v1/checkpoints lists them"
            )
        with self._lock:
            model = self._by_id.get(ref) or self._load(ref)
            # Replaced whole, so lookup() reads it without the lock; oldest out first.
            kept = list({**self._by_id, ref: model}.items())[-self.keep_loaded :]
            self._by_id = dict(kept)
        return Resolved(model, follows_ref=False)

    def refresh(self) -> None:
        """Re-read `latest` and the aliases; load what they newly name."""
        latest, aliases = self.store.refs()
        targets = dict(aliases, **({LATEST: latest} if latest else {}))
        with self._lock:
            refs: dict[str, LoadedModel] = {}
            for name, checkpoint_id in targets.items():
                model = self._model_for(checkpoint_id)
                if model is None:
                    model = self._refs.get(name)  # keep serving what it named before
                if model is not None:
                    refs[name] = model
            self._refs = refs

    def _model_for(self, checkpoint_id: str) -> LoadedModel | None:
        model = self._loaded_by_id(checkpoint_id) or self._by_id.get(checkpoint_id)
        if model is not None or checkpoint_id in self._refused:
            return model
        try:
            return self._load(checkpoint_id)
        except CheckpointError as exc:
            log.error("checkpoint %s refused, not serving it: %s", checkpoint_id, exc)
            self._refused.add(checkpoint_id)
            return None

    def _load(self, checkpoint_id: str) -> LoadedModel:
        blob = self.store.blob(checkpoint_id)
        if blob is None:
            raise CheckpointError(f"checkpoint {checkpoint_id}: its weights are missing")
        meta, generator = load_generator(blob)
        log.info("loaded checkpoint %s", checkpoint_id)
        return LoadedModel(checkpoint_id, meta, generator)

    # The watcher thread.
    def start(self) -> None:
        self._thread = threading.Thread(target=self._watch, name="checkpoint-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2 * self.refresh_interval_s + 1)

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                with self.store.redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    pubsub.subscribe(self.store.channel)
                    while not self._stop.is_set():
                        self.refresh()
                        # Returns on an announcement, or after the interval at the latest.
                        pubsub.get_message(timeout=self.refresh_interval_s)
            except redis.RedisError as exc:
                # Keep serving what is loaded; try again shortly.
                log.warning("cannot follow checkpoints in Redis: %s", exc)
                self._stop.wait(self.refresh_interval_s)
