"""The `digitgan` command."""

from __future__ import annotations

import argparse
import json
import sys

from digitgan import remote_cli
from digitgan.settings import get_settings


def _serve(_: argparse.Namespace) -> int:
    from digitgan.launcher import serve

    return serve(get_settings())


def _train(args: argparse.Namespace) -> int:
    """Train locally and write the final checkpoint to a file (no service needed)."""
    from models.checkpoint import to_bytes, write_file
    from models.train import TrainConfig, train

    config = TrainConfig(
        architecture=args.architecture,
        steps=args.steps,
        batch_size=args.batch_size,
        seed=args.seed,
        dataset=args.dataset,
        checkpoint_every=args.steps,
    )
    final = train(config, device=args.device, on_progress=lambda p: print(p, flush=True))
    write_file(args.output, to_bytes(final.meta, final.generator_state))
    print(json.dumps({"checkpoint": str(args.output), "step": final.meta["step"]}))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="digitgan", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run Redis (if needed), a worker and the API")
    serve.set_defaults(func=_serve)

    train = commands.add_parser("train", help="train locally into a checkpoint file")
    train.add_argument("output", help="checkpoint file to write (.safetensors)")
    train.add_argument("--architecture", default="mlp")
    train.add_argument("--steps", type=int, default=3000)
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--dataset", default="mnist-5k")
    train.add_argument("--device", default="cpu")
    train.set_defaults(func=_train)

    remote_cli.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
