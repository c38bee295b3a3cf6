"""A request's fields, else its architecture's recipe: what a job trains with."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from digitgan.specs import JobRequest
from models.recipes import DEFAULT_ARCHITECTURE, recipe


def test_an_empty_request_trains_the_default_recipe():
    spec = JobRequest().resolve()
    assert spec.architecture == DEFAULT_ARCHITECTURE
    for field, value in asdict(recipe(DEFAULT_ARCHITECTURE)).items():
        assert getattr(spec, field) == value, field
    assert spec.publish is True


def test_fields_left_out_come_from_the_asked_architectures_recipe():
    spec = JobRequest(architecture="mlp", learning_rate=1e-3).resolve()
    mlp = recipe("mlp")
    assert (spec.steps, spec.batch_size) == (mlp.steps, mlp.batch_size)
    assert spec.learning_rate == 1e-3
    assert spec.d_learning_rate == mlp.d_learning_rate


def test_every_recipe_field_reaches_the_training_loop():
    spec = JobRequest(lr_decay_from=0.25).resolve()
    config = spec.train_config()
    for field, value in asdict(recipe(DEFAULT_ARCHITECTURE)).items():
        if field != "lr_decay_from":
            assert getattr(config, field) == value, field
    assert config.lr_decay_from == 0.25


def test_a_checkpoint_interval_below_its_floor_is_refused_with_the_floor():
    with pytest.raises(ValueError, match="at least 200 for 10000 steps"):
        JobRequest(steps=10_000, checkpoint_every=100).resolve()


def test_jobs_on_other_data_or_from_a_checkpoint_do_not_publish_by_default():
    assert JobRequest(dataset="upload:0123456789abcdef").resolve().publish is False
    assert JobRequest(init_from="latest").resolve("dcgan").publish is False
    assert JobRequest(init_from="latest", publish=True).resolve("dcgan").publish is True
