"""The GAN training loop: alternate a discriminator step and a generator step.

It fixes the seed program's two bugs: data is scaled to [-1, 1], the range of the
generator's tanh, and the discriminator really trains (it has its own optimizer and
is only frozen, via requires_grad, while the generator steps).

Stabilisers, each an option of TrainConfig: one-sided label smoothing (real targets
1 - label_smoothing, fake targets 0) and an exponential moving average of the
generator's weights, which is what checkpoints publish for sampling.
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

from models.checkpoint import pack_state, unpack_state
from models.data import NUM_CLASSES, load_dataset
from models.networks import build, default_sizes


@dataclass(frozen=True)
class TrainConfig:
    architecture: str = "mlp"
    sizes: dict[str, Any] | None = None
    steps: int = 3000
    batch_size: int = 32
    learning_rate: float = 2e-4
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
    resume: bytes | None = None,
    data_dir: Path | None = None,
) -> Checkpoint:
    """Train a GAN and return its last checkpoint (also passed to `on_checkpoint`).

    Stops early, still checkpointing, when `should_stop` returns True between steps.
    `resume` is a Checkpoint's training_state: training goes on from its step.
    `data_dir` is where downloaded data sets live (see models.data.load_dataset).
    """
    device = torch.device(device)
    torch.manual_seed(config.seed)
    sizes = {**default_sizes(config.architecture), **(config.sizes or {})}
    generator, discriminator = (m.to(device) for m in build(config.architecture, sizes))
    ema = copy.deepcopy(generator).requires_grad_(False) if config.ema_decay > 0 else None
    betas = (config.beta1, config.beta2)
    opt_g = _adam(generator, config.learning_rate, betas)
    opt_d = _adam(discriminator, config.learning_rate, betas)

    real_images, real_labels = load_dataset(config.dataset, data_dir).as_tensors(device)
    rng = torch.Generator(device).manual_seed(config.seed)
    batch = config.batch_size
    ones = torch.ones(batch, device=device)
    # The discriminator sees [real, fake] in one pass; real targets are smoothed.
    d_targets = torch.cat([ones * (1 - config.label_smoothing), torch.zeros_like(ones)])

    step = 0
    if resume is not None:
        step = _restore(unpack_state(resume), generator, discriminator, ema, opt_g, opt_d, rng)

    def checkpoint(step: int, final: bool) -> Checkpoint:
        meta = {
            "id": f"{job_id or 'local'}-{step:07d}",
            "architecture": config.architecture,
            "sizes": sizes,
            "hyperparameters": asdict(config) | {"sizes": sizes},
            "dataset": config.dataset,
            "step": step,
            "job_id": job_id,
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
        idx = torch.randint(0, len(real_labels), (batch,), device=device, generator=rng)
        labels = real_labels[idx]
        z = torch.randn(batch, generator.latent_dim, device=device, generator=rng)
        # One batch of fakes serves both steps (as in pytorch/examples' DCGAN): the
        # generator does not change between them, so a second forward pass would only
        # draw other noise at the cost of a whole generator pass.
        fake = generator(z, labels)

        # Discriminator: real -> 1 (smoothed), fake -> 0, averaged as the seed program does.
        d_logits = discriminator(torch.cat([real_images[idx], fake.detach()]), labels.repeat(2))
        d_loss = F.binary_cross_entropy_with_logits(d_logits, d_targets)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()

        # Generator: make the (frozen, just updated) discriminator call the fakes real.
        discriminator.requires_grad_(False)
        g_loss = F.binary_cross_entropy_with_logits(discriminator(fake, labels), ones)
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
        if step % config.checkpoint_every == 0 and step < config.steps:
            checkpoint(step, final=False)
    return checkpoint(step, final=True)


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
        model(torch.randn(NORM_BATCH, model.latent_dim, device=device, generator=rng), labels)
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
