"""Real processes: Celery workers, a uvicorn API, a Redis that a test may stop and start."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

from digitgan.cli.serve import free_port, redis_answers
from digitgan.settings import Settings
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent.parent


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a service process exactly these settings."""
    values = settings.model_dump(mode="json", exclude={"api_token"})
    # Complex values (lists) travel as JSON, which is how pydantic-settings reads them.
    env = {
        f"DIGITGAN_{k.upper()}": v if isinstance(v, str) else json.dumps(v)
        for k, v in values.items()
    }
    if settings.api_token is not None:
        env["DIGITGAN_API_TOKEN"] = settings.api_token.get_secret_value()
    return os.environ | env


def start_worker(
    settings: Settings,
    log: Path,
    *,
    name: str = "w1",
    app: str = "worker.celery_app",
    cwd: Path = ROOT,
    env: dict[str, str] | None = None,
    prefix_command: tuple[str, ...] = (),
    wait: bool = True,
) -> subprocess.Popen:
    """A Celery worker in a session of its own (so a SIGKILL can take its whole process
    tree, as a dead host would); unless `wait` is False, returned once it is ready."""
    command = [
        *prefix_command,
        sys.executable,
        "-m",
        "celery",
        "-A",
        app,
        "worker",
        "--loglevel",
        "INFO",
        "--without-gossip",
        "--without-mingle",
        "-n",
        f"{name}@%h",
    ]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            command,
            cwd=cwd,
            env=(env or settings_env(settings)) | {"PYTHONPATH": str(ROOT)},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    if wait:
        wait_ready(proc, log)
    return proc


@contextlib.contextmanager
def running_service(settings: Settings, log_dir: Path) -> Iterator[str]:
    """A uvicorn API and a Celery worker on `settings`, each a process of its own, as a
    user's deployment runs them; yields the API's base URL once both are ready."""
    worker = start_worker(settings, log_dir / "worker.log", wait=False)
    url = f"http://127.0.0.1:{free_port()}"
    api = start_api(settings, log_dir / "api.log", url, wait=False)
    try:
        wait_api(url)
        wait_ready(worker, log_dir / "worker.log")
        yield url
    finally:
        kill_tree(api)
        kill_tree(worker)


def start_api(settings: Settings, log: Path, url: str, *, wait: bool = True) -> subprocess.Popen:
    """A uvicorn API on `url`'s port, in a session of its own; unless `wait` is False,
    returned once it answers."""
    with log.open("ab") as out:
        api = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app.main:app", "--port", url.rsplit(":", 1)[1]],
            cwd=ROOT,
            env=settings_env(settings),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    if wait:
        wait_api(url)
    return api


def wait_api(url: str) -> None:
    wait_until(lambda: _answers(f"{url}/healthz"), 60, "the API")


def _answers(url: str) -> bool:
    try:
        return httpx.get(url).status_code == 200
    except httpx.TransportError:
        return False


def wait_ready(proc: subprocess.Popen, log: Path) -> None:
    wait_until(lambda: b"ready." in log.read_bytes() or proc.poll() is not None, 90, "worker")
    if proc.poll() is not None:
        raise RuntimeError(f"worker exited early:\n{log.read_text()}")


def kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL the process and everything it started: no cleanup runs."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def stop(proc: subprocess.Popen, timeout: float = 20) -> None:
    if proc.poll() is None:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)
    kill_tree(proc)


class RedisServer:
    """A redis-server that a test may stop and start again, persisting the way the
    compose file's Redis does (append-only file, fsync every second)."""

    def __init__(self, data_dir: Path, extra_bind: str | None = None):
        self.data_dir = data_dir
        self.bind = ["127.0.0.1"] + ([extra_bind] if extra_bind else [])
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server") or "redis-server"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", *self.bind, "--dir", str(self.data_dir)]
            + ["--appendonly", "yes", "--appendfsync", "everysec", "--save", ""]
            + ["--protected-mode", "no"],
            stdout=subprocess.DEVNULL,
        )
        wait_until(lambda: redis_answers(self.url), 20, "redis-server")

    def stop(self) -> None:
        """A clean shutdown (SIGTERM: Redis flushes its append-only file and exits)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)
