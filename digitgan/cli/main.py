"""The `digitgan` command."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from digitgan.cli import remote
from digitgan.cli.progress import ProgressDisplay, training_progress
from digitgan.ids import checkpoint_id
from digitgan.settings import get_settings

MAX_EVALUATE_SAMPLES = 100_000


def _serve(_: argparse.Namespace) -> int:
    from digitgan.cli.serve import serve

    return serve(get_settings())


def _train(args: argparse.Namespace) -> int:
    """Train locally and write the final checkpoint to a file (no service needed)."""
    import torch
    from pydantic import ValidationError

    from digitgan.specs import JobRequest
    from models.checkpoint import to_bytes, write_file
    from models.data import DatasetError
    from models.evaluation import evaluate_checkpoint
    from models.train import train

    torch.set_num_threads(args.threads or get_settings().worker_torch_threads)
    # The same request, and so the same recipe defaults, as a job of the service.
    fields = (
        *("architecture", "steps", "batch_size", "learning_rate", "d_learning_rate", "seed"),
        *("dataset", "ema_decay", "label_smoothing", "loss", "augment", "lr_decay_from"),
        "r1_gamma",
    )
    asked = {f: getattr(args, f) for f in fields if getattr(args, f) is not None}
    try:
        spec = JobRequest(**asked).resolve()
    except (ValidationError, ValueError) as exc:
        print(f"digitgan train: {exc}", file=sys.stderr)
        return 2
    # Only the final checkpoint is written: no intermediate ones to make.
    config = dataclasses.replace(spec.train_config(), checkpoint_every=spec.steps)
    try:
        with ProgressDisplay() as display:
            final = train(
                config,
                device=args.device,
                on_progress=lambda p: display.progress(training_progress(p, config.batch_size)),
                data_dir=get_settings().data_dir,
            )
    except DatasetError as exc:
        print(f"digitgan train: {exc}", file=sys.stderr)
        return 2
    final.meta["id"] = checkpoint_id("local", final.meta["step"])
    final.meta["evaluation"] = evaluate_checkpoint(final.meta, final.generator_state)
    write_file(args.output, to_bytes(final.meta, final.generator_state))
    print(json.dumps({"checkpoint": str(args.output), "step": final.meta["step"]}))
    print(json.dumps(final.meta["evaluation"], indent=2))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    """Score a checkpoint file's generator against real held-out digits; print JSON."""
    from pathlib import Path

    from models.checkpoint import CheckpointError, load_generator
    from models.evaluation import evaluate

    if not 2 <= args.samples <= MAX_EVALUATE_SAMPLES:
        print(f"digitgan evaluate: --samples must be 2..{MAX_EVALUATE_SAMPLES}", file=sys.stderr)
        return 2
    try:
        meta, generator = load_generator(Path(args.checkpoint).read_bytes())
    except (OSError, CheckpointError) as exc:
        print(f"digitgan evaluate: {exc}", file=sys.stderr)
        return 2
    scores = evaluate(generator, args.samples, args.seed)
    print(json.dumps({"checkpoint": meta["id"], **scores}, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="digitgan", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run Redis (if needed), a worker and the API")
    serve.set_defaults(func=_serve)

    train = commands.add_parser("train", help="train locally into a checkpoint file")
    train.add_argument("output", help="checkpoint file to write (.safetensors)")
    recipe = "default: the architecture's recipe, as for a job"
    train.add_argument("--architecture", help="mlp, cmlp or dcgan (default: dcgan)")
    train.add_argument("--steps", type=int, help=recipe)
    train.add_argument("--batch-size", type=int, help=recipe)
    train.add_argument("--learning-rate", type=float, help=recipe)
    train.add_argument("--d-learning-rate", type=float, help=recipe)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--dataset", default="mnist-5k")
    train.add_argument("--device", default="cpu")
    train.add_argument(
        "--threads", type=int, help="PyTorch threads (default: DIGITGAN_WORKER_TORCH_THREADS)"
    )
    train.add_argument("--ema-decay", type=float, help="0 turns the weight average off")
    train.add_argument("--label-smoothing", type=float)
    train.add_argument("--lr-decay-from", type=float, help="fraction of the steps (1: never)")
    train.add_argument("--r1-gamma", type=float, help="R1 penalty's weight (0: off)")
    train.add_argument("--loss", help="bce or hinge")
    train.add_argument("--augment", help="DiffAugment: translation, cutout (comma-separated)")
    train.set_defaults(func=_train)

    remote.add_commands(commands)
    evaluate = commands.add_parser(
        "evaluate", help="score a checkpoint file with the digit classifier"
    )
    evaluate.add_argument("checkpoint", help="checkpoint file (.safetensors)")
    evaluate.add_argument("--samples", type=int, default=1000, help="how many to generate")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.set_defaults(func=_evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
