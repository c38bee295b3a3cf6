"""The digit classifier, the quality numbers, `digitgan evaluate` and the worker's scoring."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch

from digitgan.checkpoints import CheckpointStore
from digitgan.cli.main import main
from models import checkpoint
from models.classifier import WEIGHTS, classify
from models.data import load_dataset, mnist_5k_split
from models.evaluation import evaluate, frechet_distance, reference_scores
from models.networks import build
from models.train import TrainConfig, train
from tests.support import AUTH

KEYS = {"samples", "frechet_distance", "inception_score", "class_histogram"}
KEYS |= {"class_entropy_bits", "asked_digit_accuracy", "intra_class_frechet_distance"}
KEYS |= {"precision", "recall", "nearest_training_distance", "copied_fraction"}
RATIOS = {f"{k}_ratio" for k in ("frechet_distance", "intra_class_frechet_distance")}
RATIOS |= {"nearest_training_distance_ratio", "recall_ratio"}


class Replay(torch.nn.Module):
    """A conditional 'generator' that draws real digits of the asked label, picked by the
    noise: a stand-in whose true quality is known. `per_class` limits it to that many
    distinct digits of each label (1: total collapse within each class)."""

    conditional = True
    latent_dim = 4

    def __init__(self, digits, per_class: int | None = None):
        super().__init__()
        x, y = digits.as_tensors()
        order = torch.argsort(y, stable=True)
        self.register_buffer("images", x[order])
        self.counts = torch.bincount(y, minlength=10)
        self.starts = torch.cumsum(self.counts, 0) - self.counts
        self.per_class = per_class

    def forward(self, z, labels):
        available = self.counts[labels]
        if self.per_class is not None:
            available = available.clamp(max=self.per_class)
        pick = (z[:, 0].abs() * 1e6).long() % available
        return self.images[self.starts[labels] + pick]


def test_classifier_is_small_and_accurate_on_digits_it_never_saw():
    assert WEIGHTS.stat().st_size < 400_000
    _, held = mnist_5k_split()
    _, probs = classify(held.images)
    assert (probs.argmax(1) == held.labels).mean() >= 0.97


def test_frechet_distance_matches_the_closed_form_for_diagonal_gaussians():
    mu1, mu2 = np.array([0.0, 1.0]), np.array([1.0, 1.0])
    s1, s2 = np.diag([4.0, 1.0]), np.diag([1.0, 9.0])
    # |mu1 - mu2|^2 + sum (sqrt(a) - sqrt(b))^2 for diagonal covariances
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(1 + 1 + 4)
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0, abs=1e-9)


def test_real_held_out_digits_score_like_real_digits():
    real = reference_scores(500)
    assert set(real) == KEYS and real["samples"] == 500
    assert real["inception_score"] > 9 and real["class_entropy_bits"] > 3.3
    assert real["asked_digit_accuracy"] >= 0.97
    assert sum(real["class_histogram"]) == pytest.approx(1, abs=1e-3)


def test_untrained_generators_score_far_from_real_and_deterministically():
    generator = build("dcgan")[0].eval()
    scores = evaluate(generator, n=100, seed=3)
    assert set(scores) == KEYS | RATIOS | {"reference", "verdict"}
    assert scores["verdict"].startswith("poor: ")
    assert scores["reference"]["samples"] == 100
    assert scores["frechet_distance_ratio"] > 5
    assert scores["asked_digit_accuracy"] is not None
    assert evaluate(generator, n=100, seed=3) == scores

    unconditional = evaluate(build("mlp")[0].eval(), n=50)
    assert unconditional["asked_digit_accuracy"] is None
    assert unconditional["intra_class_frechet_distance"] is None


def test_unseen_real_digits_score_as_real_and_are_not_copies():
    # Digits the GANs never train on, drawn as a generator would: the best possible model.
    # (Drawn with replacement, so some repeat: a little further from real than real is.)
    scores = evaluate(Replay(mnist_5k_split()[1]))
    assert scores["frechet_distance_ratio"] < 2.5
    assert scores["intra_class_frechet_distance_ratio"] < 2.5
    assert scores["recall_ratio"] > 0.9 and scores["precision"] > 0.8
    assert scores["copied_fraction"] < 0.05
    assert scores["verdict"].startswith(("excellent: ", "good: "))


def test_a_generator_that_copies_its_training_digits_is_caught():
    scores = evaluate(Replay(load_dataset("mnist-5k")))
    # Every other figure looks as good as real digits...
    assert scores["frechet_distance_ratio"] < 1.5 and scores["asked_digit_accuracy"] > 0.97
    # ...but each sample is one of the training digits.
    assert scores["copied_fraction"] == 1.0 and scores["nearest_training_distance"] < 0.01
    assert scores["verdict"].startswith("copying: ")
    assert "100% near-copies of training digits" in scores["verdict"]


def test_collapse_within_each_class_shows_in_intra_class_distance_and_recall():
    scores = evaluate(Replay(load_dataset("mnist-5k"), per_class=3))
    assert scores["asked_digit_accuracy"] > 0.95  # every sample is the digit asked for
    assert scores["intra_class_frechet_distance_ratio"] > 5
    assert scores["recall_ratio"] < 0.3
    assert "recall 0.00x" in scores["verdict"]


def test_evaluate_command_prints_the_numbers(tmp_path, capsys):
    final = train(TrainConfig(architecture="cmlp", steps=2, checkpoint_every=2))
    path = tmp_path / "c.safetensors"
    checkpoint.write_file(
        path, checkpoint.to_bytes(final.meta | {"id": "a"}, final.generator_state)
    )
    assert main(["evaluate", str(path), "--samples", "60"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["checkpoint"] == "a" and printed["samples"] == 60
    assert printed["reference"]["samples"] == 60

    (tmp_path / "bad.safetensors").write_bytes(b"junk")
    assert main(["evaluate", str(tmp_path / "bad.safetensors")]) == 2
    assert main(["evaluate", str(path), "--samples", "1"]) == 2
    assert "unreadable" in capsys.readouterr().err


def test_every_finished_job_is_scored_in_its_record_and_checkpoint(
    client, worker, settings, redis_client
):
    spec = {"architecture": "dcgan", "steps": 8, "checkpoint_every": 4, "seed": 1}
    spec |= {"ema_decay": 0.99, "label_smoothing": 0.2}
    job = client.post("/v1/jobs", json=spec, headers=AUTH).json()
    deadline = time.monotonic() + 180
    while (job := client.get(job["url"]).json())["state"] not in {"succeeded", "failed"}:
        assert time.monotonic() < deadline, job
        time.sleep(0.3)
    assert job["state"] == "succeeded", job
    evaluation = job["evaluation"]
    assert set(evaluation) >= KEYS and evaluation["samples"] == 1000
    assert evaluation["reference"]["samples"] == 1000

    store = CheckpointStore(redis_client, settings.redis_prefix)
    assert store.meta(job["checkpoint_id"])["evaluation"] == evaluation
    meta, _ = checkpoint.load_generator(store.blob(job["checkpoint_id"]))
    assert meta["evaluation"] == evaluation
    assert meta["hyperparameters"]["ema_decay"] == 0.99
    assert meta["hyperparameters"]["label_smoothing"] == 0.2
    # Intermediate checkpoints are not scored: the evaluation is bounded to the job's end.
    assert "evaluation" not in store.meta(f"{job['id']}-{4:07d}")


def test_bad_stabiliser_settings_are_refused(client):
    for field, value in (("ema_decay", 1.0), ("label_smoothing", 0.9), ("ema_decay", -0.1)):
        answer = client.post("/v1/jobs", json={field: value}, headers=AUTH)
        assert answer.status_code == 422 and field in answer.json()["detail"]
