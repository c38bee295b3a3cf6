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

from models.data import IMAGE_SIZE, NUM_CLASSES

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


class ConditionalMLPGenerator(MLPGenerator):
    """The seed generator with a learned label embedding joined to the noise."""

    conditional = True

    def __init__(self, latent_dim: int, hidden: tuple[int, ...], label_dim: int):
        super().__init__(latent_dim + label_dim, hidden)
        self.latent_dim = latent_dim
        self.embed = nn.Embedding(NUM_CLASSES, label_dim)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if labels is None:
            raise ValueError("a conditional generator needs the digit labels")
        return super().forward(torch.cat([z, self.embed(labels)], dim=1))


class ConditionalMLPDiscriminator(nn.Module):
    """The seed discriminator with a learned label embedding joined to the image."""

    def __init__(self, hidden: tuple[int, ...], label_dim: int):
        super().__init__()
        self.embed = nn.Embedding(NUM_CLASSES, label_dim)
        self.net = _mlp([PIXELS + label_dim, *hidden, 1], None)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if labels is None:
            raise ValueError("a conditional discriminator needs the digit labels")
        return self.net(torch.cat([x.reshape(-1, PIXELS), self.embed(labels)], dim=1)).squeeze(1)


def _build_mlp(
    latent_dim: int = 100,
    g_hidden: tuple[int, ...] = (256, 512, 1024),
    d_hidden: tuple[int, ...] = (512, 256),
) -> tuple[nn.Module, nn.Module]:
    return MLPGenerator(latent_dim, tuple(g_hidden)), MLPDiscriminator(tuple(d_hidden))


def _build_cmlp(
    latent_dim: int = 100,
    g_hidden: tuple[int, ...] = (256, 512, 1024),
    d_hidden: tuple[int, ...] = (512, 256),
    label_dim: int = 10,
) -> tuple[nn.Module, nn.Module]:
    return (
        ConditionalMLPGenerator(latent_dim, tuple(g_hidden), label_dim),
        ConditionalMLPDiscriminator(tuple(d_hidden), label_dim),
    )


_MLP_SIZES = {"latent_dim": 100, "g_hidden": [256, 512, 1024], "d_hidden": [512, 256]}

# name -> (builder, default sizes). The sizes are recorded in every checkpoint so that
# a sampler can rebuild the generator from the checkpoint alone.
ARCHITECTURES: dict[str, tuple[Callable[..., tuple[nn.Module, nn.Module]], dict[str, Any]]] = {
    "mlp": (_build_mlp, _MLP_SIZES),
    "cmlp": (_build_cmlp, {**_MLP_SIZES, "label_dim": 10}),
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
