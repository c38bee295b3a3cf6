"""Generator and discriminator networks, chosen by architecture name.

`mlp` is the seed program's Keras GAN, kept faithful in shape: generator
100 -> 256 -> 512 -> 1024 -> 784 with LeakyReLU(0.2) and tanh out, discriminator
784 -> 512 -> 256 -> 1 with LeakyReLU(0.2). The discriminator returns a logit; the
seed's final sigmoid lives in the loss (BCE with logits), which is the same model
computed without saturating in float32.

`cmlp` is the same MLP conditioned on the digit label; `dcgan` is a small conditional
convolutional pair for 28x28 (see DCGenerator and ProjectionDiscriminator).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import torch
from torch import nn

from models.catalog import ARCHITECTURES
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


class DCGenerator(nn.Module):
    """Noise and label embedding -> 7x7 feature map -> two strided transposed convolutions
    (14x14, 28x28) -> tanh. Batch norm and ReLU between, as in DCGAN."""

    conditional = True

    def __init__(self, latent_dim: int, channels: int, label_dim: int):
        super().__init__()
        self.latent_dim = latent_dim
        wide = 2 * channels
        self.embed = nn.Embedding(NUM_CLASSES, label_dim)
        self.project = nn.Sequential(
            nn.Linear(latent_dim + label_dim, wide * 7 * 7, bias=False),
            nn.Unflatten(1, (wide, 7, 7)),
            nn.BatchNorm2d(wide),
            nn.ReLU(),
        )
        self.upsample = nn.Sequential(
            nn.ConvTranspose2d(wide, channels, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.ConvTranspose2d(channels, 1, 4, stride=2, padding=1),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if labels is None:
            raise ValueError("a conditional generator needs the digit labels")
        h = self.project(torch.cat([z, self.embed(labels)], dim=1))
        return self.upsample(h).view(-1, IMAGE_SIZE, IMAGE_SIZE)


class ProjectionDiscriminator(nn.Module):
    """Two strided convolutions (14x14, 7x7) with LeakyReLU, then a projection head
    (Miyato & Koyama 2018): logit = w.h + embed(label).h. No batch norm, so real and
    fake images can share one forward pass without mixing their statistics."""

    def __init__(self, channels: int):
        super().__init__()
        wide = 2 * channels
        features = wide * 7 * 7
        self.features = nn.Sequential(
            nn.Conv2d(1, channels, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(channels, wide, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
        )
        self.linear = nn.Linear(features, 1)
        self.embed = nn.Embedding(NUM_CLASSES, features)
        nn.init.normal_(self.embed.weight, std=0.01)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if labels is None:
            raise ValueError("a conditional discriminator needs the digit labels")
        h = self.features(x.view(-1, 1, IMAGE_SIZE, IMAGE_SIZE))
        return self.linear(h).squeeze(1) + (self.embed(labels) * h).sum(dim=1)


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


def _build_dcgan(
    latent_dim: int = 100, g_channels: int = 32, d_channels: int = 32, label_dim: int = 10
) -> tuple[nn.Module, nn.Module]:
    return DCGenerator(latent_dim, g_channels, label_dim), ProjectionDiscriminator(d_channels)


_MLP_SIZES = {"latent_dim": 100, "g_hidden": [256, 512, 1024], "d_hidden": [512, 256]}

# name -> (builder, default sizes). The sizes are recorded in every checkpoint so that
# a sampler can rebuild the generator from the checkpoint alone.
BUILDERS: dict[str, tuple[Callable[..., tuple[nn.Module, nn.Module]], dict[str, Any]]] = {
    "mlp": (_build_mlp, _MLP_SIZES),
    "cmlp": (_build_cmlp, {**_MLP_SIZES, "label_dim": 10}),
    "dcgan": (
        _build_dcgan,
        {"latent_dim": 100, "g_channels": 32, "d_channels": 32, "label_dim": 10},
    ),
}


@lru_cache(maxsize=16)
def parameter_counts(architecture: str) -> tuple[int, int]:
    """(generator, discriminator) parameter counts at the default sizes."""
    generator, discriminator = build(architecture)
    return (
        sum(p.numel() for p in generator.parameters()),
        sum(p.numel() for p in discriminator.parameters()),
    )


def latent_dim(generator: nn.Module) -> int:
    """How many noise values the generator takes per image."""
    value = generator.latent_dim
    if not isinstance(value, int):
        raise TypeError(f"{type(generator).__name__} has no integer latent_dim")
    return value


def is_conditional(generator: nn.Module) -> bool:
    """Whether the generator draws the digit it is given (else: digits of its choice)."""
    return bool(getattr(generator, "conditional", False))


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
        return BUILDERS[architecture]
    except KeyError:
        allowed = ", ".join(ARCHITECTURES)
        raise ValueError(f"unknown architecture {architecture!r}; allowed: {allowed}") from None
