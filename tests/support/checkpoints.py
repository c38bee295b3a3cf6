"""Publishing a checkpoint for a test: one function, untrained or a few steps trained."""

from __future__ import annotations

from functools import cache
from typing import Any

import torch

from digitgan.checkpoints import CheckpointStore
from digitgan.ids import checkpoint_id as job_checkpoint_id
from models.checkpoint import to_bytes
from models.networks import build_generator, default_sizes
from models.train import Checkpoint, TrainConfig, train


@cache
def untrained_blob(architecture: str, checkpoint_id: str) -> bytes:
    """A real checkpoint of an untrained generator, its weights seeded by its id."""
    torch.manual_seed(sum(checkpoint_id.encode()))
    generator = build_generator(architecture)
    meta = {
        "id": checkpoint_id,
        "architecture": architecture,
        "sizes": default_sizes(architecture),
        "step": 1,
        "dataset": "mnist-5k",
    }
    return to_bytes(meta, generator.state_dict())


@cache
def solid_blob(checkpoint_id: str) -> bytes:
    """A cmlp checkpoint whose every pixel is full ink: what colours apply to is known."""
    torch.manual_seed(0)
    generator = build_generator("cmlp")
    last = [m for m in generator.modules() if isinstance(m, torch.nn.Linear)][-1]
    torch.nn.init.zeros_(last.weight)
    torch.nn.init.constant_(last.bias, 10.0)  # tanh(10) rounds to full ink
    meta = {"id": checkpoint_id, "architecture": "cmlp", "sizes": default_sizes("cmlp")}
    return to_bytes(meta | {"step": 1, "dataset": "mnist-5k"}, generator.state_dict())


def publish(store: CheckpointStore, architecture: str = "cmlp", checkpoint_id: str = "a") -> str:
    """Publish an untrained checkpoint as `latest`; its id."""
    meta, _ = store.publish(untrained_blob(architecture, checkpoint_id), latest=True)
    return str(meta["id"])


def publish_trained(
    store: CheckpointStore,
    job_id: str = "tiny",
    steps: int = 2,
    architecture: str = "mlp",
    **meta: Any,
) -> list[str]:
    """Train `steps` steps here, publishing a checkpoint (with its training state, so jobs
    can resume from it, and `meta` added to its metadata) after each; their ids, oldest
    first. The last is `latest`."""
    ids = []

    def on_checkpoint(c: Checkpoint) -> None:
        c.meta |= meta | {"id": job_checkpoint_id(job_id, c.meta["step"])}
        store.publish(to_bytes(c.meta, c.generator_state), c.training_state, latest=c.final)
        ids.append(c.meta["id"])

    train(
        TrainConfig(architecture=architecture, steps=steps, checkpoint_every=1, batch_size=4),
        job_id=job_id,
        on_checkpoint=on_checkpoint,
    )
    return ids
