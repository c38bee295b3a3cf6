"""The `digitgan` command against a real uvicorn API and a real worker."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys

import httpx
import pytest
import redis
from PIL import Image
from rich.console import Console

from digitgan.checkpoints import CheckpointStore
from digitgan.cli.main import build_parser
from digitgan.cli.progress import ProgressDisplay, render_progress
from digitgan.cli.remote import SUBMIT_FIELDS
from digitgan.cli.serve import free_port
from digitgan.jobs import JobProgress
from digitgan.specs import JobRequest
from models.checkpoint import load_generator
from tests.conftest import private_settings
from tests.support import FAST
from tests.support.checkpoints import untrained_blob
from tests.support.processes import ROOT, running_service, settings_env
from tests.support.uploads import digits_zip

TINY_ARGS = ("--steps", "40", "--checkpoint-every", "20", "--batch-size", "8")
# The progress of the README's example: a quarter of 2000 steps done.
QUARTER = JobProgress(
    step=500,
    total_steps=2000,
    percent=25.0,
    images_per_second=2750.4,
    eta_s=3725,
    d_loss=0.61234,
    g_loss=0.9,
)


@pytest.fixture(scope="module")
def api(redis_server, tmp_path_factory):
    """A uvicorn API and a worker, shared by this module's tests; the environment that a
    user's shell would have."""
    settings = private_settings(redis_server, **FAST)
    with running_service(settings, tmp_path_factory.mktemp("cli")) as url:
        yield settings_env(settings) | {"DIGITGAN_URL": url}


def digitgan(env, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "digitgan.cli.main", *args]
    return subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)


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


def test_upload_a_data_set_fine_tune_on_it_and_clean_up(api, tmp_path):
    # A checkpoint to start from, published beside `latest` (which it leaves alone).
    with redis.Redis.from_url(api["DIGITGAN_REDIS_URL"]) as client:
        store = CheckpointStore(client, api["DIGITGAN_REDIS_PREFIX"])
        store.publish(untrained_blob("mlp", "cli-base"), latest=False)
    archive = tmp_path / "mine.zip"
    archive.write_bytes(digits_zip(per_digit=3))

    uploaded = digitgan(api, "datasets", "upload", str(archive))
    assert uploaded.returncode == 0, uploaded.stderr
    name = uploaded.stdout.split("--dataset ")[1].split()[0]
    assert uploaded.stdout.startswith(f"data set {name.removeprefix('upload:')}: 30 digits")
    listed = digitgan(api, "datasets", "list")
    assert listed.returncode == 0 and name in listed.stdout and "mine.zip" in listed.stdout

    options = ("--dataset", name, "--init-from", "cli-base", "--no-publish")
    tuned = digitgan(api, "submit", *TINY_ARGS, *options, "--d-learning-rate", "0.0001", "--watch")
    assert tuned.returncode == 0, tuned.stderr
    job_id = tuned.stdout.split()[2]
    assert f"job {job_id}: succeeded, checkpoint {job_id}-0000040" in tuned.stdout
    spec = httpx.get(f"{api['DIGITGAN_URL']}/v1/jobs/{job_id}").json()["spec"]
    assert (spec["dataset"], spec["init_from"], spec["publish"]) == (name, "cli-base", False)
    assert spec["d_learning_rate"] == 0.0001

    typo = digitgan(api, "submit", "--steps", "0")  # refused here, before any request
    assert (
        typo.returncode == 2 and "steps" in typo.stderr and "greater than or equal" in typo.stderr
    )
    nothing = digitgan(api, "datasets", "upload")
    assert nothing.returncode == 2 and "both images and labels" in nothing.stderr

    checkpoints = digitgan(api, "checkpoints", "list")
    assert checkpoints.returncode == 0 and f"{job_id}-0000040" in checkpoints.stdout
    assert digitgan(api, "checkpoints", "delete", "cli-base").returncode == 0
    again = digitgan(api, "checkpoints", "delete", "cli-base")
    assert again.returncode == 2 and "404: no checkpoint with id 'cli-base'" in again.stderr
    assert httpx.get(f"{api['DIGITGAN_URL']}/v1/checkpoints/cli-base").status_code == 404

    assert digitgan(api, "datasets", "delete", name).returncode == 0
    gone = digitgan(api, "datasets", "delete", name)
    assert gone.returncode == 2 and "404: no uploaded data set" in gone.stderr


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
    line = render_progress(QUARTER)
    assert line.startswith("[######......") and "25.0%" in line and "step 500/2000" in line
    assert "2,750 img/s" in line and "ETA 1:02:05" in line and "D 0.612 G 0.900" in line


def test_on_a_terminal_the_display_is_a_live_bar_with_messages_above_it():
    out = io.StringIO()
    with ProgressDisplay(Console(file=out, force_terminal=True, width=120)) as display:
        display.line("job 1: running")
        display.progress(QUARTER)
        display.line("job 1: succeeded")
    shown = out.getvalue()
    assert "\x1b[" in shown  # drawn in place, with cursor and colour codes
    assert "━━━━━━" in shown and "25.0%  step 500/2000  2,750 img/s  ETA 1:02:05" in shown
    assert shown.index("job 1: running") < shown.index("step 500/2000")
    assert "[######" not in shown  # not the plain line


def test_elsewhere_progress_is_a_plain_line_at_most_every_10_s():
    out = io.StringIO()
    with ProgressDisplay(Console(file=out, force_terminal=False, width=40)) as display:
        for step in (500, 1000, 1500, 2000):
            display.progress(QUARTER.model_copy(update={"step": step, "percent": step / 20}))
        display.line("job 1: succeeded")
    lines = out.getvalue().splitlines()
    # The first and the last step; those between came within 10 s of the first.
    assert [line.split("step ")[1].split()[0] for line in lines[:-1]] == ["500/2000", "2000/2000"]
    assert lines[0].startswith("[######......") and "\x1b" not in out.getvalue()
    assert lines[-1] == "job 1: succeeded"  # each a whole line, never wrapped at 40


def test_train_shows_the_same_progress_then_writes_the_checkpoint(tmp_path):
    output = tmp_path / "local.safetensors"
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    args = ("train", str(output), "--architecture", "mlp", "--steps", "120", "--batch-size", "8")
    args += ("--threads", "1")
    done = digitgan(env, *args)
    assert done.returncode == 0, done.stderr
    progress = [line for line in done.stdout.splitlines() if line.startswith("[")]
    # A report after every step (a short job); plain lines: the first, then at most one
    # every 10 s, and the last.
    assert [line.split("  step ")[1].split()[0] for line in progress] == ["1/120", "120/120"]
    assert progress[-1].startswith("[########################] 100.0%")
    assert "Progress(" not in done.stdout
    meta, _ = load_generator(output.read_bytes())
    assert meta["step"] == 120


def test_an_unreachable_api_is_exit_code_4(tmp_path):
    env = {"DIGITGAN_URL": f"http://127.0.0.1:{free_port()}", "PATH": ""}
    result = digitgan(env, "list")
    assert result.returncode == 4 and "cannot reach" in result.stderr


def test_submit_has_an_option_for_every_training_request_field():
    """A field added to the API's request without a `submit` option is out of the CLI's
    reach (r1_gamma was, for a while)."""
    options = vars(build_parser().parse_args(["submit"]))
    assert set(JobRequest.model_fields) - set(options) == set()
    assert set(SUBMIT_FIELDS) == set(JobRequest.model_fields)  # and each is sent
    # `train` runs locally: it has every field but those about the service's store.
    local = vars(build_parser().parse_args(["train", "out.safetensors"]))
    service_only = {"resume_from", "init_from", "publish", "checkpoint_every"}
    assert set(JobRequest.model_fields) - set(local) == service_only
