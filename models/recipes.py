"""The measured training defaults of each architecture: what a job uses for every field
its request leaves out. docs/benchmarks.md ("Convergence") has the study that chose them
and the command that reran it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from models.catalog import ARCHITECTURES

DEFAULT_ARCHITECTURE = "dcgan"


@dataclass(frozen=True)
class Recipe:
    steps: int
    batch_size: int
    learning_rate: float  # the generator's
    d_learning_rate: float  # the discriminator's
    beta1: float = 0.5
    beta2: float = 0.999
    ema_decay: float = 0.999
    label_smoothing: float = 0.1
    loss: str = "bce"
    augment: str = ""
    spectral_norm: bool = False
    r1_gamma: float = 0.0
    lr_decay_from: float = 1.0


# The seed program's settings for the MLPs; dcgan's from the convergence study.
RECIPES: dict[str, Recipe] = {
    "mlp": Recipe(steps=3000, batch_size=32, learning_rate=2e-4, d_learning_rate=2e-4),
    "cmlp": Recipe(steps=3000, batch_size=32, learning_rate=2e-4, d_learning_rate=2e-4),
    "dcgan": Recipe(
        steps=5400,
        batch_size=32,
        learning_rate=4e-4,
        d_learning_rate=4e-4,
        r1_gamma=0.05,
        lr_decay_from=0.3,
    ),
}


def recipe(architecture: str) -> Recipe:
    try:
        return RECIPES[architecture]
    except KeyError:
        raise ValueError(
            f"unknown architecture {architecture!r}; allowed: {', '.join(ARCHITECTURES)}"
        ) from None


def recipe_fields(architecture: str) -> dict[str, Any]:
    """The recipe as TrainConfig's fields of the same names."""
    return asdict(recipe(architecture))
