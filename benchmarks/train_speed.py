"""Training speed and peak memory of each architecture, against the seed Keras program.

    .venv/bin/pip install -e '.[bench]'     # Keras 3, for the baseline only
    .venv/bin/python benchmarks/train_speed.py [--threads 1] [--batch-size 32] [--steps 300]

Every measurement runs in a fresh process (so its peak RSS is its own) with the same
batch size and thread count: first the seed program -- the tutorial's Keras GAN and
loop on Keras 3's torch backend -- then each architecture through models.train.train at
its default settings. Images per second are timed over the last `--steps` steps, after
as many warm-up steps; each is printed with its ratio to the Keras program's.

`--device cuda` times the architectures on a GPU (Keras is skipped there: the target
compares CPU runs), e.g. `--device cuda --batch-size 256`. `--jobs 1,2,4,8` then times
that many training processes at once, as a worker with DIGITGAN_GPU_JOBS runs them, and
prints their images/s in all against one job's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def keras_seed_program(batch: int, steps: int) -> float:
    """The tutorial's Keras GAN and training loop; returns images per second.

    Only the changes it needs to train at all: the discriminator's `trainable` flag is
    toggled around its own steps (under Keras 3, freezing it before compiling the
    combined model freezes it for good), digits come from the bundled mnist-5k instead
    of a download, and predict() is silenced (its progress bar on every step would only
    slow the baseline down).
    """
    import keras
    import numpy as np
    from keras.layers import Dense, Flatten, Input, LeakyReLU, Reshape
    from keras.models import Sequential
    from keras.optimizers import Adam

    from models.data import load_dataset

    x_train = load_dataset("mnist-5k").images.astype(np.float32) / 255.0
    x_train = np.expand_dims(x_train, axis=-1)

    generator = Sequential(
        [
            Input((100,)),
            Dense(256),
            LeakyReLU(0.2),
            Dense(512),
            LeakyReLU(0.2),
            Dense(1024),
            LeakyReLU(0.2),
            Dense(28 * 28 * 1, activation="tanh"),
            Reshape((28, 28, 1)),
        ]
    )
    discriminator = Sequential(
        [
            Input((28, 28, 1)),
            Flatten(),
            Dense(512),
            LeakyReLU(0.2),
            Dense(256),
            LeakyReLU(0.2),
            Dense(1, activation="sigmoid"),
        ]
    )
    discriminator.compile(
        loss="binary_crossentropy", optimizer=Adam(0.0002, 0.5), metrics=["accuracy"]
    )
    discriminator.trainable = False
    gan = Sequential([generator, discriminator])
    gan.compile(loss="binary_crossentropy", optimizer=Adam(0.0002, 0.5))

    def iteration() -> None:
        idx = np.random.randint(0, x_train.shape[0], batch)
        real_images = x_train[idx]
        noise = np.random.normal(0, 1, (batch, 100))
        fake_images = generator.predict(noise, verbose=0)
        discriminator.trainable = True
        discriminator.train_on_batch(real_images, np.ones((batch, 1)))
        discriminator.train_on_batch(fake_images, np.zeros((batch, 1)))
        discriminator.trainable = False
        noise = np.random.normal(0, 1, (batch, 100))
        gan.train_on_batch(noise, np.ones((batch, 1)))

    keras.utils.set_random_seed(0)
    for _ in range(steps):
        iteration()
    start = time.perf_counter()
    for _ in range(steps):
        iteration()
    return steps * batch / (time.perf_counter() - start)


def project_architecture(
    architecture: str, batch: int, steps: int, device: str
) -> tuple[float, float]:
    """models.train.train at default settings: (training images per second over the last
    window, median milliseconds to generate a 256-digit grid from its checkpoint, as the
    API does)."""
    import statistics

    import torch

    from models.checkpoint import load_generator, to_bytes
    from models.sampling import generate
    from models.train import TrainConfig, train

    rates: list[float] = []
    config = TrainConfig(
        architecture=architecture,
        batch_size=batch,
        steps=2 * steps,
        progress_every=steps,
        checkpoint_every=2 * steps,
    )
    final = train(config, device=device, on_progress=lambda p: rates.append(p.images_per_second))
    _, generator = load_generator(to_bytes(final.meta | {"id": "speed"}, final.generator_state))
    labels = torch.arange(256) % 10 if generator.conditional else None
    times = []
    for seed in range(21):
        start = time.perf_counter()
        generate(generator, 256, seed, labels)
        times.append(time.perf_counter() - start)
    return rates[-1], 1000 * statistics.median(times)


def measure_one(args: argparse.Namespace) -> None:
    """Child process: one measurement, printed as one JSON line."""
    import torch

    torch.set_num_threads(args.threads)
    result: dict = {"name": args.one}
    if args.one == "keras":
        result["images_per_second"] = keras_seed_program(args.batch_size, args.steps)
    else:
        rate, sample_ms = project_architecture(args.one, args.batch_size, args.steps, args.device)
        result |= {"images_per_second": rate, "sample_256_ms": sample_ms}
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.device.startswith("cuda"):
        result["peak_cuda_mib"] = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps(result))


def run_children(name: str, args: argparse.Namespace, jobs: int) -> list[dict]:
    """`jobs` measurements of `name` at once, each a process of its own (as a worker with
    DIGITGAN_GPU_JOBS runs jobs): their results."""
    procs = [_start_child(name, args) for _ in range(jobs)]
    return [_result(name, proc) for proc in procs]


def run_child(name: str, args: argparse.Namespace) -> dict:
    return run_children(name, args, 1)[0]


def _start_child(name: str, args: argparse.Namespace) -> subprocess.Popen[str]:
    env = os.environ | {
        "KERAS_BACKEND": "torch",
        "OMP_NUM_THREADS": str(args.threads),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    command = [sys.executable, __file__, "--one", name, "--threads", str(args.threads)]
    command += ["--batch-size", str(args.batch_size), "--steps", str(args.steps)]
    command += ["--device", args.device]
    if args.graph:
        command.append("--graph")
    return subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _result(name: str, proc: subprocess.Popen[str]) -> dict:
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed:\n{err[-3000:]}")
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=300, help="timed steps (after as many)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--architectures", default="mlp,cmlp,dcgan")
    parser.add_argument(
        "--jobs",
        default="1",
        help="concurrent jobs, e.g. 1,2,4,8: each architecture again with that many "
        "training processes at once; their images/s are summed",
    )
    parser.add_argument(
        "--graph",
        action="store_true",
        help="the training step as one CUDA graph (not built yet: docs/benchmarks.md, GPU)",
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.graph:
        raise SystemExit(
            "--graph: the CUDA-graph training step is not built yet (it needs a GPU to be "
            "built and checked on; docs/benchmarks.md, GPU, says what remains)"
        )
    if args.one:
        measure_one(args)
        return

    names = args.architectures.split(",")
    baseline = None
    if args.device == "cpu":
        baseline = run_child("keras", args)
        names = ["keras", *names]
    print(
        f"device {args.device}, batch {args.batch_size}, {args.threads} thread(s), "
        f"{args.steps} timed steps"
    )
    header = f"{'program':<8} {'images/s':>10} {'x keras':>8} {'peak RSS MiB':>13}"
    print(header + f" {'256-digit grid ms':>18}")
    for name in names:
        result = baseline if name == "keras" else run_child(name, args)
        ratio = result["images_per_second"] / baseline["images_per_second"] if baseline else None
        sample = f"{result['sample_256_ms']:.1f}" if "sample_256_ms" in result else "-"
        print(
            f"{name:<8} {result['images_per_second']:>10.0f} "
            f"{'-' if ratio is None else f'{ratio:.2f}':>8} {result['peak_rss_mib']:>13.0f}"
            f" {sample:>18}"
            + (
                f"  (peak CUDA {result['peak_cuda_mib']:.0f} MiB)"
                if "peak_cuda_mib" in result
                else ""
            ),
            flush=True,
        )
    concurrency = [int(n) for n in args.jobs.split(",")]
    if concurrency != [1]:
        print(f"\n{'program':<8} {'jobs':>5} {'images/s in all':>16} {'x one job':>10}")
        for name in args.architectures.split(","):
            alone = None
            for jobs in concurrency:
                total = sum(r["images_per_second"] for r in run_children(name, args, jobs))
                if jobs == 1:
                    alone = total
                ratio = f"{total / alone:.2f}" if alone else "-"
                print(f"{name:<8} {jobs:>5} {total:>16.0f} {ratio:>10}", flush=True)


if __name__ == "__main__":
    main()
