"""How fast the API serves digits, against a trivial endpoint of the same app.

    apt-get install wrk        # the main load generator (Debian's package)
    .venv/bin/python benchmarks/serve_speed.py [--workers 1,2,4,8] [--levels 4,32]
        [--seconds 4] [--rounds 3] [--load wrk,python]

Starts Redis (the configured one if it answers, else a private one) under a key prefix of
its own, then for each process count starts the API as a deployment does (`python -m app`,
DIGITGAN_API_WORKERS processes on one port) serving what a fresh service serves: the
bundled model. It drives it on loopback at each concurrency level:

    ceiling  GET /healthz                          (a trivial JSON endpoint)
    fresh    GET /v1/digits/{d}.png?seed=<new>     (the generator runs every time)
    cached   GET /v1/digits/{d}.png?seed=<0..9>    (the rendered-image cache answers)

with `wrk` (C, a few microseconds of CPU per request: what a real client costs the server
little of) and, for comparison with older figures, a Python asyncio client in a process
of its own (which takes a core's share of CPU from a small machine). The cases take
turns, round after round, so a shared machine's changing load falls on all alike, after
an untimed warm-up of each (`--warmup` seconds). Prints,
per process count, load generator, case and level: the median requests/s over the rounds,
its ratio to the same run's ceiling, p50/p99 latency, and errors; then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import httpx
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digitgan.cli.serve import free_port, redis_answers, start_private_redis  # noqa: E402
from digitgan.settings import DEFAULT_REDIS_URL  # noqa: E402

CASES = {
    "ceiling": lambda i: "/healthz",
    "fresh": lambda i: f"/v1/digits/{i % 10}.png?seed={1_000_000 + i}",
    "cached": lambda i: f"/v1/digits/{i % 10}.png?seed={(i // 10) % 10}",
}
# The same cases for wrk: a Lua request() per case. Fresh seeds start from a random
# point per thread and per run: wrk's Lua random numbers are not seeded by themselves, and
# a run that repeated an earlier run's seeds would measure the cache.
WRK_SCRIPTS = {
    "ceiling": 'request = function() return wrk.format("GET", "/healthz") end',
    "fresh": """
math.randomseed(os.time() + (tonumber(string.sub(tostring({}), 8), 16) or 0) % 1000003)
local n, base = 0, math.random(1, 2000000000)
request = function()
  n = n + 1
  return wrk.format("GET", "/v1/digits/" .. (n % 10) .. ".png?seed=" .. (base + n))
end""",
    "cached": """
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/v1/digits/" .. (n % 10) .. ".png?seed=" .. (math.floor(n / 10) % 10))
end""",
}


# -- wrk ----------------------------------------------------------------------------------
def measure_wrk(port: int, case: str, connections: int, seconds: float, scripts: Path) -> dict:
    threads = min(2, connections)
    result = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
        + ["-s", str(scripts / f"{case}.lua"), f"http://127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        check=True,
    )
    out = result.stdout
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": _wrk_ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1)),
        "p99_ms": _wrk_ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1)),
        "errors": errors,
    }


def _wrk_ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


# -- the Python load generator: its own process, so it does not share the server's GIL ---
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


async def _drive(port: int, case: str, connections: int, seconds: float) -> dict:
    counter = itertools.count(int(time.time() * 1000) % 10**9)
    results: list = []
    started = time.perf_counter()
    await asyncio.gather(
        *(_connection(port, case, counter, started + seconds, results) for _ in range(connections))
    )
    elapsed = time.perf_counter() - started
    latencies = sorted(t for t, _ in results)

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1e3

    return {
        "rps": len(results) / elapsed,
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
        "errors": sum(1 for _, s in results if s != 200),
    }


def _python_process(port: int, case: str, connections: int, seconds: float, queue) -> None:
    queue.put(asyncio.run(_drive(port, case, connections, seconds)))


def measure_python(port: int, case: str, connections: int, seconds: float, _: Path) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    proc = context.Process(target=_python_process, args=(port, case, connections, seconds, queue))
    proc.start()
    result = queue.get(timeout=seconds + 60)
    proc.join()
    return result


LOADS = {"wrk": measure_wrk, "python": measure_python}


# -- the service under test -----------------------------------------------------------------
def start_api(env: dict[str, str], port: int, workers: int, stack: ExitStack) -> None:
    env = env | {
        "DIGITGAN_PORT": str(port),
        "DIGITGAN_API_WORKERS": str(workers),
        "DIGITGAN_PUBLISH_BUNDLED": "true",
        "DIGITGAN_LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen([sys.executable, "-m", "app"], cwd=ROOT, env=env)
    stack.callback(proc.wait, 30)
    stack.callback(proc.terminate)
    deadline = time.monotonic() + 120
    while True:
        try:
            # Every process must answer before timing starts: ask more times than there
            # are processes, on fresh connections.
            if all(_answers(port) for _ in range(4 * workers)):
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            sys.exit("the API did not start")
        time.sleep(0.5)


def _answers(port: int) -> bool:
    url = f"http://127.0.0.1:{port}/v1/digits/0.png?seed=0"
    return httpx.get(url, headers={"Connection": "close"}).status_code == 200


def run(args: argparse.Namespace, redis_url: str, scripts: Path) -> list[dict]:
    rows = []
    for workers in args.workers:
        with ExitStack() as stack:
            prefix = f"bench-{uuid.uuid4().hex[:8]}"
            client = redis.Redis.from_url(redis_url)
            stack.callback(lambda c=client, p=prefix: c.delete(*c.scan_iter(f"{p}*")) or 0)
            env = os.environ | {"DIGITGAN_REDIS_URL": redis_url, "DIGITGAN_REDIS_PREFIX": prefix}
            port = free_port()
            start_api(env, port, workers, stack)
            # Untimed first: a new process is slower for a few seconds.
            for case in CASES:
                measure_wrk(port, case, max(args.levels), args.warmup, scripts)
            for load in args.load:
                for connections in args.levels:
                    runs: dict[str, list[dict]] = {case: [] for case in CASES}
                    for _ in range(args.rounds):
                        for case in CASES:
                            measure = LOADS[load]
                            runs[case].append(
                                measure(port, case, connections, args.seconds, scripts)
                            )
                    ceiling = statistics.median(r["rps"] for r in runs["ceiling"])
                    for case, results in runs.items():
                        rps = statistics.median(r["rps"] for r in results)
                        rows.append(
                            {
                                "workers": workers,
                                "load": load,
                                "case": case,
                                "connections": connections,
                                "rps": round(rps),
                                "ratio": round(rps / ceiling, 2),
                                "p50_ms": round(statistics.median(r["p50_ms"] for r in results), 1),
                                "p99_ms": round(max(r["p99_ms"] for r in results), 1),
                                "errors": sum(r["errors"] for r in results),
                            }
                        )
                        print_row(rows[-1])
    return rows


def print_row(r: dict) -> None:
    print(
        f"{r['workers']:>3} {r['load']:>6} {r['case']:8} {r['connections']:>5} {r['rps']:>8} "
        f"{r['ratio']:>6.2f} {r['p50_ms']:>7.1f} {r['p99_ms']:>7.1f} {r['errors']:>6}",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1", help="API process counts, e.g. 1,2,4,8")
    parser.add_argument("--levels", default="4,32", help="concurrent connections")
    parser.add_argument("--seconds", type=int, default=4, help="per case, level and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=5, help="untimed seconds per case first")
    parser.add_argument("--load", default="wrk,python", help="load generators: wrk, python")
    args = parser.parse_args()
    args.workers = [int(w) for w in args.workers.split(",")]
    args.levels = [int(c) for c in args.levels.split(",")]
    args.load = args.load.split(",")
    if "wrk" in args.load and shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk (or --load python)")

    with ExitStack() as stack, tempfile.TemporaryDirectory() as scripts:
        for case, lua in WRK_SCRIPTS.items():
            Path(scripts, f"{case}.lua").write_text(lua)
        redis_url = os.environ.get("DIGITGAN_REDIS_URL", DEFAULT_REDIS_URL)
        if not redis_answers(redis_url):
            redis_url = start_private_redis(ROOT / "data" / "bench-redis", stack)
        print(
            f"{'API':>3} {'load':>6} {'case':8} {'conns':>5} {'req/s':>8} {'ratio':>6} "
            f"{'p50 ms':>7} {'p99 ms':>7} {'errors':>6}"
        )
        rows = run(args, redis_url, Path(scripts))
        print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
