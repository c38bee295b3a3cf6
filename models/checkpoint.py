"""Checkpoints: generator weights in safetensors with their JSON metadata in the header.

One checkpoint is one blob (a file or a Redis value), so a reader sees a whole
checkpoint or none, and loading never unpickles anything.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from models.networks import build_generator

META_KEY = "digitgan"
REQUIRED_META = ("id", "architecture", "sizes", "step")


class CheckpointError(ValueError):
    """A checkpoint is corrupt, truncated or does not match its architecture."""


def to_bytes(meta: dict[str, Any], generator_state: dict[str, torch.Tensor]) -> bytes:
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise CheckpointError(f"checkpoint metadata lacks {', '.join(missing)}")
    tensors = {
        k: v.detach().to("cpu", torch.float32).contiguous() for k, v in generator_state.items()
    }
    return save_tensors(tensors, metadata={META_KEY: json.dumps(meta, sort_keys=True)})


def _read(data: bytes) -> tuple[Any, dict[str, torch.Tensor]]:
    """The JSON stored under META_KEY in a safetensors header, and the tensors."""
    try:
        header_len = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + header_len])
        return json.loads(header["__metadata__"][META_KEY]), load_tensors(data)
    except (SafetensorError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"unreadable checkpoint: {exc}") from exc


def from_bytes(data: bytes) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(metadata, generator state dict) of a checkpoint blob; CheckpointError if unreadable."""
    return _read(data)


def load_generator(data: bytes) -> tuple[dict[str, Any], torch.nn.Module]:
    """Rebuild the generator a checkpoint was made from, in eval mode on the CPU."""
    meta, tensors = from_bytes(data)
    try:
        generator = build_generator(meta["architecture"], meta["sizes"])
        generator.load_state_dict(tensors)
    except (ValueError, RuntimeError, KeyError, TypeError) as exc:
        raise CheckpointError(f"checkpoint does not fit its architecture: {exc}") from exc
    return meta, generator.eval().requires_grad_(False)


def write_file(path: str | os.PathLike, data: bytes) -> Path:
    """Write atomically: a reader of `path` sees the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def pack_state(tree: dict[str, Any]) -> bytes:
    """A nested dict of tensors and JSON values (state dicts, optimizer states) as one
    safetensors blob: tensors by their path, everything else in a JSON skeleton."""
    tensors: dict[str, torch.Tensor] = {}

    def strip(node: Any, path: str) -> Any:
        if isinstance(node, torch.Tensor):
            tensors[path] = node.detach().cpu().contiguous()
            return {"__tensor__": path}
        if isinstance(node, dict):
            # Pairs, not a JSON object: optimizer states are keyed by int, and must stay so.
            return {"__dict__": [[k, strip(v, f"{path}/{k}")] for k, v in node.items()]}
        if isinstance(node, list | tuple):
            return [strip(v, f"{path}/{i}") for i, v in enumerate(node)]
        return node

    skeleton = strip(tree, "")
    return save_tensors(tensors, metadata={META_KEY: json.dumps(skeleton)})


def unpack_state(data: bytes) -> dict[str, Any]:
    """The nested dict that pack_state stored; CheckpointError if unreadable."""
    skeleton, tensors = _read(data)

    def fill(node: Any) -> Any:
        if isinstance(node, dict):
            if "__tensor__" in node:
                return tensors[node["__tensor__"]]
            return {k: fill(v) for k, v in node["__dict__"]}
        if isinstance(node, list):
            return [fill(v) for v in node]
        return node

    return fill(skeleton)
