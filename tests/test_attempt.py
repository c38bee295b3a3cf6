"""One attempt at a job (worker/attempt.py), run in this process against a real Redis:
what it publishes, when `latest` moves, retention, stopping, leases."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.state import services
from digitgan.leases import JobLease
from digitgan.queue import create_celery, jobs_with_messages
from digitgan.specs import JobRequest
from tests.conftest import private_settings
from tests.support import AUTH, FAST, TINY
from tests.support.waiting import wait_until
from worker.attempt import run_attempt


@pytest.fixture
def settings(settings):
    return settings.model_copy(update=FAST)


@pytest.fixture
def attempt(settings, redis_client):
    """Run one attempt at a job in this process, as a worker's pool child would."""
    celery = create_celery(settings)

    def run(job_id: str, shutdown: threading.Event | None = None) -> None:
        run_attempt(redis_client, settings, celery, job_id, shutdown or threading.Event())

    return run


def stop_once_training(attempt, jobs, job_id: str):
    """Run an attempt, stop its worker (as SIGTERM does) once it trains; the record."""
    shutdown = threading.Event()
    runner = threading.Thread(target=attempt, args=(job_id, shutdown))
    runner.start()
    wait_until(lambda: jobs.get(job_id).progress.step > 0, 60, "training")
    shutdown.set()
    runner.join(60)
    return jobs.get(job_id)


def queue(jobs, **request):
    return jobs.create(JobRequest(**TINY | request).resolve())


def test_a_job_publishes_its_checkpoints_and_only_its_final_one_becomes_latest(
    jobs, checkpoints, attempt, keys, redis_client
):
    first = queue(jobs, steps=30, checkpoint_every=10)
    attempt(first.id)
    done = jobs.get(first.id)
    assert done.state == "succeeded" and done.checkpoint_id == f"{first.id}-0000030"
    assert 0 < done.cpu_seconds < 600
    assert checkpoints.latest_id() == done.checkpoint_id
    assert done.evaluation["verdict"] and checkpoints.meta(done.checkpoint_id)["evaluation"]
    assert checkpoints.job_checkpoint_ids(first.id) == [f"{first.id}-{s:07d}" for s in (10, 20, 30)]
    # Only the newest keeps the training state, and only for a while after the job ended.
    kept = [
        checkpoints.training_state(i) is not None for i in checkpoints.job_checkpoint_ids(first.id)
    ]
    assert kept == [False, False, True]
    assert redis_client.zscore(keys.expiring_states, done.checkpoint_id) is not None

    # A second job stopped half-way: its checkpoints are servable by id, `latest` stays.
    second = queue(jobs, steps=100_000, checkpoint_every=2000)
    stopped = stop_once_training(attempt, jobs, second.id)
    assert stopped.state == "queued" and stopped.checkpoint_id.startswith(second.id)
    assert checkpoints.latest_id() == done.checkpoint_id


def test_a_job_that_does_not_publish_leaves_latest_alone(jobs, checkpoints, attempt):
    job = queue(jobs, publish=False)
    attempt(job.id)
    assert jobs.get(job.id).state == "succeeded"
    assert checkpoints.latest_id() is None
    assert checkpoints.exists(jobs.get(job.id).checkpoint_id)


def test_retention_keeps_the_final_checkpoint_and_the_newest_intermediate_ones(
    jobs, checkpoints, attempt
):
    job = queue(jobs, steps=60, checkpoint_every=10)
    attempt(job.id)
    # keep_checkpoints (3) intermediate ones and the final one.
    assert checkpoints.job_checkpoint_ids(job.id) == [f"{job.id}-{s:07d}" for s in (30, 40, 50, 60)]
    assert not checkpoints.exists(f"{job.id}-0000010")


def test_a_stopping_worker_requeues_the_job_under_its_own_id(
    jobs, checkpoints, attempt, redis_client, keys
):
    job = queue(jobs, steps=100_000, checkpoint_every=2000)
    requeued = stop_once_training(attempt, jobs, job.id)
    assert requeued.state == "queued" and "worker shut down at step" in requeued.history[-1].note
    step = int(requeued.checkpoint_id.rsplit("-", 1)[1])
    assert step >= requeued.progress.step > 0
    # The message carries the job's id as its task id, so the next worker's log lines do.
    assert jobs_with_messages(redis_client, keys) == {job.id}


def test_a_duplicate_delivery_leaves_the_job_alone(jobs, attempt, settings, redis_client):
    job = queue(jobs)
    holder = JobLease(redis_client, settings.redis_prefix, job.id, ttl_s=30)
    assert holder.acquire()
    attempt(job.id)
    assert jobs.get(job.id).state == "queued" and holder.held()


def test_the_lease_of_a_killed_process_on_this_host_is_taken_over(
    jobs, attempt, keys, redis_client
):
    job = queue(jobs)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], text=True, capture_output=True
    ).stdout.strip()
    redis_client.set(keys.lease(job.id), f"{socket.gethostname()}:{dead}:gone", px=60_000)
    attempt(job.id)
    assert jobs.get(job.id).state == "succeeded"

    other = queue(jobs)  # a live holder (this process) is never taken over
    redis_client.set(keys.lease(other.id), f"{socket.gethostname()}:{os.getpid()}:x", px=60_000)
    attempt(other.id)
    assert jobs.get(other.id).state == "queued"


def test_a_cancel_asked_while_data_loads_ends_the_job_before_it_trains(
    jobs, checkpoints, attempt, monkeypatch
):
    job = queue(jobs)
    from models.data import load_dataset as real_load

    def slow_load(name, data_dir=None, roots=None):
        jobs.request_cancel(job.id)
        wait_until(lambda: jobs.cancel_requested(job.id), 5)
        threading.Event().wait(1.5)  # the heartbeat polls the cancel flag every 0.5 s
        return real_load(name, data_dir, roots)

    monkeypatch.setattr("worker.attempt.load_dataset", slow_load)
    attempt(job.id)
    ended = jobs.get(job.id)
    assert ended.state == "cancelled" and ended.progress.step == 0
    assert ended.checkpoint_id is None and checkpoints.count() == 0


def test_an_unreadable_data_set_fails_the_job_saying_which_and_nothing_of_the_host(
    jobs, attempt, tmp_path
):
    job = queue(jobs, dataset=f"idx:{tmp_path}/secret/set")
    attempt(job.id)
    failed = jobs.get(job.id)
    assert failed.state == "failed"
    assert failed.error == (
        f"data set 'idx:{tmp_path}/secret/set' is not under the folders this worker may "
        "read data sets from (DIGITGAN_DATASET_ROOTS)"
    )


def test_fifty_tiny_jobs_leave_the_store_under_its_budget(redis_server, redis_client, capsys):
    """50 jobs of a few steps each, checkpointing at every step, through the API (which
    refuses what would not fit, 507) and an attempt each here."""
    budget = 300 * 2**20
    settings = private_settings(redis_server, store_budget_bytes=budget, **FAST)
    celery = create_celery(settings)
    refused = 0
    with TestClient(create_app(settings)) as client:
        store = services(client.app).checkpoints
        for _ in range(50):
            answer = client.post(
                "/v1/jobs", json=TINY | {"steps": 4, "checkpoint_every": 1}, headers=AUTH
            )
            if answer.status_code == 507:
                refused += 1
                continue
            assert answer.status_code == 202, answer.text
            run_attempt(redis_client, settings, celery, answer.json()["id"], threading.Event())
        stored = store.stored_bytes()
        sizes = {k.decode(): int(v) for k, v in redis_client.hgetall(store.keys.sizes).items()}
    # The count is honest: Redis's own accounting of those keys agrees, but for overhead.
    used = sum(redis_client.memory_usage(key) or 0 for key in sizes)
    assert sum(sizes.values()) == stored <= used <= stored * 1.15  # allocator rounding
    assert stored <= budget and 0 < refused < 50
    with capsys.disabled():
        print(
            f"\n50 tiny jobs: {50 - refused} ran, {refused} refused (507); the store holds "
            f"{stored / 2**20:.1f} MiB of its {budget / 2**20:.0f} MiB budget"
        )
