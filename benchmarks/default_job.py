"""The default job, end to end: `POST /v1/jobs` with no training fields, through the real
API and a real Celery worker, from queued to succeeded with its final evaluation.

    .venv/bin/python benchmarks/default_job.py [--seeds 1,2,3] [--set field=json ...]

Starts a private Redis, one worker (one job at a time, one PyTorch thread, as `make run`)
and the API; submits one job per seed (`{"seed": s}`: every other field from the recipe,
plus any `--set` overrides), one after another, and reads each job's own record: the CPU
time its attempt used (`cpu_seconds`, training and evaluation), its steps, and the
evaluation of its final checkpoint. Prints the median over seeds with the range beside it
and checks the targets (README, Training): at most 180 CPU-seconds, Frechet ratio <= 4,
asked-digit accuracy >= 97%, IS analogue >= 9.3. Exits 1 when the median misses one.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.report import median_range  # noqa: E402
from digitgan.cli.serve import free_port, start_private_redis  # noqa: E402

# (name, how to read it from a job record, format, target check)
FIGURES = (
    ("CPU s", lambda job: job["cpu_seconds"], "{:.0f}", lambda v: v <= 180),
    ("wall s", lambda job: job["wall_seconds"], "{:.0f}", None),
    ("steps", lambda job: job["spec"]["steps"], "{:.0f}", None),
    (
        "FID ratio",
        lambda job: job["evaluation"]["frechet_distance_ratio"],
        "{:.2f}",
        lambda v: v <= 4,
    ),
    (
        "intra-FID ratio",
        lambda job: job["evaluation"]["intra_class_frechet_distance_ratio"],
        "{:.2f}",
        None,
    ),
    (
        "asked digit",
        lambda job: job["evaluation"]["asked_digit_accuracy"],
        "{:.1%}",
        lambda v: v >= 0.97,
    ),
    ("IS", lambda job: job["evaluation"]["inception_score"], "{:.2f}", lambda v: v >= 9.3),
    ("recall / real's", lambda job: job["evaluation"]["recall_ratio"], "{:.2f}", None),
    ("copies", lambda job: job["evaluation"]["copied_fraction"], "{:.1%}", None),
)
TIMEOUT_S = 1800


def cell(values: list, fmt: str) -> str:
    """The median (range) of `values`, or "-" for a figure the model has none of."""
    return "-" if None in values else median_range(values, fmt)


def run_job(client: httpx.Client, body: dict) -> dict:
    started = time.monotonic()
    job = client.post("/v1/jobs", json=body).raise_for_status().json()
    while job["state"] not in ("succeeded", "failed", "cancelled"):
        if time.monotonic() - started > TIMEOUT_S:
            sys.exit(f"job {job['id']} still {job['state']} after {TIMEOUT_S} s")
        time.sleep(1)
        job = client.get(f"/v1/jobs/{job['id']}").raise_for_status().json()
    if job["state"] != "succeeded":
        sys.exit(f"job {job['id']} {job['state']}: {job.get('error')}")
    job["wall_seconds"] = time.monotonic() - started
    return job


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--set", action="append", default=[], help="field=json, e.g. steps=5000")
    args = parser.parse_args()
    overrides = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    token = secrets.token_urlsafe(24)
    # Stopped with SIGTERM too, the stack below still stops the processes it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with ExitStack() as stack:
        data = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="default-job-")))
        port = free_port()
        env = os.environ | {
            "DIGITGAN_REDIS_URL": start_private_redis(data / "redis", stack),
            "DIGITGAN_API_TOKEN": token,
            "DIGITGAN_PORT": str(port),
            "DIGITGAN_API_WORKERS": "1",
            "DIGITGAN_GPU_JOBS": "1",
            "DIGITGAN_WORKER_TORCH_THREADS": "1",
            "DIGITGAN_LOG_LEVEL": "WARNING",
        }
        for command in (["celery", "-A", "worker.celery_app", "worker"], ["app"]):
            proc = subprocess.Popen(
                [sys.executable, "-m", *command],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=(data / f"{command[0]}.log").open("wb"),
            )
            stack.callback(proc.wait, 60)
            stack.callback(proc.terminate)
        client = stack.enter_context(
            httpx.Client(
                base_url=f"http://127.0.0.1:{port}",
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
        )
        for _ in range(600):
            try:
                if client.get("/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        jobs = []
        for seed in [int(s) for s in args.seeds.split(",")]:
            job = run_job(client, {"seed": seed} | overrides)
            jobs.append(job)
            print(
                f"seed {seed}: "
                + ", ".join(f"{name} {cell([read(job)], fmt)}" for name, read, fmt, _ in FIGURES),
                flush=True,
            )

    spec = {k: v for k, v in jobs[0]["spec"].items() if k not in ("seed",)}
    print(f"\nspec: {json.dumps(spec, sort_keys=True)}")
    print(f"| {len(jobs)} seeds | " + " | ".join(name for name, *_ in FIGURES) + " |")
    print("|---|" + "---|" * len(FIGURES))
    cells, misses = [], []
    for name, read, fmt, target in FIGURES:
        values = [read(job) for job in jobs]
        cells.append(cell(values, fmt))
        if None in values:  # e.g. an unconditional model has no asked-digit accuracy
            continue
        if target is not None and not target(statistics.median(values)):
            misses.append(name)
    print("| median (range) | " + " | ".join(cells) + " |")
    for name in misses:
        print(f"MISSED: {name}")
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
