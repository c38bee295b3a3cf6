"""The GAN training loop: alternate a discriminator step and a generator step.

It fixes the seed program's two bugs: data is scaled to [-1, 1], the range of the
generator's tanh, and the discriminator really trains (it has its own optimizer and
is only frozen, via requires_grad, while the generator steps).

Options of TrainConfig, each measured in docs/benchmarks.md ("Convergence"):
- the loss: non-saturating BCE, as the seed (with one-sided label smoothing: real targets
  1 - label_smoothing), or hinge (Lim & Ye 2017; Miyato et al. 2018);
- two time-scale learning rates (Heusel et al. 2017): `d_learning_rate` for the
  discriminator beside `learning_rate` for the generator;
- spectral normalisation of the discriminator's layers (Miyato et al. 2018);
- an R1 gradient penalty on real images (Mescheder et al. 2018), applied lazily;
- differentiable augmentation (Zhao et al. 2020): both real and fake images are shifted
  (and cut out) before the discriminator sees them, so it cannot memorise a small set;
- an exponential moving average of the generator's weights, which checkpoints publish.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from models.catalog import AUGMENTATIONS, LOSSES, augmentations
from models.checkpoint import pack_state, unpack_state
from models.data import NUM_CLASSES, Digits, load_dataset
from models.networks import build, default_sizes, latent_dim


@dataclass(frozen=True)
class TrainConfig:
    architecture: str = "mlp"
    sizes: dict[str, Any] | None = None
    steps: int = 3000
    batch_size: int = 32
    learning_rate: float = 2e-4
    # The discriminator's learning rate; None: the same as the generator's.
    d_learning_rate: float | None = None
    beta1: float = 0.5
    beta2: float = 0.999
    seed: int = 0
    dataset: str = "mnist-5k"
    checkpoint_every: int = 1000
    progress_every: int = 50
    # Weight of the old average per step; 0 turns the average off (checkpoints then
    # hold the raw generator).
    ema_decay: float = 0.999
    # Real images are labelled 1 - label_smoothing for the discriminator (one-sided:
    # fakes stay at 0), which keeps it from growing overconfident.
    label_smoothing: float = 0.1
    loss: str = "bce"  # one of LOSSES
    spectral_norm: bool = False
    # R1 penalty weight gamma (0: off); computed every R1_EVERY steps, scaled to match.
    r1_gamma: float = 0.0
    # DiffAugment policy: comma-separated names of AUGMENTATIONS ("" is none).
    augment: str = ""
    # From this fraction of `steps` on, both learning rates fall linearly to 0 at the end
    # (1.0: never); a long run settles instead of wandering off its best point.
    lr_decay_from: float = 1.0

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; allowed: {', '.join(LOSSES)}")
        unknown = set(augmentations(self.augment)) - set(AUGMENTATIONS)
        if unknown:
            allowed = ", ".join(AUGMENTATIONS)
            raise ValueError(f"unknown augmentation {sorted(unknown)}; allowed: {allowed}")


R1_EVERY = 8
# DiffAugment's defaults for 28x28: shifts of up to 1/8 of the side, a cutout of half of it.
TRANSLATE_PX = 3
CUTOUT_PX = 14


@dataclass(frozen=True)
class Progress:
    step: int
    total_steps: int
    d_loss: float
    g_loss: float
    images_per_second: float


@dataclass
class Checkpoint:
    """What the checkpoint hook receives: metadata and the generator's weights for
    sampling, and the full training state (both networks, both optimizers, the data
    and noise RNG) for resuming."""

    meta: dict[str, Any]
    generator_state: dict[str, torch.Tensor] = field(repr=False)
    training_state: bytes = field(repr=False)  # models.checkpoint.pack_state
    final: bool = False


@dataclass
class Init:
    """Where a new job starts from (fine-tuning): a checkpoint's published generator
    weights, and its discriminator's where they were kept (else it starts fresh)."""

    source: str  # the checkpoint's id, recorded in every checkpoint of the new job
    generator: dict[str, torch.Tensor] = field(repr=False)
    discriminator: dict[str, torch.Tensor] | None = field(default=None, repr=False)


ProgressHook = Callable[[Progress], None]
StopHook = Callable[[], bool]
CheckpointHook = Callable[[Checkpoint], None]


def train(
    config: TrainConfig,
    *,
    device: str | torch.device = "cpu",
    job_id: str | None = None,
    on_progress: ProgressHook | None = None,
    should_stop: StopHook | None = None,
    on_checkpoint: CheckpointHook | None = None,
    checkpoint_now: StopHook | None = None,
    resume: bytes | None = None,
    init: Init | None = None,
    data: Digits | None = None,
    data_dir: Path | None = None,
) -> Checkpoint:
    """Train a GAN and return its last checkpoint (also passed to `on_checkpoint`).

    Stops early, still checkpointing, when `should_stop` returns True between steps.
    Checkpoints every `config.checkpoint_every` steps, and besides whenever
    `checkpoint_now` returns True between steps.
    `resume` is a Checkpoint's training_state: training goes on from its step. `init`
    starts from another run's weights instead, with fresh optimizers and step 0.
    `data` are the digits to train on; else `config.dataset` is loaded, downloading into
    `data_dir` where it needs to (see models.data.load_dataset).
    """
    device = torch.device(device)
    torch.manual_seed(config.seed)
    sizes = {**default_sizes(config.architecture), **(config.sizes or {})}
    generator, discriminator = build(config.architecture, sizes)
    if config.spectral_norm:
        _spectral_norm(discriminator)
    if init is not None:
        generator.load_state_dict(init.generator)
        if init.discriminator is not None:
            discriminator.load_state_dict(init.discriminator)
    generator, discriminator = generator.to(device), discriminator.to(device)
    ema = copy.deepcopy(generator).requires_grad_(False) if config.ema_decay > 0 else None
    betas = (config.beta1, config.beta2)
    opt_g = _adam(generator, config.learning_rate, betas)
    opt_d = _adam(discriminator, config.d_learning_rate or config.learning_rate, betas)

    data = data if data is not None else load_dataset(config.dataset, data_dir)
    real_images, real_labels = data.as_tensors(device)
    rng = torch.Generator(device).manual_seed(config.seed)
    batch = config.batch_size
    losses = _Losses(config, batch, device)
    augment = _Augment(augmentations(config.augment), rng)

    step = 0
    if resume is not None:
        step = _restore(unpack_state(resume), generator, discriminator, ema, opt_g, opt_d, rng)

    def checkpoint(step: int, final: bool) -> Checkpoint:
        # No "id": whoever stores the checkpoint names it (digitgan.ids.checkpoint_id).
        meta = {
            "architecture": config.architecture,
            "sizes": sizes,
            "hyperparameters": asdict(config) | {"sizes": sizes},
            "dataset": config.dataset,
            "step": step,
            "job_id": job_id,
            "init_from": init.source if init else None,
            "created_at": datetime.now(UTC).isoformat(),
        }
        published = _with_measured_norms(ema) if ema is not None else generator
        # Copies, not views: training goes on changing the live tensors after this.
        weights = {k: v.detach().to("cpu", copy=True) for k, v in published.state_dict().items()}
        state = {
            "step": step,
            "rng_device": rng.device.type,
            "rng": rng.get_state(),
            "generator": generator.state_dict(),
            "discriminator": discriminator.state_dict(),
            "opt_g": opt_g.state_dict(),
            "opt_d": opt_d.state_dict(),
        }
        if ema is not None:
            state["ema"] = ema.state_dict()
        ckpt = Checkpoint(meta, weights, pack_state(state), final)
        if on_checkpoint:
            on_checkpoint(ckpt)
        return ckpt

    window_start, window_step = time.perf_counter(), step
    while step < config.steps and not (should_stop and should_stop()):
        _decay_learning_rates(config, step, (opt_g, opt_d))
        idx = torch.randint(0, len(real_labels), (batch,), device=device, generator=rng)
        labels = real_labels[idx]
        z = torch.randn(batch, latent_dim(generator), device=device, generator=rng)
        # One batch of fakes serves both steps (as in pytorch/examples' DCGAN): the
        # generator does not change between them, so a second forward pass would only
        # draw other noise at the cost of a whole generator pass.
        fake = generator(z, labels)

        # Discriminator: real -> 1, fake -> 0, in one pass, averaged as the seed program does.
        real = real_images[idx]
        d_logits = discriminator(augment(torch.cat([real, fake.detach()])), labels.repeat(2))
        d_loss = losses.discriminator(d_logits)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        if config.r1_gamma and step % R1_EVERY == 0:
            _r1_penalty(discriminator, augment(real), labels, config.r1_gamma * R1_EVERY)
        opt_d.step()

        # Generator: make the (frozen, just updated) discriminator call the fakes real.
        discriminator.requires_grad_(False)
        g_loss = losses.generator(discriminator(augment(fake), labels))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        discriminator.requires_grad_(True)
        if ema is not None:
            _update_ema(ema, generator, config.ema_decay, step)

        step += 1
        if on_progress and (step % config.progress_every == 0 or step == config.steps):
            now = time.perf_counter()
            rate = (step - window_step) * batch / max(now - window_start, 1e-9)
            window_start, window_step = now, step
            on_progress(Progress(step, config.steps, d_loss.item(), g_loss.item(), rate))
        periodic = step % config.checkpoint_every == 0 or (checkpoint_now and checkpoint_now())
        if periodic and step < config.steps:
            checkpoint(step, final=False)
    return checkpoint(step, final=True)


def _decay_learning_rates(
    config: TrainConfig, step: int, optimizers: tuple[torch.optim.Adam, torch.optim.Adam]
) -> None:
    """Both learning rates, scaled down linearly to 0 over the last (1 - lr_decay_from) of
    the steps (a function of the step alone, so resuming does the same)."""
    start = config.lr_decay_from * config.steps
    if step < start:
        return
    scale = max(0.0, (config.steps - step) / max(config.steps - start, 1))
    rates = (config.learning_rate, config.d_learning_rate or config.learning_rate)
    for optimizer, rate in zip(optimizers, rates, strict=True):
        for group in optimizer.param_groups:
            group["lr"] = rate * scale


class _Losses:
    """The discriminator's loss on [real, fake] logits, and the generator's on fake ones."""

    def __init__(self, config: TrainConfig, batch: int, device: torch.device):
        self.hinge = config.loss == "hinge"
        self.ones = torch.ones(batch, device=device)
        # Real targets are smoothed (one-sided): 1 - label_smoothing; fakes stay 0.
        real = self.ones * (1 - config.label_smoothing)
        self.targets = torch.cat([real, torch.zeros_like(real)])
        self.sign = torch.cat([self.ones, -self.ones])

    def discriminator(self, logits: torch.Tensor) -> torch.Tensor:
        if self.hinge:  # mean(relu(1 - D(real))) and mean(relu(1 + D(fake))), averaged
            return F.relu(1 - self.sign * logits).mean()
        return F.binary_cross_entropy_with_logits(logits, self.targets)

    def generator(self, logits: torch.Tensor) -> torch.Tensor:
        if self.hinge:
            return -logits.mean()
        return F.binary_cross_entropy_with_logits(logits, self.ones)


class _Augment:
    """DiffAugment: the same kinds of random, differentiable changes for real and fake
    images, drawn from the training RNG (so runs stay reproducible). Blank areas are
    paper (-1), not the mid-grey of the paper's colour images."""

    def __init__(self, names: list[str], rng: torch.Generator):
        self.names, self.rng = names, rng

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.names:
            x = _translate(x, self.rng) if name == "translation" else _cutout(x, self.rng)
        return x


def _translate(x: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    n, side = x.shape[0], x.shape[-1]
    shift = torch.randint(0, 2 * TRANSLATE_PX + 1, (2, n, 1, 1), device=x.device, generator=rng)
    padded = F.pad(x.view(n, side, side), (TRANSLATE_PX,) * 4, value=-1.0)
    span = torch.arange(side, device=x.device)
    rows = span.view(1, side, 1) + shift[0]
    cols = span.view(1, 1, side) + shift[1]
    return padded[torch.arange(n, device=x.device).view(n, 1, 1), rows, cols]


def _cutout(x: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    n, side = x.shape[0], x.shape[-1]
    corner = torch.randint(0, side - CUTOUT_PX + 1, (2, n, 1, 1), device=x.device, generator=rng)
    span = torch.arange(side, device=x.device)
    inside_rows = (span.view(1, side, 1) >= corner[0]) & (
        span.view(1, side, 1) < corner[0] + CUTOUT_PX
    )
    inside_cols = (span.view(1, 1, side) >= corner[1]) & (
        span.view(1, 1, side) < corner[1] + CUTOUT_PX
    )
    return torch.where(inside_rows & inside_cols, -1.0, x.view(n, side, side))


def _r1_penalty(
    discriminator: torch.nn.Module, real: torch.Tensor, labels: torch.Tensor, weight: float
) -> None:
    """Accumulate weight/2 * E||grad_x D(x)||^2 over real images into the gradients."""
    real = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminator(real, labels).sum(), real, create_graph=True)
    (grad.pow(2).flatten(1).sum(1).mean() * (weight / 2)).backward()


def _spectral_norm(discriminator: torch.nn.Module) -> None:
    """Every linear and convolutional layer of the discriminator, spectrally normalised
    (one power iteration per step); label embeddings are left as they are."""
    layers = (torch.nn.Linear, torch.nn.Conv2d)
    for module in [m for m in discriminator.modules() if isinstance(m, layers)]:
        torch.nn.utils.parametrizations.spectral_norm(module)


def _adam(module: torch.nn.Module, lr: float, betas: tuple[float, float]) -> torch.optim.Adam:
    # The fused kernel updates all parameters in one call: fewer tiny ops per step.
    return torch.optim.Adam(module.parameters(), lr=lr, betas=betas, fused=True)


@torch.no_grad()
def _update_ema(ema: torch.nn.Module, live: torch.nn.Module, decay: float, step: int) -> None:
    """ema <- decay * ema + (1 - decay) * live, with decay = min(decay, (1 + step) / (10 + step)):
    early on the average spans about the last tenth of the steps so far (so it does not drag
    the random initial weights along), later at most about 1 / (1 - decay) steps."""
    decay = min(decay, (1 + step) / (10 + step))
    torch._foreach_lerp_(list(ema.parameters()), list(live.parameters()), 1 - decay)
    for mine, theirs in zip(ema.buffers(), live.buffers(), strict=True):
        mine.copy_(theirs)


NORM_BATCHES, NORM_BATCH = 20, 100


@torch.no_grad()
def _with_measured_norms(ema: torch.nn.Module) -> torch.nn.Module:
    """The averaged generator, with batch-norm statistics measured on itself.

    The running statistics it copied from the live generator belong to the live weights,
    not to their average; measured afresh (on fixed noise, so the result is a function of
    the weights alone) they lower dcgan's Frechet distance by a fifth to a third.
    """
    norms = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)
    if not any(isinstance(m, norms) for m in ema.modules()):
        return ema
    model = copy.deepcopy(ema).train()
    for module in model.modules():
        if isinstance(module, norms):
            module.reset_running_stats()
            module.momentum = None  # a plain average over all the batches below
    device = next(model.parameters()).device
    rng = torch.Generator(device).manual_seed(0)
    labels = torch.arange(NORM_BATCH, device=device) % NUM_CLASSES
    for _ in range(NORM_BATCHES):
        z = torch.randn(NORM_BATCH, latent_dim(model), device=device, generator=rng)
        model(z, labels)
    return model.eval()


def _restore(state: dict[str, Any], generator, discriminator, ema, opt_g, opt_d, rng) -> int:
    """Load a training state into fresh networks and optimizers; returns its step."""
    generator.load_state_dict(state["generator"])
    if ema is not None:
        ema.load_state_dict(state["ema"] if "ema" in state else state["generator"])
    discriminator.load_state_dict(state["discriminator"])
    opt_g.load_state_dict(state["opt_g"])
    opt_d.load_state_dict(state["opt_d"])
    if state["rng_device"] == rng.device.type:
        rng.set_state(state["rng"])
    return int(state["step"])
