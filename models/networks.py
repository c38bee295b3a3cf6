"""Generator and discriminator networks, chosen by architecture name.

`mlp` is the seed program's Keras GAN, kept faithful in shape: generator
100 -> 256 -> 512 -> 1024 -> 784 with LeakyReLU(0.2) and tanh out, discriminator
784 -> 512 -> 256 -> 1 with LeakyReLU(0.2). The discriminator returns a logit; the
seed's final sigmoid lives in the loss (BCE with logits), which is the same model
computed without saturating in float32.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from models.data import IMAGE_SIZE

PIXELS = IMAGE_SIZE * IMAGE_SIZE


def _mlp(sizes: list[int], out_activation: nn.Module | None) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:], strict=False)):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(nn.LeakyReLU(0.2))
    if out_activation is not None:
        layers.append(out_activation)
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    conditional = False

    def __init__(self, latent_dim: int = 100, hidden: tuple[int, ...] = (256, 512, 1024)):
        super().__init__()
        self.latent_dim = latent_dim
        self.net = _mlp([latent_dim, *hidden, PIXELS], nn.Tanh())

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z).view(-1, IMAGE_SIZE, IMAGE_SIZE)


class MLPDiscriminator(nn.Module):
    def __init__(self, hidden: tuple[int, ...] = (512, 256)):
        super().__init__()
        self.net = _mlp([PIXELS, *hidden, 1], None)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x.reshape(-1, PIXELS)).squeeze(1)


def _build_mlp(
    latent_dim: int = 100,
    g_hidden: tuple[int, ...] = (256, 512, 1024),
    d_hidden: tuple[int, ...] = (512, 256),
) -> tuple[nn.Module, nn.Module]:
    return MLPGenerator(latent_dim, tuple(g_hidden)), MLPDiscriminator(tuple(d_hidden))


# name -> (builder, default sizes). The sizes are recorded in every checkpoint so that
# a sampler can rebuild the generator from the checkpoint alone.
ARCHITECTURES: dict[str, tuple[Callable[..., tuple[nn.Module, nn.Module]], dict[str, Any]]] = {
    "mlp": (_build_mlp, {"latent_dim": 100, "g_hidden": [256, 512, 1024], "d_hidden": [512, 256]}),
}


def default_sizes(architecture: str) -> dict[str, Any]:
    return dict(_lookup(architecture)[1])


def build(architecture: str, sizes: dict[str, Any] | None = None) -> tuple[nn.Module, nn.Module]:
    """A fresh (generator, discriminator) pair of the named architecture."""
    builder, defaults = _lookup(architecture)
    return builder(**{**defaults, **(sizes or {})})


def build_generator(architecture: str, sizes: dict[str, Any] | None = None) -> nn.Module:
    return build(architecture, sizes)[0]


def _lookup(architecture: str) -> tuple[Callable[..., tuple[nn.Module, nn.Module]], dict]:
    try:
        return ARCHITECTURES[architecture]
    except KeyError:
        allowed = ", ".join(ARCHITECTURES)
        raise ValueError(f"unknown architecture {architecture!r}; allowed: {allowed}") from None
