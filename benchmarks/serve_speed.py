"""How fast the API serves digits, against a trivial endpoint of the same app.

Starts Redis (the configured one if it answers, else a private one), publishes a
conditional checkpoint under a key prefix of its own, starts the API under uvicorn, and
drives it from a separate load process on loopback (keep-alive HTTP/1.1 over raw asyncio
streams: a heavier client would be the bottleneck) at a few concurrency levels:

    ceiling  GET /healthz                          (a trivial JSON endpoint)
    fresh    GET /v1/digits/{d}.png?seed=<new>     (the generator runs every time)
    cached   GET /v1/digits/{d}.png?seed=<0..9>    (the rendered-image cache answers)

    .venv/bin/python benchmarks/serve_speed.py [--seconds 2] [--rounds 3] [--levels 4,32]

The cases take turns, round after round, so that a shared machine's changing load falls
on all of them alike. Prints, per case and level, the median requests/s over the rounds
and its ratio to the ceiling's, p50/p99 latency over all rounds, and errors.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import httpx
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digitgan.checkpoints import CheckpointStore  # noqa: E402
from digitgan.cli.serve import free_port, redis_answers, start_private_redis  # noqa: E402
from digitgan.settings import DEFAULT_REDIS_URL  # noqa: E402
from models.checkpoint import to_bytes  # noqa: E402
from models.networks import build_generator, default_sizes  # noqa: E402

CASES = {
    "ceiling": lambda i: "/healthz",
    "fresh": lambda i: f"/v1/digits/{i % 10}.png?seed={1_000_000 + i}",
    "cached": lambda i: f"/v1/digits/{i % 10}.png?seed={(i // 10) % 10}",
}


# The load generator: its own process, so it does not share the server's GIL.
async def _connection(port: int, case: str, counter, deadline: float, out: list) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    path_for = CASES[case]
    try:
        while time.perf_counter() < deadline:
            path = path_for(next(counter))
            start = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            out.append((time.perf_counter() - start, status))
    finally:
        writer.close()


async def _drive(port: int, case: str, connections: int, seconds: float, warmup: float) -> dict:
    counter = itertools.count()
    warm: list = []
    await asyncio.gather(
        *(
            _connection(port, case, counter, time.perf_counter() + warmup, warm)
            for _ in range(connections)
        )
    )
    results: list = []
    started = time.perf_counter()
    await asyncio.gather(
        *(_connection(port, case, counter, started + seconds, results) for _ in range(connections))
    )
    elapsed = time.perf_counter() - started
    latencies = [t for t, _ in results]
    errors = sum(1 for _, s in results if s != 200)
    return {"rps": len(results) / elapsed, "latencies": latencies, "errors": errors}


def _load_process(port: int, case: str, connections: int, seconds: float, queue) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    queue.put(asyncio.run(_drive(port, case, connections, seconds, warmup=0.5)))


def measure(port: int, case: str, connections: int, seconds: float) -> dict:
    queue = multiprocessing.get_context("spawn").Queue()
    proc = multiprocessing.get_context("spawn").Process(
        target=_load_process, args=(port, case, connections, seconds, queue)
    )
    proc.start()
    result = queue.get(timeout=seconds + 60)
    proc.join()
    return result


def summarize(case: str, connections: int, results: list[dict], ceiling: float) -> dict:
    rps = statistics.median(r["rps"] for r in results)
    latencies = sorted(t for r in results for t in r["latencies"])

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1e3

    return {
        "case": case,
        "connections": connections,
        "rps": rps,
        "ratio": rps / ceiling,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "requests": len(latencies),
        "errors": sum(r["errors"] for r in results),
    }


# The service under test.
def publish_checkpoint(client: redis.Redis, prefix: str) -> str:
    generator = build_generator("cmlp")  # untrained: serving speed does not depend on weights
    meta = {"id": "bench-cmlp", "architecture": "cmlp", "sizes": default_sizes("cmlp"), "step": 0}
    return CheckpointStore(client, prefix).publish(to_bytes(meta, generator.state_dict()))["id"]


def start_api(env: dict[str, str], port: int, stack: ExitStack) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "app.main:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
    )
    stack.callback(proc.wait, 30)
    stack.callback(proc.terminate)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/digits/0.png?seed=0").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            sys.exit("the API did not start")
        time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per case, level and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--levels", default="4,32", help="concurrent connections")
    args = parser.parse_args()
    levels = [int(c) for c in args.levels.split(",")]

    with ExitStack() as stack:
        redis_url = os.environ.get("DIGITGAN_REDIS_URL", DEFAULT_REDIS_URL)
        if not redis_answers(redis_url):
            redis_url = start_private_redis(ROOT / "data" / "bench-redis", stack)
        prefix = f"bench-{uuid.uuid4().hex[:8]}"
        client = redis.Redis.from_url(redis_url)
        stack.callback(lambda: client.delete(*client.scan_iter(f"{prefix}*")))
        publish_checkpoint(client, prefix)

        port = free_port()
        env = os.environ | {"DIGITGAN_REDIS_URL": redis_url, "DIGITGAN_REDIS_PREFIX": prefix}
        start_api(env, port, stack)

        rows = []
        for connections in levels:
            runs = {case: [] for case in CASES}
            for _ in range(args.rounds):
                for case in CASES:
                    runs[case].append(measure(port, case, connections, args.seconds))
            ceiling = statistics.median(r["rps"] for r in runs["ceiling"])
            for case, results in runs.items():
                rows.append(summarize(case, connections, results, ceiling))
        print(
            f"{'case':8} {'conns':>5} {'req/s':>8} {'ratio':>6} {'p50 ms':>7} "
            f"{'p99 ms':>7} {'requests':>8} {'errors':>6}"
        )
        for r in rows:
            print(
                f"{r['case']:8} {r['connections']:>5} {r['rps']:>8.0f} {r['ratio']:>6.2f} "
                f"{r['p50_ms']:>7.1f} {r['p99_ms']:>7.1f} {r['requests']:>8} {r['errors']:>6}"
            )
        print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
