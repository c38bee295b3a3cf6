"""The acceptance story: train through the HTTP API with a real worker, then sample."""

from __future__ import annotations

import io

from PIL import Image

from tests.support import AUTH
from tests.support.waiting import finished, serves


def test_train_over_http_then_sample(client, worker):
    assert client.get("/v1/samples.png").status_code == 404

    created = client.post(
        "/v1/jobs",
        json={"architecture": "mlp", "steps": 120, "checkpoint_every": 60, "seed": 3},
        headers=AUTH,
    )
    assert created.status_code == 202, created.text
    job = created.json()
    assert job["state"] == "queued"
    assert created.headers["location"] == job["url"]

    job = finished(client, job["id"])
    assert job["state"] == "succeeded", job
    assert [t["state"] for t in job["history"]] == ["queued", "running", "succeeded"]
    assert job["created_at"] <= job["started_at"] <= job["finished_at"]
    assert job["progress"]["step"] == 120
    assert job["progress"]["images_per_second"] > 0
    assert job["device"] in ("cpu", "cuda:0") and job["attempt"] == 1
    assert job["checkpoint_id"].endswith("0000120")

    # The API follows a new checkpoint within its refresh interval.
    serves(client, job["checkpoint_id"])
    first = client.get("/v1/samples.png?n=16&seed=1")
    assert first.status_code == 200
    assert first.headers["content-type"] == "image/png"
    assert first.headers["x-checkpoint-id"] == job["checkpoint_id"]
    image = Image.open(io.BytesIO(first.content))
    assert image.size == (4 * 30 + 2, 4 * 30 + 2)
    assert client.get("/v1/samples.png?n=16&seed=1").content == first.content
    assert client.get("/v1/samples.png?n=16&seed=2").content != first.content
