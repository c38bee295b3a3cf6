"""Bounds under abuse and carelessness: each limit gives its status code and a message
that says what is allowed, and changes nothing else."""

from __future__ import annotations

import asyncio
import threading

import pytest
from fastapi.testclient import TestClient

from app.auth import InsecureToken
from app.batcher import MicroBatcher, Overloaded
from app.main import create_app
from app.reaper import Orphans
from app.repeats import LONGEST_REMEMBERED_URL, REMEMBERED_BYTES, new_answers
from app.state import services
from digitgan.queue import create_celery, enqueue, jobs_with_messages
from digitgan.specs import JobRequest
from tests.conftest import private_settings
from tests.support import AUTH, TINY
from tests.support.checkpoints import publish


def app_with(settings, **limits) -> TestClient:
    return TestClient(create_app(settings.model_copy(update=limits)))


@pytest.mark.parametrize("token", ["", "short-token"])
def test_an_empty_or_short_token_keeps_the_api_from_starting(redis_server, token):
    with pytest.raises(InsecureToken, match="at least 16"):
        create_app(private_settings(redis_server, api_token=token))


def test_without_a_token_nothing_can_change(settings, redis_client):
    with app_with(settings, api_token=None) as client:
        refused = client.post("/v1/jobs", json={}, headers=AUTH)
        assert refused.status_code == 503 and "DIGITGAN_API_TOKEN" in refused.json()["detail"]
        assert client.get("/v1/jobs").json()["total"] == 0


def test_long_urls_and_large_headers_are_refused(client):
    long = client.get("/v1/digits/1.png?seed=1&junk=" + "x" * 5000)
    assert long.status_code == 414 and "at most 4096" in long.json()["detail"]
    large = client.get("/healthz", headers={f"x-junk-{i}": "y" * 1000 for i in range(20)})
    assert large.status_code == 431 and "at most 16384" in large.json()["detail"]


def test_large_bodies_are_refused_before_they_are_parsed(client):
    big = b'{"steps": 10, "pad": "' + b"x" * 70_000 + b'"}'
    refused = client.post(
        "/v1/jobs", content=big, headers=AUTH | {"content-type": "application/json"}
    )
    assert refused.status_code == 413 and "at most 65536" in refused.json()["detail"]

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(80):
            yield b"x" * 1000

    streamed = client.post("/v1/jobs", content=chunks(), headers=AUTH)
    assert streamed.status_code == 413
    assert client.get("/v1/jobs").json()["total"] == 0


def test_the_token_is_checked_before_the_body_is_read(client):
    # Over the body limit, but refused for its token: the body was never read.
    refused = client.post("/v1/jobs", content=b"x" * 100_000)
    assert refused.status_code == 401 and "token" in refused.json()["detail"]


def test_event_streams_are_capped_per_process(settings, jobs):
    job = jobs.create(JobRequest(**TINY).resolve())  # stays queued: no worker here
    with (
        app_with(settings, max_event_streams=1) as client,
        client.stream("GET", f"/v1/jobs/{job.id}/events") as first,
    ):
        assert first.status_code == 200
        next(first.iter_lines())
        second = client.get(f"/v1/jobs/{job.id}/events")
        assert second.status_code == 503 and "at most 1" in second.json()["detail"]
        assert second.headers["retry-after"]


def test_too_many_queued_jobs_are_refused_with_retry_after(settings, redis_client):
    with app_with(settings, max_queued_jobs=2) as client:
        for _ in range(2):
            assert client.post("/v1/jobs", json=TINY, headers=AUTH).status_code == 202
        refused = client.post("/v1/jobs", json=TINY, headers=AUTH)
        assert refused.status_code == 429 and refused.headers["retry-after"]
        assert "at most 2" in refused.json()["detail"]
        assert client.get("/v1/jobs").json()["total"] == 2


def test_a_full_store_refuses_new_jobs_saying_what_to_delete(settings, checkpoints):
    publish(checkpoints, "mlp", "big")  # about 6 MB of weights
    with app_with(settings, store_budget_bytes=2**20 * 8) as client:
        refused = client.post("/v1/jobs", json=TINY, headers=AUTH)
        assert refused.status_code == 507
        assert "DELETE /v1/checkpoints/{id}" in refused.json()["detail"]
        assert client.get("/v1/jobs").json()["total"] == 0


def test_checkpoint_every_has_a_floor_from_steps(client):
    refused = client.post("/v1/jobs", json={"steps": 10_000, "checkpoint_every": 10}, headers=AUTH)
    assert refused.status_code == 422
    assert "checkpoint_every: at least 200 for 10000 steps" in refused.json()["detail"]
    default = client.post("/v1/jobs", json={"steps": 200_000}, headers=AUTH).json()
    assert default["spec"]["checkpoint_every"] == 4000


def test_the_render_queue_is_bounded_in_digits(settings, checkpoints):
    publish(checkpoints)
    with app_with(settings, render_queue_digits=100) as client:
        refused = client.get("/v1/samples.png?n=200&seed=1")
        assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
        assert "at most 100" in refused.json()["detail"]
        assert client.get("/v1/samples.png?n=100&seed=1").status_code == 200


def test_one_failing_item_never_costs_the_rest_of_its_batch_nor_an_abandoned_one_runs():
    seen: list[list[str]] = []
    release = threading.Event()

    def run_batch(_key, items):
        release.wait(5)
        seen.append(list(items))
        return [ValueError(item) if item == "bad" else item.upper() for item in items]

    async def scenario():
        batcher = MicroBatcher(run_batch, max_pending=10)
        batcher.start()
        try:
            first = batcher.submit("m", "first")  # runs alone, holding the others back
            await asyncio.sleep(0.05)
            good, bad, gone = (batcher.submit("m", x) for x in ("good", "bad", "gone"))
            gone.cancel()  # its caller went away before it was drawn
            with pytest.raises(Overloaded, match="at most 10"):
                batcher.submit("m", "huge", units=8)
            release.set()
            assert await first == "FIRST" and await good == "GOOD"
            with pytest.raises(ValueError, match="bad"):
                await bad
            await asyncio.sleep(0.05)
            assert batcher.pending == 0
        finally:
            batcher.stop()

    asyncio.run(scenario())
    assert seen == [["first"], ["good", "bad"]]  # one batch call; "gone" was never drawn


def test_remembered_urls_are_bounded_in_bytes_and_skip_long_ones(client, checkpoints):
    publish(checkpoints)
    assert new_answers().maxsize == REMEMBERED_BYTES
    answers = services(client.app).answers
    client.get("/v1/digits/1.png?seed=1")
    client.get(f"/v1/digits/1.png?seed=1&fg=000000&x={'y' * LONGEST_REMEMBERED_URL}")
    assert [key[1] for key in answers] == [b"seed=1"]
    assert 0 < answers.currsize < 2000


def test_a_queued_job_without_a_message_is_sent_again_but_a_waiting_one_never(
    settings, jobs, redis_client, keys
):
    celery = create_celery(settings)
    waiting = jobs.create(JobRequest(**TINY).resolve())
    enqueue(celery, waiting.id)
    orphan = jobs.create(JobRequest(**TINY).resolve())  # as if the API died before sending
    orphans = Orphans(grace_s=5)
    assert orphans.sweep(jobs, celery, now=100) == []  # seen once: maybe in flight
    assert orphans.sweep(jobs, celery, now=103) == []
    assert orphans.sweep(jobs, celery, now=105) == [orphan.id]
    assert redis_client.llen(keys.train_queue) == 2
    assert "lost; sent again" in jobs.get(orphan.id).history[-1].note
    assert orphans.sweep(jobs, celery, now=200) == []  # both have messages now


def test_reapers_in_several_api_processes_resend_a_lost_message_once(settings, jobs, keys):
    celery = create_celery(settings)
    orphan = jobs.create(JobRequest(**TINY).resolve())
    reapers = [Orphans(grace_s=5) for _ in range(4)]
    for reaper in reapers:
        reaper.sweep(jobs, celery, now=100)
    sent = [reaper.sweep(jobs, celery, now=106) for reaper in reapers]
    assert sorted(map(len, sent)) == [0, 0, 0, 1]
    assert jobs_with_messages(jobs.redis, keys) == {orphan.id}
    assert jobs.redis.llen(keys.train_queue) == 1
