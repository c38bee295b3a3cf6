"""dcgan, the stabilisers (EMA, label smoothing) and digit selection."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models import checkpoint
from models.data import load_dataset
from models.networks import build
from models.sampling import generate
from models.selection import DigitNotFound, select_digits
from models.train import TrainConfig, train

TINY_DCGAN = TrainConfig(architecture="dcgan", steps=6, checkpoint_every=3, seed=5)


def test_dcgan_is_conditional_and_makes_28x28_digits():
    generator, discriminator = build("dcgan")
    labels = torch.tensor([0, 4, 9])
    images = generator(torch.randn(3, 100), labels)
    assert generator.conditional and images.shape == (3, 28, 28)
    assert images.min() >= -1 and images.max() <= 1
    assert discriminator(images, labels).shape == (3,)
    assert any(isinstance(m, torch.nn.ConvTranspose2d) for m in generator.modules())
    with pytest.raises(ValueError, match="labels"):
        generator(torch.randn(3, 100))


def test_dcgan_checkpoint_rebuilds_from_its_metadata_alone():
    final = train(TINY_DCGAN)
    meta, generator = checkpoint.load_generator(
        checkpoint.to_bytes(final.meta | {"id": "a"}, final.generator_state)
    )
    assert meta["architecture"] == "dcgan" and meta["sizes"]["g_channels"] == 32
    assert meta["hyperparameters"]["ema_decay"] == 0.999
    assert meta["hyperparameters"]["label_smoothing"] == 0.1
    labels = torch.arange(10)
    assert generate(generator, 10, seed=1, labels=labels).shape == (10, 28, 28)


def test_dcgan_resume_is_exact_with_the_weight_average():
    seen = []
    whole = train(TINY_DCGAN, on_checkpoint=seen.append)
    resumed = train(TINY_DCGAN, resume=seen[0].training_state)
    for name, tensor in whole.generator_state.items():
        assert torch.equal(tensor, resumed.generator_state[name]), name


def test_published_weights_are_the_average_and_training_state_keeps_both():
    final = train(TrainConfig(steps=5, checkpoint_every=5, seed=2))
    state = checkpoint.unpack_state(final.training_state)
    for name, tensor in final.generator_state.items():
        assert torch.equal(tensor, state["ema"][name])
    assert any(
        not torch.equal(final.generator_state[k], state["generator"][k])
        for k in final.generator_state
    )

    raw = train(TrainConfig(steps=5, checkpoint_every=5, seed=2, ema_decay=0))
    raw_state = checkpoint.unpack_state(raw.training_state)
    assert "ema" not in raw_state
    for name, tensor in raw.generator_state.items():
        assert torch.equal(tensor, raw_state["generator"][name])


def test_label_smoothing_changes_training():
    plain = train(TrainConfig(steps=3, checkpoint_every=3, label_smoothing=0, ema_decay=0))
    smooth = train(TrainConfig(steps=3, checkpoint_every=3, label_smoothing=0.2, ema_decay=0))
    assert smooth.meta["hyperparameters"]["label_smoothing"] == 0.2
    assert any(
        not torch.equal(plain.generator_state[k], smooth.generator_state[k])
        for k in plain.generator_state
    )


class RealDigits(torch.nn.Module):
    """An unconditional 'generator' that returns real mnist-5k digits chosen by the noise:
    a stand-in for a well-trained mlp that a test cannot afford to train."""

    conditional = False
    latent_dim = 4

    def __init__(self):
        super().__init__()
        x, _ = load_dataset("mnist-5k").as_tensors()
        self.register_buffer("digits", x)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        index = (z[:, 0].abs() * 1e4).long() % len(self.digits)
        return self.digits[index]


def test_unconditional_selection_returns_the_asked_digits_deterministically():
    from models.classifier import classify

    labels = (7, 0, 7, 3)
    images = generate(RealDigits(), 4, seed=11, labels=labels)
    assert images.shape == (4, 28, 28) and images.dtype == np.uint8
    _, probs = classify(images)
    assert probs.argmax(1).tolist() == [7, 0, 7, 3]
    assert np.array_equal(images, generate(RealDigits(), 4, seed=11, labels=labels))
    assert not np.array_equal(images, generate(RealDigits(), 4, seed=12, labels=labels))


class Blank(torch.nn.Module):
    conditional = False
    latent_dim = 4

    def forward(self, z, labels=None):
        return -torch.ones(len(z), 28, 28)


def test_unconditional_selection_gives_up_after_bounded_tries():
    with pytest.raises(DigitNotFound, match="no clear 5"):
        select_digits(Blank(), [5], seed=0, max_tries=3)


def test_dcgan_publishes_averaged_weights_with_their_own_norm_statistics():
    final = train(TINY_DCGAN)
    ema = checkpoint.unpack_state(final.training_state)["ema"]
    for name, tensor in final.generator_state.items():
        if "running" in name:
            assert not torch.equal(tensor, ema[name]), name
        elif "num_batches" not in name:
            assert torch.equal(tensor, ema[name]), name
    assert torch.equal(
        final.generator_state["upsample.1.running_var"],
        train(TINY_DCGAN).generator_state["upsample.1.running_var"],
    )


@pytest.mark.parametrize(
    "option",
    [
        {"loss": "hinge"},
        {"spectral_norm": True},
        {"r1_gamma": 1.0},
        {"augment": "translation,cutout"},
        {"d_learning_rate": 1e-3},
        {"lr_decay_from": 0.0},
    ],
    ids=lambda o: next(iter(o)),
)
def test_each_training_option_changes_training_and_resumes_exactly(option):
    base = TrainConfig(architecture="dcgan", steps=8, checkpoint_every=4, seed=3, ema_decay=0)
    changed = TrainConfig(**{**base.__dict__, **option})
    plain, seen = train(base), []
    whole = train(changed, on_checkpoint=seen.append)
    assert any(
        not torch.equal(plain.generator_state[k], whole.generator_state[k])
        for k in plain.generator_state
    )
    resumed = train(changed, resume=seen[0].training_state)
    for name, tensor in whole.generator_state.items():
        assert torch.equal(tensor, resumed.generator_state[name]), name


def test_learning_rates_fall_to_zero_over_the_last_part_of_the_run():
    from models.train import _decay_learning_rates

    config = TrainConfig(steps=100, learning_rate=0.2, d_learning_rate=0.4, lr_decay_from=0.5)
    g, d = (torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=1.0) for _ in range(2))
    rates = []
    for step in (0, 49, 50, 75, 100):
        _decay_learning_rates(config, step, (g, d))
        rates.append((g.param_groups[0]["lr"], d.param_groups[0]["lr"]))
    assert rates[:2] == [(1.0, 1.0)] * 2  # untouched before the decay starts
    assert rates[2:] == [(0.2, 0.4), (0.1, 0.2), (0.0, 0.0)]


def test_diffaugment_shifts_and_cuts_out_on_paper():
    from models.train import _cutout, _translate

    rng = torch.Generator().manual_seed(0)
    ink = torch.ones(64, 28, 28)  # every pixel full ink
    shifted = _translate(ink, rng)
    assert shifted.shape == ink.shape and set(shifted.unique().tolist()) == {-1.0, 1.0}
    cut = _cutout(ink, rng)
    holes = (cut == -1).flatten(1).sum(1)
    assert (holes > 0).all() and (holes <= 14 * 14).all()  # paper where it was cut
    assert not torch.equal(_translate(ink, rng), shifted)  # drawn afresh every time
