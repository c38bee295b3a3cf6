"""How fast each architecture and each training change reaches good digits, in CPU-seconds.

    .venv/bin/python benchmarks/convergence.py train --study screen [--jobs 2]
    .venv/bin/python benchmarks/convergence.py evaluate
    .venv/bin/python benchmarks/convergence.py table [--study screen]

`train` runs every (variant, seed) of a study that has no snapshots yet, each in a fresh
process on one PyTorch thread. A run snapshots its published generator (the weight
average, as a job would publish it) when its own CPU time, counted from the start of
training (data loading included), passes each of MILESTONES up to the study's budget.
Time spent making snapshots is not counted. `evaluate` scores every snapshot with
models.evaluation on 1000 samples; `table` prints, per variant and milestone, the median
over seeds with the range beside it.

Snapshots and scores go to --out (default test-output/convergence); reruns skip what is
there, so a study can be stopped and resumed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.report import median_range  # noqa: E402

MILESTONES = (30, 60, 120, 300, 600)
# Snapshots at these steps too (`s020000`): the older figures and the mlp target are
# stated in steps.
STEP_SNAPSHOTS = (20000,)
SEEDS = (1, 2, 3)
OUT = ROOT / "test-output" / "convergence"

# Variants: TrainConfig fields over the study's base. Screening runs on dcgan to 120 s.
DCGAN = {"architecture": "dcgan"}
STUDIES: dict[str, tuple[int, dict[str, dict]]] = {
    "screen": (
        120,
        {
            "dcgan": DCGAN,
            "lr-4e-4": DCGAN | {"learning_rate": 4e-4},
            "ttur-d-8e-4": DCGAN | {"d_learning_rate": 8e-4},
            "hinge": DCGAN | {"loss": "hinge"},
            "sn": DCGAN | {"spectral_norm": True},
            "hinge+sn-b0.0": DCGAN
            | {"loss": "hinge", "spectral_norm": True, "beta1": 0.0, "beta2": 0.9},
            "r1-1": DCGAN | {"r1_gamma": 1.0},
            "batch-64": DCGAN | {"batch_size": 64, "learning_rate": 2.8e-4},
            "batch-128": DCGAN | {"batch_size": 128, "learning_rate": 4e-4},
            "diffaug-t": DCGAN | {"augment": "translation"},
            "diffaug-tc": DCGAN | {"augment": "translation,cutout"},
            "ema-0.99": DCGAN | {"ema_decay": 0.99},
            "no-smoothing": DCGAN | {"label_smoothing": 0.0},
            "g64-d32": DCGAN | {"sizes": {"g_channels": 64}},
            "g16-d16": DCGAN | {"sizes": {"g_channels": 16, "d_channels": 16}},
        },
    ),
    # Round two: the winner of round one (a doubled learning rate) with the others.
    "screen2": (
        120,
        {
            "lr-8e-4": DCGAN | {"learning_rate": 8e-4},
            "lr-6e-4": DCGAN | {"learning_rate": 6e-4},
            "lr-g-4e-4-d-2e-4": DCGAN | {"learning_rate": 4e-4, "d_learning_rate": 2e-4},
            "lr-4e-4+d-8e-4": DCGAN | {"learning_rate": 4e-4, "d_learning_rate": 8e-4},
            "lr-4e-4+hinge": DCGAN | {"learning_rate": 4e-4, "loss": "hinge"},
            "lr-4e-4+r1": DCGAN | {"learning_rate": 4e-4, "r1_gamma": 1.0},
            "lr-4e-4+sn": DCGAN | {"learning_rate": 4e-4, "spectral_norm": True},
            "lr-4e-4+ema-0.995": DCGAN | {"learning_rate": 4e-4, "ema_decay": 0.995},
            "lr-4e-4+g16-d16": DCGAN
            | {"learning_rate": 4e-4, "sizes": {"g_channels": 16, "d_channels": 16}},
        },
    ),
    "architectures": (
        600,
        {"mlp": {"architecture": "mlp"}, "cmlp": {"architecture": "cmlp"}, "dcgan": DCGAN},
    ),
    # The seed's mlp (its layer shapes kept) to past 20000 steps, with the changes that
    # helped dcgan.
    "mlp": (
        600,
        {
            "mlp": {"architecture": "mlp"},
            "mlp-lr-4e-4": {"architecture": "mlp", "learning_rate": 4e-4},
            "mlp-hinge+sn": {"architecture": "mlp", "loss": "hinge", "spectral_norm": True},
        },
    ),
}


def cpu_seconds() -> float:
    return time.process_time()


def run_one(variant: dict, seed: int, budget: float, folder: Path) -> None:
    """Train one variant and seed, snapshotting at each milestone up to `budget`."""
    import torch

    from models.checkpoint import to_bytes, write_file
    from models.train import TrainConfig, train

    torch.set_num_threads(1)
    milestones = [m for m in MILESTONES if m <= budget]
    config = TrainConfig(
        **{"steps": 10**8, "checkpoint_every": 10**8, "seed": seed, "progress_every": 10**8}
        | variant
    )
    start, excluded, pending = cpu_seconds(), 0.0, None
    done: list[int] = []
    steps, at_step = 0, False

    def elapsed() -> float:
        return cpu_seconds() - start - excluded

    def checkpoint_now() -> bool:
        nonlocal pending, steps, at_step
        steps += 1  # called once after every step
        at_step = steps in STEP_SNAPSHOTS
        if at_step or (len(done) < len(milestones) and elapsed() >= milestones[len(done)]):
            pending = cpu_seconds()
            return True
        return False

    def on_checkpoint(c) -> None:
        nonlocal pending, excluded, at_step
        if pending is None:
            return
        meta = {"cpu_seconds": round(pending - start - excluded, 2)}
        if at_step:
            name, at_step = f"s{c.meta['step']:06d}", False
        else:
            name = f"t{milestones[len(done)]:04d}"
            meta["milestone"] = milestones[len(done)]
            done.append(milestones[len(done)])
        c.meta |= meta | {"id": f"{folder.parent.name}-{folder.name}-{name}"}
        write_file(folder / f"{name}.safetensors", to_bytes(c.meta, c.generator_state))
        excluded += cpu_seconds() - pending
        pending = None

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(asdict(config), indent=1))
    train(
        config,
        on_checkpoint=on_checkpoint,
        checkpoint_now=checkpoint_now,
        should_stop=lambda: len(done) == len(milestones),
    )


def train_study(study: str, jobs: int, out: Path, only: list[str] | None) -> None:
    budget, variants = STUDIES[study]
    todo = []
    for name, variant in variants.items():
        if only and name not in only:
            continue
        for seed in SEEDS:
            folder = out / name / f"seed{seed}"
            last = max(m for m in MILESTONES if m <= budget)
            if not (folder / f"t{last:04d}.safetensors").exists():
                todo.append((name, variant, seed, folder))
    running: list[tuple[str, subprocess.Popen]] = []
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    while todo or running:
        while todo and len(running) < jobs:
            name, variant, seed, folder = todo.pop(0)
            spec = json.dumps({"variant": variant, "seed": seed, "budget": budget})
            cmd = [sys.executable, __file__, "_run", spec, str(folder)]
            print(f"start {name} seed {seed}", flush=True)
            running.append((f"{name} seed {seed}", subprocess.Popen(cmd, env=env)))
        time.sleep(1)
        for label, proc in list(running):
            if proc.poll() is not None:
                running.remove((label, proc))
                print(f"done {label}: exit {proc.returncode}", flush=True)


def evaluate_all(out: Path) -> None:
    import torch

    from models.checkpoint import load_generator
    from models.evaluation import evaluate

    torch.set_num_threads(1)  # beside training runs, more threads only spin

    for path in sorted([*out.glob("*/seed*/t*.safetensors"), *out.glob("*/seed*/s*.safetensors")]):
        scores = path.with_suffix(".json")
        if scores.exists():
            continue
        meta, generator = load_generator(path.read_bytes())
        result = {"step": meta["step"], "cpu_seconds": meta["cpu_seconds"]}
        result |= evaluate(generator)
        scores.write_text(json.dumps(result))
        print(f"{path.relative_to(out)}: FID ratio {result['frechet_distance_ratio']}", flush=True)


# (column, key in the scores, format)
COLUMNS = (
    ("FID ratio", "frechet_distance_ratio", "{:.2f}"),
    ("intra-FID ratio", "intra_class_frechet_distance_ratio", "{:.2f}"),
    ("asked digit", "asked_digit_accuracy", "{:.1%}"),
    ("IS", "inception_score", "{:.2f}"),
    ("recall / real's", "recall_ratio", "{:.2f}"),
)


def _runs(out: Path, name: str, snapshot: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(out.glob(f"{name}/seed*/{snapshot}.json"))]


def summary(out: Path, variants: list[str], key: str = "frechet_distance_ratio") -> str:
    """One row per variant: `key`'s median (range) at each CPU-time milestone."""
    lines = [
        "| variant | " + " | ".join(f"{m} CPU s" for m in MILESTONES) + " |",
        "|---|" + "---|" * len(MILESTONES),
    ]
    for name in variants:
        cells = []
        for milestone in MILESTONES:
            values = [r[key] for r in _runs(out, name, f"t{milestone:04d}") if r.get(key)]
            cells.append(median_range(values, "{:.2f}") if values else "")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def table(out: Path, variants: list[str]) -> str:
    lines = [
        "| variant | CPU s | steps | " + " | ".join(c[0] for c in COLUMNS) + " |",
        "|---|---|---|" + "---|" * len(COLUMNS),
    ]
    snapshots = [f"t{m:04d}" for m in MILESTONES] + [f"s{s:06d}" for s in STEP_SNAPSHOTS]
    for name in variants:
        for snapshot in snapshots:
            runs = _runs(out, name, snapshot)
            if not runs:
                continue
            cpu = median_range([r["cpu_seconds"] for r in runs], "{:.0f}")
            cells = [cpu, median_range([r["step"] for r in runs], "{:.0f}")]
            for _, key, fmt in COLUMNS:
                values = [r[key] for r in runs if r.get(key) is not None]
                cells.append(median_range(values, fmt) if values else "-")
            lines.append(f"| {name} ({len(runs)} seeds) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    t = commands.add_parser("train")
    t.add_argument("--study", choices=STUDIES, required=True)
    t.add_argument("--jobs", type=int, default=1)
    t.add_argument("--only", nargs="*", help="variant names (default: all of the study)")
    commands.add_parser("evaluate")
    tab = commands.add_parser("table")
    tab.add_argument("--study", choices=STUDIES)
    tab.add_argument("--summary", action="store_true", help="one row per variant, FID ratio")
    run = commands.add_parser("_run")
    run.add_argument("spec")
    run.add_argument("folder")
    for command in commands.choices.values():
        command.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    if args.command == "_run":
        spec = json.loads(args.spec)
        run_one(spec["variant"], spec["seed"], spec["budget"], Path(args.folder))
    elif args.command == "train":
        train_study(args.study, args.jobs, args.out, args.only)
    elif args.command == "evaluate":
        evaluate_all(args.out)
    else:
        names = (
            list(STUDIES[args.study][1])
            if args.study
            else sorted({p.parent.parent.name for p in args.out.glob("*/seed*/*.json")})
        )
        print(summary(args.out, names) if args.summary else table(args.out, names))


if __name__ == "__main__":
    main()
