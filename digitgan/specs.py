"""A training request (`JobRequest`, what a caller sends) and the job's spec (`JobSpec`,
every field settled, what the record keeps and the worker trains by).

Fields a request leaves out come from the architecture's measured recipe
(models/recipes.py), so `{"architecture": "mlp"}` trains mlp with mlp's settings.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from digitgan.ids import REF, UPLOAD_PREFIX, uploaded_dataset
from models.catalog import (
    ARCHITECTURES,
    AUGMENTATIONS,
    DATASETS,
    DIGIT_DATASETS,
    LOSSES,
    augmentations,
    check_dataset_name,
)
from models.recipes import DEFAULT_ARCHITECTURE, recipe

if TYPE_CHECKING:
    from models.train import TrainConfig

MAX_STEPS = 200_000
MAX_SEED = 2**63 - 1
# A job makes at most this many checkpoints, whatever its length: checkpoint_every has a
# floor of steps / this.
MAX_CHECKPOINTS_PER_JOB = 50
DEFAULT_CHECKPOINT_EVERY = 1000
# Data sets whose jobs move `latest` by default: the digits the service is for.
PUBLISHED_DATASETS = DIGIT_DATASETS
RECIPE = "Default: the architecture's recipe (README, Training)."
# How many progress reports a job makes at most, whatever its length.
PROGRESS_REPORTS = 500


def checkpoint_floor(steps: int) -> int:
    """The least checkpoint_every a job of `steps` steps may ask for."""
    return max(1, math.ceil(steps / MAX_CHECKPOINTS_PER_JOB))


class JobRequest(BaseModel):
    """A training request. Every field is optional and bounded."""

    model_config = ConfigDict(extra="forbid")

    architecture: str | None = Field(
        None,
        description=f"One of: {', '.join(ARCHITECTURES)}. Default: {DEFAULT_ARCHITECTURE}, "
        "or the checkpoint's own with resume_from or init_from.",
    )
    steps: int | None = Field(None, ge=1, le=MAX_STEPS, description=f"Iterations. {RECIPE}")
    batch_size: int | None = Field(None, ge=1, le=1024, description=RECIPE)
    learning_rate: float | None = Field(
        None, gt=0, le=0.1, description=f"The generator's Adam step size. {RECIPE}"
    )
    d_learning_rate: float | None = Field(
        None, gt=0, le=0.1, description=f"The discriminator's. {RECIPE}"
    )
    seed: int | None = Field(
        None, ge=0, le=MAX_SEED, description="Random seed; chosen and recorded when left out."
    )
    dataset: str = Field(
        "mnist-5k",
        max_length=1024,
        description=f"One of: {', '.join(DATASETS)} (a folder of MNIST-format IDX files "
        f"under the worker's data set roots), or {UPLOAD_PREFIX}<id> (POST /v1/datasets).",
    )
    checkpoint_every: int | None = Field(
        None,
        ge=1,
        le=MAX_STEPS,
        description=f"Steps between checkpoints; at least steps/{MAX_CHECKPOINTS_PER_JOB}. "
        f"Default: {DEFAULT_CHECKPOINT_EVERY} (or that floor, or steps).",
    )
    resume_from: str | None = Field(
        None,
        pattern=REF,
        description="A checkpoint id: go on training from its full training state "
        "(both networks and both optimizers) up to `steps` in all.",
    )
    init_from: str | None = Field(
        None,
        pattern=REF,
        description="A checkpoint id or alias: start a new job from its generator (and its "
        "discriminator where kept), with fresh optimizers and steps of its own.",
    )
    publish: bool | None = Field(
        None,
        description="Move `latest` to the final checkpoint when the job succeeds. Default: "
        f"true for {' and '.join(PUBLISHED_DATASETS)} jobs that start from scratch.",
    )
    ema_decay: float | None = Field(
        None,
        ge=0,
        le=0.9999,
        description=f"Decay of the generator's weight average that checkpoints hold; "
        f"0: off. {RECIPE}",
    )
    label_smoothing: float | None = Field(
        None,
        ge=0,
        le=0.5,
        description=f"Real images are labelled 1 - this (bce loss). {RECIPE}",
    )
    loss: str | None = Field(None, description=f"One of: {', '.join(LOSSES)}. {RECIPE}")
    r1_gamma: float | None = Field(
        None,
        ge=0,
        le=100,
        description=f"Weight of the R1 gradient penalty on real digits; 0: off. {RECIPE}",
    )
    lr_decay_from: float | None = Field(
        None,
        ge=0,
        le=1,
        description="From this fraction of the steps on, both learning rates fall "
        f"linearly to 0 at the last step; 1: never. {RECIPE}",
    )
    augment: str | None = Field(
        None,
        max_length=64,
        description=f"DiffAugment policy: comma-separated, of {', '.join(AUGMENTATIONS)}; "
        f"'' for none. {RECIPE}",
    )

    @field_validator("architecture")
    @classmethod
    def _known_architecture(cls, value: str | None) -> str | None:
        if value is not None and value not in ARCHITECTURES:
            raise ValueError(f"unknown architecture; allowed: {', '.join(ARCHITECTURES)}")
        return value

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, value: str) -> str:
        if value.startswith(UPLOAD_PREFIX):
            if uploaded_dataset(value) is None:
                raise ValueError(f"expected {UPLOAD_PREFIX}<16 hex digits> (GET /v1/datasets)")
            return value
        try:
            return check_dataset_name(value)
        except ValueError as exc:
            raise ValueError(f"{exc}, or {UPLOAD_PREFIX}<id>") from None

    @field_validator("loss")
    @classmethod
    def _known_loss(cls, value: str | None) -> str | None:
        if value is not None and value not in LOSSES:
            raise ValueError(f"unknown loss; allowed: {', '.join(LOSSES)}")
        return value

    @field_validator("augment")
    @classmethod
    def _known_augment(cls, value: str | None) -> str | None:
        names = augmentations(value or "")
        unknown = sorted(set(names) - set(AUGMENTATIONS))
        if unknown:
            raise ValueError(f"unknown {unknown}; allowed: {', '.join(AUGMENTATIONS)}")
        return value if value is None else ",".join(names)

    def resolve(self, architecture: str | None = None) -> JobSpec:
        """The spec this request asks for: `architecture` (a checkpoint's, when it starts
        from one) or the request's or the default, and the rest from its recipe.

        ValueError, naming the field, for a checkpoint_every below its floor."""
        architecture = architecture or self.architecture or DEFAULT_ARCHITECTURE
        base = recipe(architecture)
        asked = self.model_dump(exclude_none=True, exclude={"architecture"})
        steps = asked.get("steps", base.steps)
        floor = checkpoint_floor(steps)
        every = asked.pop("checkpoint_every", None)
        if every is not None and every < floor:
            raise ValueError(
                f"at least {floor} for {steps} steps "
                f"(a job makes at most {MAX_CHECKPOINTS_PER_JOB} checkpoints)"
            )
        if every is None:
            every = min(steps, max(floor, DEFAULT_CHECKPOINT_EVERY))
        fresh = self.init_from is None and self.resume_from is None
        publish = self.dataset in PUBLISHED_DATASETS and fresh
        defaults: dict[str, Any] = asdict(base) | {
            "steps": steps,
            "seed": secrets.randbelow(2**31),
            "publish": publish,
        }
        return JobSpec(architecture=architecture, checkpoint_every=every, **(defaults | asked))


def estimated_bytes(spec: JobSpec, keep_checkpoints: int) -> int:
    """What a job of this spec may leave in the store at most: its final checkpoint and
    `keep_checkpoints` more (the generator's weights each), and one training state (the
    generator, its average, the discriminator and both Adam optimizers' two moments)."""
    from models.networks import parameter_counts  # PyTorch: only the API needs this

    generator, discriminator = parameter_counts(spec.architecture)
    weights = 4 * generator  # float32
    state = 4 * (4 * generator + 3 * discriminator)
    return (keep_checkpoints + 1) * weights + state


class JobSpec(BaseModel):
    """What a job trains: every field settled (the request's, or its recipe's)."""

    architecture: str
    steps: int
    batch_size: int
    learning_rate: float
    d_learning_rate: float | None = None  # None (records from before it existed): as learning_rate
    seed: int
    dataset: str = "mnist-5k"
    checkpoint_every: int
    resume_from: str | None = None
    init_from: str | None = None
    publish: bool = True
    ema_decay: float = 0.999
    label_smoothing: float = 0.1
    loss: str = "bce"
    augment: str = ""
    beta1: float = 0.5
    beta2: float = 0.999
    spectral_norm: bool = False
    r1_gamma: float = 0.0
    lr_decay_from: float = 1.0

    def train_config(self) -> TrainConfig:
        """The training loop's configuration for this spec (what the worker and the local
        `digitgan train` run)."""
        from models.train import TrainConfig  # PyTorch: only where training runs

        return TrainConfig(
            architecture=self.architecture,
            steps=self.steps,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            d_learning_rate=self.d_learning_rate,
            beta1=self.beta1,
            beta2=self.beta2,
            seed=self.seed,
            dataset=self.dataset,
            checkpoint_every=self.checkpoint_every,
            progress_every=max(1, min(50, self.steps // PROGRESS_REPORTS)),
            ema_decay=self.ema_decay,
            label_smoothing=self.label_smoothing,
            loss=self.loss,
            augment=self.augment,
            spectral_norm=self.spectral_norm,
            r1_gamma=self.r1_gamma,
            lr_decay_from=self.lr_decay_from,
        )
