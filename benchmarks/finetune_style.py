"""Fine-tuning on a style the model has never seen: the worked example of uploads.

    .venv/bin/python benchmarks/finetune_style.py [--seconds 120] [--seeds 1,2,3]

Makes the style (benchmarks/style_digits.py: the digits typeset in DejaVu fonts with small
random rotations, shears and stroke widths, 50 of each, as PNGs in digit folders, zipped),
reads it the way an upload is read (models.uploads.digits_from_zip), then, for each seed,
fine-tunes the bundled model on it the way a job with `"init_from": <the bundled model>`
does (its generator's weights, a fresh discriminator, fresh optimizers; the dcgan recipe)
for `--seconds` of CPU time on one thread, and scores the result as a job on uploaded
digits is scored. Prints per seed and the median: the share of samples the classifier
reads as the digit asked for (beside its accuracy on the uploaded images themselves) and
the samples' Frechet distance to the style over their distance to MNIST. Saves the
before/after grids and the style's preview to docs/ (--grids).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from app.png import encode_png, tile  # noqa: E402
from digitgan.specs import JobRequest  # noqa: E402
from models import bundled  # noqa: E402
from models.checkpoint import from_bytes, load_generator  # noqa: E402
from models.evaluation import evaluate, evaluate_checkpoint  # noqa: E402
from models.sampling import generate  # noqa: E402
from models.train import Checkpoint, Init, train  # noqa: E402
from models.uploads import digits_from_zip  # noqa: E402

PER_DIGIT = 50


def style_zip(per_digit: int, seed: int) -> bytes:
    spec = importlib.util.spec_from_file_location("style", ROOT / "benchmarks/style_digits.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.style_zip(per_digit, seed)  # type: ignore[no-any-return]


def fine_tune(data, seed: int, seconds: float) -> Checkpoint:
    meta, generator_state = from_bytes(bundled.blob())
    request = JobRequest(dataset="upload:0000000000000000", init_from=meta["id"], seed=seed)
    config = replace(request.resolve("dcgan").train_config(), steps=10**7, checkpoint_every=10**7)
    start = time.process_time()
    return train(
        config,
        init=Init(meta["id"], generator_state),
        data=data,
        should_stop=lambda: time.process_time() - start >= seconds,
    )


def grid(generator: torch.nn.Module) -> bytes:
    """Ten of each digit, a row per digit (the same noise in every grid)."""
    labels = np.repeat(np.arange(10), 10)
    return encode_png(tile(generate(generator, 100, seed=7, labels=labels.tolist()), cols=10))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--grids", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    torch.set_num_threads(1)

    data = digits_from_zip(style_zip(PER_DIGIT, seed=0))
    _, before = load_generator(bundled.blob())
    start = evaluate(before, data=data)
    print(
        f"bundled model before: asked digit {start['asked_digit_accuracy']:.1%}, style/MNIST "
        f"distance {start['data_frechet_ratio']:.2f}; the classifier reads "
        f"{start['data_classifier_accuracy']:.1%} of the style's own digits"
    )
    results = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        tuned = fine_tune(data, seed, args.seconds)
        scores = evaluate_checkpoint(tuned.meta, tuned.generator_state, data=data)
        results.append(scores)
        print(
            f"seed {seed}: {tuned.meta['step']} steps; asked digit "
            f"{scores['asked_digit_accuracy']:.1%}; style/MNIST distance "
            f"{scores['data_frechet_ratio']:.2f}",
            flush=True,
        )
        if args.grids and seed == int(args.seeds.split(",")[0]):
            after = load_generator_from(tuned)
            args.grids.mkdir(exist_ok=True)
            (args.grids / "style-before.png").write_bytes(grid(before))
            (args.grids / "style-after.png").write_bytes(grid(after))
            by_digit = np.argsort(data.labels, kind="stable")
            picked = np.concatenate(
                [by_digit[d * PER_DIGIT : d * PER_DIGIT + 10] for d in range(10)]
            )
            (args.grids / "style-data.png").write_bytes(
                encode_png(tile(data.images[picked], cols=10))
            )
    accuracy = statistics.median(r["asked_digit_accuracy"] for r in results)
    ratio = statistics.median(r["data_frechet_ratio"] for r in results)
    reads = results[0]["data_classifier_accuracy"]
    met = (accuracy >= 0.95 or accuracy >= reads - 0.03) and ratio <= 0.5
    print(
        json.dumps(
            {
                "median_asked_digit_accuracy": accuracy,
                "median_data_frechet_ratio": ratio,
                "classifier_on_the_style": reads,
                "spread_accuracy": [r["asked_digit_accuracy"] for r in results],
                "spread_ratio": [r["data_frechet_ratio"] for r in results],
                "target_met": met,
            }
        )
    )
    return 0


def load_generator_from(c: Checkpoint) -> torch.nn.Module:
    from models.networks import build_generator

    generator = build_generator(c.meta["architecture"], c.meta["sizes"])
    generator.load_state_dict(c.generator_state)
    return generator.eval()


if __name__ == "__main__":
    sys.exit(main())
