"""The generator that the API samples from: the latest published checkpoint, kept in memory."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import redis
import torch

from digitgan.checkpoints import CheckpointStore
from models.checkpoint import CheckpointError, load_generator

log = logging.getLogger(__name__)


class NoCheckpoint(LookupError):
    """No checkpoint has been published yet."""


@dataclass(frozen=True)
class LoadedModel:
    checkpoint_id: str
    meta: dict[str, Any]
    generator: torch.nn.Module


class LatestModel:
    """Follows the "latest" pointer in Redis; loads a checkpoint only when the pointer moves."""

    def __init__(self, store: CheckpointStore):
        self.store = store
        self._loaded: LoadedModel | None = None
        self._lock = threading.Lock()

    def get(self) -> LoadedModel:
        try:
            latest = self.store.latest_id()
        except redis.RedisError:
            # Redis is away: keep serving the model already in memory.
            if self._loaded is None:
                raise
            return self._loaded
        if latest is None:
            raise NoCheckpoint("no checkpoint has been published yet; train one with POST /v1/jobs")
        loaded = self._loaded
        if loaded is not None and loaded.checkpoint_id == latest:
            return loaded
        with self._lock:
            if self._loaded is None or self._loaded.checkpoint_id != latest:
                self._loaded = self._load(latest)
            return self._loaded

    def _load(self, checkpoint_id: str) -> LoadedModel:
        blob = self.store.blob(checkpoint_id)
        try:
            if blob is None:
                raise CheckpointError("its weights are missing from Redis")
            meta, generator = load_generator(blob)
        except CheckpointError as exc:
            if self._loaded is None:
                raise
            log.error(
                "checkpoint %s refused, still serving %s: %s",
                checkpoint_id,
                self._loaded.checkpoint_id,
                exc,
            )
            return self._loaded
        log.info("serving checkpoint %s", checkpoint_id)
        return LoadedModel(checkpoint_id, meta, generator)
