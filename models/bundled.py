"""The bundled model: a small trained checkpoint that ships with the package, so a fresh
service draws good digits from its first request (scripts/train_bundled.py makes it).

Its id is derived from its weights (`bundled-<first 12 hex digits of their SHA-256>`),
so publishing it twice is publishing the same checkpoint.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

WEIGHTS = Path(__file__).with_name("bundled.safetensors")


def blob() -> bytes:
    """The bundled checkpoint (models.checkpoint format: weights, metadata in the header)."""
    return WEIGHTS.read_bytes()


def content_id(generator_state: dict[str, torch.Tensor]) -> str:
    """The id a checkpoint of these weights gets: the same weights, the same id."""
    digest = hashlib.sha256()
    for name in sorted(generator_state):
        tensor = generator_state[name].detach().to("cpu", torch.float32).contiguous()
        digest.update(name.encode())
        digest.update(tensor.numpy().tobytes())
    return f"bundled-{digest.hexdigest()[:12]}"
