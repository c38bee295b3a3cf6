"""Metrics, readiness and logs, against the real app, Redis and worker."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from app.main import create_app
from tests.conftest import private_settings, running_worker
from tests.support import AUTH
from tests.support.checkpoints import publish
from tests.support.waiting import finished


def metric_lines(client: TestClient) -> list[str]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text.splitlines()


def metric_value(lines: list[str], series: str) -> float:
    return next((float(line.split()[-1]) for line in lines if line.startswith(series + " ")), 0.0)


def test_metrics_count_requests_by_route_and_read_jobs_from_redis(client):
    not_found = 'digitgan_http_requests_total{method="GET",route="/v1/jobs/{job_id}",status="404"}'
    before = metric_value(metric_lines(client), not_found)
    client.get("/v1/jobs/nope")
    client.get("/v1/jobs/other")
    client.post("/v1/jobs", json={"steps": 5}, headers=AUTH)
    lines = metric_lines(client)
    assert metric_value(lines, not_found) == before + 2  # one series for every job id
    assert 'digitgan_jobs{state="queued"} 1.0' in lines
    assert "digitgan_queue_length 1.0" in lines  # no worker here: the job waits in the queue
    assert any(line.startswith("digitgan_http_request_seconds_bucket") for line in lines)


def test_readyz_reports_redis_and_checkpoint(client, keys, redis_client):
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "redis": "ok", "checkpoint": "none published yet"}

    redis_client.set(keys.checkpoint_blob("broken"), b"not a checkpoint")
    redis_client.set(keys.latest, "broken")
    broken = client.get("/readyz")
    assert broken.status_code == 503 and broken.json()["checkpoint"].startswith("error")


def test_readyz_says_why_when_redis_is_unreachable():
    settings = private_settings("redis://127.0.0.1:1/0")
    with TestClient(create_app(settings)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["redis"].startswith("error") and ready.json()["status"] == "unavailable"
        assert client.get("/healthz").status_code == 200
        jobs = client.get("/v1/jobs")
        assert jobs.status_code == 503 and "Redis" in jobs.json()["detail"]


def test_worker_json_logs_name_the_job_on_every_task_line(client, settings, tmp_path):
    log = tmp_path / "worker.log"
    with running_worker(settings, log, DIGITGAN_LOG_JSON="true"):
        job = client.post(
            "/v1/jobs",
            json={"architecture": "mlp", "steps": 5, "checkpoint_every": 5},
            headers=AUTH,
        ).json()
        assert finished(client, job["id"])["state"] == "succeeded"
    records = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    # Celery's own lines about the task ("received", "succeeded") and the attempt's lines.
    celery_lines = [r for r in records if "Task digitgan.train" in r["message"]]
    attempt_lines = [r for r in records if f"job {job['id']}: attempt 1" in r["message"]]
    assert len(celery_lines) >= 2 and len(attempt_lines) == 1
    assert {r["job_id"] for r in celery_lines + attempt_lines} == {job["id"]}


def test_metrics_count_rendered_images_and_cache_hits(client, checkpoints):
    publish(checkpoints, "cmlp", "cmlp-metrics")
    lines = metric_lines(client)
    rendered = metric_value(lines, "digitgan_images_rendered_total")
    hits = metric_value(lines, "digitgan_image_cache_hits_total")
    for _ in range(3):
        assert client.get("/v1/digits/3.png?seed=12345").status_code == 200
    lines = metric_lines(client)
    assert metric_value(lines, "digitgan_images_rendered_total") == rendered + 1
    assert metric_value(lines, "digitgan_image_cache_hits_total") == hits + 2
