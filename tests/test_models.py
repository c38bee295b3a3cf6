"""Networks, data, checkpoints and training: fast unit tests on the CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from app.png import encode_png, tile
from models import checkpoint
from models.catalog import ARCHITECTURES
from models.data import DatasetError, load_dataset, load_mnist_5k, mnist_5k_split, split
from models.networks import BUILDERS, build
from models.sampling import generate
from models.train import TrainConfig, train

TINY = TrainConfig(steps=12, checkpoint_every=6, progress_every=4, seed=7)


def test_mlp_is_the_seed_architecture():
    generator, discriminator = build("mlp")
    g_linear = [m for m in generator.modules() if isinstance(m, torch.nn.Linear)]
    d_linear = [m for m in discriminator.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in g_linear] == [
        (100, 256),
        (256, 512),
        (512, 1024),
        (1024, 784),
    ]
    assert [(m.in_features, m.out_features) for m in d_linear] == [(784, 512), (512, 256), (256, 1)]
    slopes = {m.negative_slope for m in generator.modules() if isinstance(m, torch.nn.LeakyReLU)}
    assert slopes == {0.2}
    assert isinstance(list(generator.modules())[-1], torch.nn.Tanh)

    images = generator(torch.randn(5, 100))
    assert images.shape == (5, 28, 28)
    assert images.min() >= -1 and images.max() <= 1
    assert discriminator(images).shape == (5,)


def test_the_catalog_names_every_architecture_there_is():
    assert tuple(BUILDERS) == ARCHITECTURES  # models/catalog.py, read without PyTorch


def test_unknown_architecture_names_the_allowed_ones():
    with pytest.raises(ValueError, match="allowed: mlp"):
        build("transformer")


def test_mnist_5k_trains_on_real_digits_scaled_to_tanh_range_without_the_held_out_ones():
    digits = load_dataset("mnist-5k")
    assert digits.images.shape == (4000, 28, 28) and digits.images.dtype == np.uint8
    assert np.bincount(digits.labels).tolist() == [400] * 10
    x, y = digits.as_tensors()
    assert x.min() == -1 and x.max() == 1 and y.shape == (4000,)
    _, held = mnist_5k_split()
    training = {image.tobytes() for image in digits.images}
    assert not any(image.tobytes() in training for image in held.images)


def test_split_is_stratified_and_reproducible():
    train_part, held = split(load_mnist_5k(), holdout=0.2, seed=1)
    assert len(held) == 1000 and np.bincount(held.labels).tolist() == [100] * 10
    assert np.array_equal(split(load_mnist_5k(), 0.2, seed=1)[1].images, held.images)
    assert len(train_part) == 4000


def test_unknown_dataset_is_a_clear_error():
    with pytest.raises(DatasetError, match="allowed"):
        load_dataset("cifar")


def test_seeded_training_is_reproducible_and_checkpoints_round_trip():
    seen = []
    first = train(TINY, on_checkpoint=seen.append)
    second = train(TINY)
    assert [c.meta["step"] for c in seen] == [6, 12] and seen[-1].final
    for name, tensor in first.generator_state.items():
        assert torch.equal(tensor, second.generator_state[name])

    blob = checkpoint.to_bytes(first.meta | {"id": "a"}, first.generator_state)
    meta, generator = checkpoint.load_generator(blob)
    assert meta["architecture"] == "mlp" and meta["step"] == 12
    assert meta["hyperparameters"]["batch_size"] == 32
    assert np.array_equal(generate(generator, 4, seed=1), generate(generator, 4, seed=1))


def test_resume_continues_exactly_where_the_checkpoint_left_off():
    seen = []
    uninterrupted = train(TINY, on_checkpoint=seen.append)
    resumed = train(TINY, resume=seen[0].training_state)
    assert resumed.meta["step"] == 12
    for name, tensor in uninterrupted.generator_state.items():
        assert torch.equal(tensor, resumed.generator_state[name])


def test_should_stop_ends_training_early_with_a_checkpoint():
    final = train(TINY, should_stop=lambda: True)
    assert final.meta["step"] == 0 and final.final


@pytest.mark.parametrize("damage", [lambda b: b[: len(b) // 2], lambda b: b"x" * 64, lambda b: b""])
def test_corrupt_checkpoints_are_refused(damage):
    final = train(TrainConfig(steps=1, checkpoint_every=1))
    blob = checkpoint.to_bytes(final.meta | {"id": "a"}, final.generator_state)
    with pytest.raises(checkpoint.CheckpointError):
        checkpoint.load_generator(damage(blob))


def test_checkpoint_of_another_shape_is_refused():
    final = train(TrainConfig(steps=1, checkpoint_every=1))
    meta = final.meta | {"id": "a", "sizes": final.meta["sizes"] | {"g_hidden": [8, 8, 8]}}
    with pytest.raises(checkpoint.CheckpointError, match="architecture"):
        checkpoint.load_generator(checkpoint.to_bytes(meta, final.generator_state))


def test_write_file_is_atomic_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "ckpt.safetensors"
    checkpoint.write_file(target, b"old")
    checkpoint.write_file(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.safetensors"]


def test_grid_png_has_the_asked_layout():
    import io

    from PIL import Image

    ink = np.full((10, 28, 28), 255, dtype=np.uint8)
    image = Image.open(io.BytesIO(encode_png(tile(ink, cols=5))))
    assert image.size == (5 * 30 + 2, 2 * 30 + 2)
    assert image.getpixel((0, 0)) == 255 and image.getpixel((5, 5)) == 0


def test_cmlp_conditions_both_networks_on_the_label():
    generator, discriminator = build("cmlp")
    labels = torch.tensor([0, 3, 9])
    images = generator(torch.randn(3, 100), labels)
    assert images.shape == (3, 28, 28) and generator.conditional
    assert discriminator(images, labels).shape == (3,)
    with pytest.raises(ValueError, match="labels"):
        generator(torch.randn(3, 100))
