"""The HTTP contract: validation, auth, not-found and no-checkpoint answers."""

from __future__ import annotations

import pytest

from tests.support import AUTH


def test_health(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["redis"] == "ok"


def test_starting_a_job_needs_the_token(client):
    assert client.post("/v1/jobs", json={}).status_code == 401
    wrong = client.post("/v1/jobs", json={}, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "token" in wrong.json()["detail"]
    assert client.get("/v1/jobs").json()["jobs"] == []


@pytest.mark.parametrize(
    ("body", "field", "allowed"),
    [
        ({"steps": 0}, "steps", "greater than or equal to 1"),
        ({"steps": 10**9}, "steps", "less than or equal to 200000"),
        ({"batch_size": 5000}, "batch_size", "less than or equal to 1024"),
        ({"architecture": "gpt"}, "architecture", "allowed: mlp"),
        ({"dataset": "cifar"}, "dataset", "allowed: mnist-5k"),
        ({"learning_rate": -1}, "learning_rate", "greater than 0"),
        ({"colour": "red"}, "colour", "Extra inputs are not permitted"),
    ],
)
def test_bad_job_requests_say_what_is_allowed_and_change_nothing(client, body, field, allowed):
    response = client.post("/v1/jobs", json=body, headers=AUTH)
    assert response.status_code == 422
    assert field in response.json()["detail"] and allowed in response.json()["detail"]
    assert client.get("/v1/jobs").json()["jobs"] == []


def test_unknown_job_is_404(client):
    response = client.get("/v1/jobs/does-not-exist")
    assert response.status_code == 404 and "does-not-exist" in response.json()["detail"]


def test_sampling_without_a_checkpoint_is_a_clear_404(client):
    response = client.get("/v1/samples.png?n=4")
    assert response.status_code == 404
    assert "no checkpoint" in response.json()["detail"]


@pytest.mark.parametrize("query", ["n=0", "n=257", "seed=-1", "cols=0", "n=abc"])
def test_sampling_parameters_are_bounded(client, query):
    response = client.get(f"/v1/samples.png?{query}")
    assert response.status_code == 422 and response.json()["detail"]


def test_a_queued_job_is_listed_and_can_be_cancelled_once(client):
    job = client.post("/v1/jobs", json={"steps": 10}, headers=AUTH).json()
    assert job["state"] == "queued" and isinstance(job["spec"]["seed"], int)
    assert [j["id"] for j in client.get("/v1/jobs").json()["jobs"]] == [job["id"]]

    assert client.post(f"/v1/jobs/{job['id']}/cancel").status_code == 401
    cancelled = client.post(f"/v1/jobs/{job['id']}/cancel", headers=AUTH)
    assert cancelled.status_code == 202 and cancelled.json()["state"] == "cancelled"
    again = client.post(f"/v1/jobs/{job['id']}/cancel", headers=AUTH)
    assert again.status_code == 409 and "already ended" in again.json()["detail"]
