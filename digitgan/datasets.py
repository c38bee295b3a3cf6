"""Uploaded data sets in Redis, which is all the workers share with the API.

A data set is its digits as one safetensors blob (no pickle), its metadata beside it, and
its id is a hash of its content: the same upload twice is the same data set. Its bytes
count in the store's size (digitgan.checkpoints), like checkpoints'.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import redis
import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from digitgan.checkpoints import CheckpointStore
from digitgan.ids import dataset_id
from digitgan.keys import Keys
from digitgan.redis_client import blob, texts
from models.data import NUM_CLASSES, Digits


def to_blob(digits: Digits) -> bytes:
    tensors = {
        "images": torch.from_numpy(np.ascontiguousarray(digits.images)),
        "labels": torch.from_numpy(np.ascontiguousarray(digits.labels, dtype=np.int64)),
    }
    return save_tensors(tensors)


def from_blob(blob: bytes) -> Digits:
    tensors = load_tensors(blob)
    return Digits(images=tensors["images"].numpy(), labels=tensors["labels"].numpy())


class DatasetStore:
    def __init__(self, client: redis.Redis, prefix: str):
        self.redis = client
        self.keys = Keys(prefix)
        self.checkpoints = CheckpointStore(client, prefix)  # the store's byte count

    def add(self, digits: Digits, name: str) -> tuple[dict[str, Any], bool]:
        """Store the digits; (their metadata, whether they were new)."""
        blob = to_blob(digits)
        found = dataset_id(blob)
        known = self.meta(found)
        if known is not None:
            return known, False
        meta = {
            "id": found,
            "name": name,
            "count": len(digits),
            "per_digit": np.bincount(digits.labels, minlength=NUM_CLASSES).tolist(),
            "bytes": len(blob),
            "created_at": time.time(),
        }
        key = self.keys.dataset(found)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(key, blob)
            pipe.set(self.keys.dataset_meta(found), json.dumps(meta))
            pipe.zadd(self.keys.datasets, {found: meta["created_at"]})
            pipe.execute()
        self.checkpoints.count_bytes(key, len(blob))
        return meta, True

    def digits(self, found: str) -> Digits | None:
        data = blob(self.redis.get(self.keys.dataset(found)))
        return None if data is None else from_blob(data)

    def meta(self, found: str) -> dict[str, Any] | None:
        value = self.redis.get(self.keys.dataset_meta(found))
        return json.loads(value) if value else None

    def page(self, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        """Metadata of uploaded data sets, newest first."""
        ids = texts(self.redis.zrevrange(self.keys.datasets, offset, offset + limit - 1))
        if not ids:
            return []
        values = self.redis.mget([self.keys.dataset_meta(i) for i in ids])
        return [json.loads(v) for v in values if v]

    def count(self) -> int:
        return int(self.redis.zcard(self.keys.datasets))

    def delete(self, found: str) -> bool:
        """Delete a data set; False if there was none."""
        if self.meta(found) is None:
            return False
        self.redis.zrem(self.keys.datasets, found)
        self.redis.delete(self.keys.dataset_meta(found))
        self.checkpoints.uncount_bytes(self.keys.dataset(found))
        return True
