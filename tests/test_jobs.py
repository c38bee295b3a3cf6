"""Job lifecycle on real Redis and a real worker: states with timestamps, progress and
losses, events, paging, retention, cancel, resume_from."""

from __future__ import annotations

import io
import json
import time

import pytest
from celery import Celery
from PIL import Image

from app.reaper import reap_lost_jobs
from digitgan.checkpoints import CheckpointStore
from digitgan.jobs import JobState, JobStore
from digitgan.leases import JobLease
from digitgan.queue import create_celery
from digitgan.settings import Settings
from digitgan.specs import JobRequest
from tests.conftest import private_settings
from tests.support import AUTH, FAST, TINY
from tests.support.checkpoints import publish_trained
from tests.support.processes import kill_tree, start_worker
from tests.support.waiting import finished, job_in
from worker.progress import LossHistory

SPEC = JobRequest(architecture="mlp", steps=5).resolve()


@pytest.fixture(scope="module")
def settings(redis_server) -> Settings:
    """One key prefix for the module, so that its tests share one worker."""
    return private_settings(redis_server, **FAST)


@pytest.fixture
def store(settings, redis_client) -> JobStore:
    return JobStore(redis_client, settings.redis_prefix, retention_s=3600, max_jobs=10)


@pytest.fixture(scope="module")
def worker(settings, tmp_path_factory):
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    proc = start_worker(settings, log)
    yield proc
    kill_tree(proc)
    print(log.read_text()[-3000:])


def test_jobs_page_newest_first_filter_by_state_and_are_bounded(store, redis_client):
    ids = []
    for n in range(12):
        ids.append(store.create(SPEC).id)
        if n < 9:
            store.set_state(ids[-1], JobState.succeeded)
    # Two over max_jobs (10): the two oldest finished records went; queued ones stay.
    assert store.count() == 10
    assert store.get(ids[0]) is None and store.get(ids[1]) is None
    assert [j.id for j in store.page(limit=3)] == ids[::-1][:3]
    assert [j.id for j in store.page(limit=3, offset=3)] == ids[::-1][3:6]
    assert [j.id for j in store.page(state=JobState.queued)] == ids[:8:-1]
    assert store.count(JobState.succeeded) == 7
    # Finished records expire after the retention time; queued ones do not.
    assert 0 < redis_client.ttl(store.keys.job(ids[5])) <= 3600
    assert redis_client.ttl(store.keys.job(ids[11])) == -1


def test_every_state_change_is_kept_with_its_time_and_attempt(store):
    job = store.create(SPEC)
    running = store.start_attempt(job.id, worker="gpu-7", device="cuda:0")
    assert running.state == JobState.running and running.attempt == 1
    assert running.worker == "gpu-7" and running.device == "cuda:0" and running.started_at
    store.set_state(job.id, JobState.failed, error="out of memory; lower batch_size")
    failed = store.get(job.id)
    assert [(t.state, t.attempt) for t in failed.history] == [
        (JobState.queued, 0),
        (JobState.running, 1),
        (JobState.failed, 1),
    ]
    assert failed.history[0].at <= failed.history[1].at <= failed.finished_at
    assert store.start_attempt(job.id, worker="gpu-8", device="cpu") is None


def test_a_lease_has_one_holder_at_a_time(settings, redis_client):
    first = JobLease(redis_client, settings.redis_prefix, "job-1", ttl_s=5)
    second = JobLease(redis_client, settings.redis_prefix, "job-1", ttl_s=5)
    assert first.acquire() and not second.acquire()
    assert first.renew() and not second.renew()
    second.release()  # not its lease: no effect
    assert first.held()
    first.release()
    assert second.acquire() and not first.renew()


def test_reaper_requeues_a_lost_job_then_fails_it_after_its_attempts(settings, store, redis_client):
    celery: Celery = create_celery(settings)
    queue = store.keys.train_queue
    job = store.create(SPEC)
    # A worker that took the job and died: running, but nobody holds its lease.
    store.start_attempt(job.id, worker="gone", device="cpu")
    assert reap_lost_jobs(store, celery, max_attempts=2) == {job.id: JobState.queued}
    requeued = store.get(job.id)
    assert requeued.state == JobState.queued and "stopped sending heartbeats" in (
        requeued.history[-1].note
    )
    assert redis_client.llen(queue) == 1  # delivered again

    store.start_attempt(job.id, worker="gone-too", device="cpu")
    store.update(job.id, checkpoint_id="x-0000040")
    assert reap_lost_jobs(store, celery, max_attempts=2) == {job.id: JobState.failed}
    failed = store.get(job.id)
    assert failed.attempt == 2 and "resume_from='x-0000040'" in failed.error

    # A live lease keeps a running job as it is.
    other = store.create(SPEC)
    JobLease(redis_client, settings.redis_prefix, other.id, ttl_s=30).acquire()
    store.start_attempt(other.id, worker="alive", device="cpu")
    assert reap_lost_jobs(store, celery, max_attempts=2) == {}


def test_loss_history_stays_bounded_and_spans_the_whole_run():
    history = LossHistory(max_points=16)
    for step in range(1, 10_001):
        history.add(step, 0.5, 1.0)
    assert 8 <= len(history.points) <= 16
    assert history.points[0][0] == 1 and history.points[-1][0] > 9000


def test_a_job_runs_with_progress_events_losses_and_history(client, worker):
    job = client.post("/v1/jobs", json=TINY, headers=AUTH).json()
    with client.stream("GET", f"/v1/jobs/{job['id']}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = _sse(stream.iter_lines())
    # The stream ends by itself when the job ends, with the final record.
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "state" and kinds[-1] == "state" and "progress" in kinds
    assert events[-1][1]["state"] == "succeeded"

    done = client.get(job["url"]).json()
    assert [t["state"] for t in done["history"]] == ["queued", "running", "succeeded"]
    assert done["attempt"] == 1 and done["device"] == "cpu" and done["worker"]
    assert done["started_at"] <= done["finished_at"]
    progress = done["progress"]
    assert (
        progress["step"] == progress["total_steps"] == TINY["steps"] and progress["percent"] == 100
    )
    assert progress["eta_s"] == 0 and progress["images_per_second"] > 0
    assert progress["d_loss"] is not None and progress["g_loss"] is not None

    points = client.get(f"/v1/jobs/{job['id']}/losses").json()["points"]
    assert 1 <= len(points) <= 256 and points[-1][0] == TINY["steps"]
    png = client.get(f"/v1/jobs/{job['id']}/losses.png")
    assert png.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(png.content)).size == (640, 320)

    listed = client.get("/v1/jobs?state=succeeded&limit=1").json()
    assert listed["total"] == 1 and listed["jobs"][0]["id"] == job["id"]
    assert client.get("/v1/jobs?state=running").json()["jobs"] == []
    assert client.get("/v1/jobs?state=lost").status_code == 422

    # Resume: continue that job's last checkpoint to 60 steps in a new job.
    more = client.post(
        "/v1/jobs",
        json={"steps": 60, "batch_size": 4, "resume_from": done["checkpoint_id"]},
        headers=AUTH,
    ).json()
    resumed = finished(client, more["id"])
    assert resumed["state"] == "succeeded", resumed
    assert resumed["resumed_from"] == done["checkpoint_id"]
    assert resumed["checkpoint_id"] == f"{more['id']}-0000060"
    assert resumed["spec"]["batch_size"] == 4  # its own, not the checkpoint's


def test_cancelling_a_running_job_stops_it_and_keeps_its_checkpoint(client, worker):
    job = client.post(
        "/v1/jobs",
        json={"architecture": "mlp", "steps": 20_000, "checkpoint_every": 400, "batch_size": 8},
        headers=AUTH,
    ).json()
    running = job_in(client, job["id"], lambda j: j["checkpoint_id"], 60)
    assert running["state"] == "running"
    cancelled_at = time.monotonic()
    assert client.post(f"/v1/jobs/{job['id']}/cancel", headers=AUTH).status_code == 202
    ended = finished(client, job["id"])
    print(f"stopped {time.monotonic() - cancelled_at:.2f}s after the cancel")
    assert ended["state"] == "cancelled" and ended["progress"]["step"] < 20_000
    assert ended["checkpoint_id"].startswith(job["id"])
    assert ended["checkpoints"][-1] == ended["checkpoint_id"]
    assert "cancelled at step" in ended["history"][-1]["note"]
    # Its checkpoint is served by id; `latest` never moves to a job that did not finish.
    by_id = client.get(f"/v1/samples.png?n=4&seed=1&checkpoint={ended['checkpoint_id']}")
    assert by_id.status_code == 200
    assert client.get("/v1/samples.png?n=4&seed=1").status_code == 404
    again = client.post(f"/v1/jobs/{job['id']}/cancel", headers=AUTH)
    assert again.status_code == 409 and "already ended: cancelled" in again.json()["detail"]


def test_resume_from_is_checked_before_a_job_is_queued(client, settings, redis_client):
    checkpoints = CheckpointStore(redis_client, settings.redis_prefix)
    ids = publish_trained(checkpoints)
    checkpoints.drop_training_state(ids[0])

    def post(body):
        return client.post("/v1/jobs", json={"steps": 10} | body, headers=AUTH)

    missing = post({"resume_from": "nope-0000001"})
    assert (
        missing.status_code == 404
        and "no checkpoint with id 'nope-0000001'" in (missing.json()["detail"])
    )
    assert post({"resume_from": "bad id!"}).status_code == 422
    stale = post({"resume_from": ids[0]})
    assert stale.status_code == 422 and "training state" in stale.json()["detail"]
    other = post({"resume_from": ids[1], "architecture": "cmlp"})
    assert other.status_code == 422 and "'mlp'" in other.json()["detail"]
    short = post({"resume_from": ids[1], "steps": 2})
    assert short.status_code == 422 and "more than that" in short.json()["detail"]
    assert client.get("/v1/jobs").json()["jobs"] == []
    assert post({"resume_from": ids[1]}).json()["spec"]["architecture"] == "mlp"


def _sse(lines) -> list[tuple[str, dict]]:
    events, kind = [], None
    for line in lines:
        if line.startswith("event:"):
            kind = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            events.append((kind, json.loads(line.split(":", 1)[1])))
    return events
