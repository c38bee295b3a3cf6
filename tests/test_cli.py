"""The `digitgan` command against a real uvicorn API and a real worker."""

from __future__ import annotations

import io
import signal
import subprocess
import sys

import httpx
import pytest
from PIL import Image

from digitgan.cli.remote import render_progress
from digitgan.cli.serve import free_port
from tests.conftest import private_settings
from tests.support import FAST
from tests.support.processes import running_service, settings_env

TINY_ARGS = ("--steps", "40", "--checkpoint-every", "20", "--batch-size", "8")


@pytest.fixture(scope="module")
def api(redis_server, tmp_path_factory):
    """A uvicorn API and a worker, shared by this module's tests; the environment that a
    user's shell would have."""
    settings = private_settings(redis_server, **FAST)
    with running_service(settings, tmp_path_factory.mktemp("cli")) as url:
        yield settings_env(settings) | {"DIGITGAN_URL": url}


def digitgan(env, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "digitgan.cli.main", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def test_submit_watch_list_samples_and_cancel(api, tmp_path):
    done = digitgan(api, "submit", *TINY_ARGS, "--watch")
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.split()[2]
    assert f"job {job_id}: succeeded, checkpoint {job_id}-0000040" in done.stdout

    listed = digitgan(api, "list", "--state", "succeeded")
    assert listed.returncode == 0 and job_id in listed.stdout and "(1 of 1)" in listed.stdout

    out = tmp_path / "digits.png"
    samples = digitgan(api, "samples", "-o", str(out), "-n", "4", "--seed", "1")
    assert samples.returncode == 0 and f"{job_id}-0000040" in samples.stdout
    assert Image.open(io.BytesIO(out.read_bytes())).format == "PNG"

    ended = digitgan(api, "cancel", job_id)
    assert ended.returncode == 2 and "already ended" in ended.stderr
    refused = digitgan(api, "submit", "--token", "wrong")
    assert refused.returncode == 2 and "token" in refused.stderr


def test_ctrl_c_stops_watching_not_the_job(api):
    watcher = subprocess.Popen(
        [sys.executable, "-m", "digitgan.cli.main", "submit", "--steps", "100000", "--watch"],
        env=api,
        stdout=subprocess.PIPE,
        text=True,
    )
    lines = []
    while not lines or ": running" not in lines[-1]:
        lines.append(watcher.stdout.readline())
        assert lines[-1], f"watch ended early: {lines}"
    job_id = lines[0].split()[2]
    watcher.send_signal(signal.SIGINT)
    assert watcher.wait(30) == 130
    assert "stopped watching" in watcher.stdout.read()
    job = httpx.get(f"{api['DIGITGAN_URL']}/v1/jobs/{job_id}").json()
    assert job["state"] == "running"

    assert digitgan(api, "cancel", job_id).returncode == 0
    watched = digitgan(api, "watch", job_id)
    assert watched.returncode == 3 and "cancelled" in watched.stdout


def test_progress_line_shows_steps_rate_eta_and_losses():
    line = render_progress(
        {
            "step": 500,
            "total_steps": 2000,
            "percent": 25.0,
            "images_per_second": 2750.4,
            "eta_s": 3725,
            "d_loss": 0.61234,
            "g_loss": 0.9,
        }
    )
    assert line.startswith("[######") and "25.0%" in line and "step 500/2000" in line
    assert "2,750 img/s" in line and "ETA 1:02:05" in line and "D 0.612 G 0.900" in line


def test_an_unreachable_api_is_exit_code_4(tmp_path):
    env = {"DIGITGAN_URL": f"http://127.0.0.1:{free_port()}", "PATH": ""}
    result = digitgan(env, "list")
    assert result.returncode == 4 and "cannot reach" in result.stderr
