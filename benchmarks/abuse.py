"""The API under abuse: floods of the heaviest requests it allows, on loopback only.

    .venv/bin/python benchmarks/abuse.py [--seconds 20] [--streams 300]

Starts a private Redis and the API (`python -m app`, one process, the bundled model, a
token of its own), then measures `/healthz` latency and the API's memory twice in one
run: idle, and while it is flooded from a separate process with, at once:

    grids     GET /v1/samples.png?n=256 at the largest allowed size, fresh seeds
    numbers   GET /v1/numbers/<32 digits>.png, fresh seeds
    junk      GET image URLs with junk query strings, some past the URL limit
    bodies    POST /v1/jobs with a 1 MB body, with and without the token
    streams   `--streams` event streams held open at once

Everything is bounded: the flood lasts `--seconds`, each kind keeps a fixed number of
connections. Prints /healthz p50/p99 and the API's peak RSS, idle and flooded, and each
kind's answers by status; fails (exit 1) on any 500, on an error answer without a JSON
`detail`, on /healthz p99 over 100 ms or on RSS over 1 GiB while flooded.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import multiprocessing
import os
import random
import secrets
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digitgan.cli.serve import free_port, start_private_redis  # noqa: E402

P99_LIMIT_MS, RSS_LIMIT = 100.0, 2**30
CONNECTIONS = {"grids": 8, "numbers": 8, "junk": 8, "bodies": 4}


# -- one HTTP/1.1 exchange over raw asyncio streams (a light client) ------------------------
async def exchange(port: int, request: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return int(head[9:12]), await reader.readexactly(length)
    finally:
        writer.close()


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: abuse\r\nConnection: close\r\n\r\n".encode()


def post(path: str, body: bytes, token: str | None) -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    head = f"POST {path} HTTP/1.1\r\nHost: abuse\r\n{auth}Content-Type: application/json\r\n"
    return (
        head.encode() + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body
    )


def attack(kind: str, i: int, token: str) -> bytes:
    seed = random.randrange(2**40)
    if kind == "grids":  # 256 digits, 1024 x 4070 px: about the most pixels allowed
        return get(f"/v1/samples.png?n=256&cols=32&size=1024&seed={seed}&smooth=true")
    if kind == "numbers":
        digits = "".join(random.choice("0123456789") for _ in range(32))
        return get(f"/v1/numbers/{digits}.png?seed={seed}&size=64")
    if kind == "junk":
        junk = secrets.token_urlsafe(random.choice((50, 500, 5000)))
        return get(f"/v1/digits/{i % 12}.png?seed={seed}&x{junk}={junk}&size=zz")
    return post(
        "/v1/jobs", b'{"steps": 10, "pad": "' + b"x" * 2**20 + b'"}', token if i % 2 else None
    )


# -- the flood: its own process, so it does not share the API's GIL ---------------------------
async def flood(port: int, token: str, seconds: float, streams: int) -> dict:
    answers: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    bad: list[str] = []
    deadline = time.monotonic() + seconds

    async def hammer(kind: str, worker: int) -> None:
        i = worker
        while time.monotonic() < deadline:
            i += CONNECTIONS[kind]
            try:
                status, body = await exchange(port, attack(kind, i, token))
            except (OSError, asyncio.IncompleteReadError) as exc:
                answers[kind][f"closed ({type(exc).__name__})"] += 1
                continue
            answers[kind][str(status)] += 1
            if status >= 400 and not _has_detail(body):
                bad.append(f"{kind} {status}: {body[:200]!r}")

    async def hold_stream(job_id: str) -> None:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            answers["streams"]["refused connection"] += 1
            return
        writer.write(get(f"/v1/jobs/{job_id}/events").replace(b"close", b"keep-alive"))
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        answers["streams"][str(status)] += 1
        if status != 200:
            length = int(
                next(x for x in head.split(b"\r\n") if x.lower().startswith(b"content-length"))[15:]
            )
            if not _has_detail(await reader.readexactly(length)):
                bad.append(f"streams {status}")
        while time.monotonic() < deadline and status == 200:
            await asyncio.sleep(0.5)  # held open; the server keeps sending events
        writer.close()

    created = await exchange(port, post("/v1/jobs", b'{"steps": 10}', token))
    job_id = json.loads(created[1])["id"]  # stays queued: no worker runs
    tasks = [hammer(kind, w) for kind, n in CONNECTIONS.items() for w in range(n)]
    tasks += [hold_stream(job_id) for _ in range(streams)]
    await asyncio.gather(*tasks)
    return {"answers": {k: dict(v) for k, v in answers.items()}, "bad": bad[:20]}


def _has_detail(body: bytes) -> bool:
    try:
        return bool(json.loads(body).get("detail"))
    except (ValueError, AttributeError):
        return False


def _flood_process(port: int, token: str, seconds: float, streams: int, queue) -> None:
    queue.put(asyncio.run(flood(port, token, seconds, streams)))


# -- what the API feels: /healthz latency and memory ----------------------------------------------
async def probe(port: int, seconds: float, pid: int) -> dict:
    latencies, peak = [], 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        start = time.perf_counter()
        status, _ = await exchange(port, get("/healthz"))
        latencies.append((time.perf_counter() - start) * 1e3)
        assert status == 200, status
        peak = max(peak, rss(pid))
        await asyncio.sleep(0.02)
    latencies.sort()
    return {
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[int(0.99 * (len(latencies) - 1))],
        "peak_rss_mib": peak / 2**20,
    }


def rss(pid: int) -> int:
    """The resident memory of a process and its children (uvicorn's workers), in bytes."""
    total = 0
    for each in [pid, *_children(pid)]:
        try:
            status = Path(f"/proc/{each}/status").read_text()
        except OSError:
            continue
        total += (
            int(next(x for x in status.splitlines() if x.startswith("VmRSS")).split()[1]) * 1024
        )
    return total


def _children(pid: int) -> list[int]:
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [int(c) for c in found] + [g for c in found for g in _children(int(c))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--streams", type=int, default=300)
    args = parser.parse_args()
    token = secrets.token_urlsafe(24)
    with ExitStack() as stack:
        redis_url = start_private_redis(ROOT / "data" / "abuse-redis", stack)
        port = free_port()
        env = os.environ | {
            "DIGITGAN_REDIS_URL": redis_url,
            "DIGITGAN_REDIS_PREFIX": f"abuse-{secrets.token_hex(4)}",
            "DIGITGAN_API_TOKEN": token,
            "DIGITGAN_PORT": str(port),
            "DIGITGAN_API_WORKERS": "1",
            "DIGITGAN_LOG_LEVEL": "WARNING",
        }
        api = subprocess.Popen([sys.executable, "-m", "app"], cwd=ROOT, env=env)
        stack.callback(api.wait, 30)
        stack.callback(api.terminate)
        asyncio.run(_ready(port))

        idle = asyncio.run(probe(port, 5, api.pid))
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        attacker = context.Process(
            target=_flood_process, args=(port, token, args.seconds, args.streams, queue)
        )
        attacker.start()
        flooded = asyncio.run(probe(port, args.seconds, api.pid))
        result = queue.get(timeout=args.seconds + 120)
        attacker.join()

    print(f"{'':8} {'healthz p50 ms':>15} {'p99 ms':>8} {'peak RSS MiB':>13}")
    for name, figures in (("idle", idle), ("flooded", flooded)):
        print(
            f"{name:8} {figures['p50_ms']:>15.1f} {figures['p99_ms']:>8.1f} "
            f"{figures['peak_rss_mib']:>13.0f}"
        )
    for kind, counts in result["answers"].items():
        print(f"{kind:8} {json.dumps(counts, sort_keys=True)}")
    failures = list(result["bad"])
    failures += [f"{k}: 500s" for k, c in result["answers"].items() if c.get("500")]
    if flooded["p99_ms"] > P99_LIMIT_MS:
        failures.append(f"/healthz p99 {flooded['p99_ms']:.1f} ms > {P99_LIMIT_MS} ms")
    if flooded["peak_rss_mib"] * 2**20 > RSS_LIMIT:
        failures.append(f"peak RSS {flooded['peak_rss_mib']:.0f} MiB > 1 GiB")
    print(json.dumps({"idle": idle, "flooded": flooded, **result, "failures": failures}))
    for failure in failures:
        print("FAIL:", failure)
    return 1 if failures else 0


async def _ready(port: int) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if (await exchange(port, get("/v1/digits/0.png?seed=0")))[0] == 200:
                return
        except OSError:
            pass
        await asyncio.sleep(0.5)
    sys.exit("the API did not start")


if __name__ == "__main__":
    sys.exit(main())
