"""Uploaded data sets over HTTP, and jobs that train on them or start from a checkpoint."""

from __future__ import annotations

import io
import threading

from PIL import Image

from digitgan.queue import create_celery
from tests.support import AUTH, FAST, TINY
from tests.support.checkpoints import publish, publish_trained
from tests.support.uploads import digits_zip, idx_pair
from tests.test_limits import app_with
from worker.attempt import run_attempt


def upload_zip(client, data: bytes, headers=AUTH):
    return client.post(
        "/v1/datasets", files={"file": ("mine.zip", data, "application/zip")}, headers=headers
    )


def test_upload_list_preview_and_delete_a_zip_of_digits(client, checkpoints):
    created = upload_zip(client, digits_zip(3))
    assert created.status_code == 201, created.text
    dataset = created.json()
    assert dataset["count"] == 30 and dataset["per_digit"] == [3] * 10
    assert dataset["dataset"] == f"upload:{dataset['id']}" and dataset["name"] == "mine.zip"
    assert checkpoints.stored_bytes() == dataset["bytes"]  # counted in the store's budget
    again = upload_zip(client, digits_zip(3))  # the same digits: the same data set
    assert again.status_code == 200 and again.json()["id"] == dataset["id"]

    listed = client.get("/v1/datasets").json()
    assert listed["total"] == 1 and listed["datasets"][0]["id"] == dataset["id"]
    assert client.get(f"/v1/datasets/{dataset['id']}").json()["count"] == 30
    preview = client.get(dataset["preview_url"])
    assert preview.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(preview.content)).size == (10 * 30 + 2, 10 * 30 + 2)

    assert client.delete(f"/v1/datasets/{dataset['id']}").status_code == 401
    assert client.delete(f"/v1/datasets/{dataset['id']}", headers=AUTH).status_code == 204
    assert client.get(f"/v1/datasets/{dataset['id']}").status_code == 404
    assert checkpoints.stored_bytes() == 0


def test_an_idx_pair_uploads_too(client):
    images, labels = idx_pair(20)
    created = client.post(
        "/v1/datasets",
        files={"images": ("i.gz", images), "labels": ("l", labels)},
        headers=AUTH,
    )
    assert created.status_code == 201 and created.json()["per_digit"] == [2] * 10


def test_bad_uploads_are_refused_and_store_nothing(settings, client, checkpoints):
    assert upload_zip(client, digits_zip(3), headers={}).status_code == 401
    not_zip = upload_zip(client, b"not a zip at all")
    assert not_zip.status_code == 422 and "zip" in not_zip.json()["detail"]
    neither = client.post("/v1/datasets", files={"labels": ("l", b"x")}, headers=AUTH)
    assert neither.status_code == 422 and "either `file`" in neither.json()["detail"]
    with app_with(settings, max_upload_bytes=4096) as small:
        too_big = upload_zip(small, digits_zip(3))
        assert too_big.status_code == 413 and "at most 4096" in too_big.json()["detail"]
    with app_with(settings, store_budget_bytes=2**20) as full:
        publish(checkpoints)  # about 6 MB already
        refused = upload_zip(full, digits_zip(3))
        assert refused.status_code == 507 and "DELETE /v1/datasets" in refused.json()["detail"]
    assert client.get("/v1/datasets").json()["total"] == 0


def test_a_job_fine_tunes_a_checkpoint_on_an_uploaded_data_set(
    settings, client, checkpoints, jobs, redis_client
):
    settings = settings.model_copy(update=FAST)
    start = publish_trained(checkpoints, "base", architecture="cmlp")[-1]
    client.put("/v1/aliases/production", json={"checkpoint_id": start}, headers=AUTH)
    dataset = upload_zip(client, digits_zip(3)).json()

    body = TINY | {"architecture": None, "dataset": dataset["dataset"], "init_from": "production"}
    job = client.post("/v1/jobs", json=body | {"steps": 6, "checkpoint_every": 3}, headers=AUTH)
    assert job.status_code == 202, job.text
    spec = job.json()["spec"]
    assert spec["init_from"] == start and spec["architecture"] == "cmlp"  # the checkpoint's
    assert spec["publish"] is False  # fine-tuning moves `latest` only when asked

    # The data set is in use while the job waits.
    busy = client.delete(f"/v1/datasets/{dataset['id']}", headers=AUTH)
    assert busy.status_code == 409 and job.json()["id"] in busy.json()["detail"]

    run_attempt(
        redis_client, settings, create_celery(settings), job.json()["id"], threading.Event()
    )
    done = jobs.get(job.json()["id"])
    assert done.state == "succeeded", done.error
    assert checkpoints.latest_id() == start
    assert checkpoints.meta(done.checkpoint_id)["init_from"] == start
    assert done.evaluation["data_frechet_distance"] > 0
    assert 0 <= done.evaluation["data_classifier_accuracy"] <= 1


def test_starting_points_are_checked_before_a_job_is_queued(client, checkpoints):
    start = publish_trained(checkpoints, "base", architecture="cmlp")[-1]

    def post(body):
        return client.post("/v1/jobs", json={"steps": 10} | body, headers=AUTH)

    other = post({"init_from": start, "architecture": "dcgan"})
    assert other.status_code == 422 and "'cmlp'" in other.json()["detail"]
    both = post({"init_from": start, "resume_from": start})
    assert both.status_code == 422 and "not both" in both.json()["detail"]
    missing = post({"init_from": "nope"})
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]
    no_data = post({"dataset": "upload:0123456789abcdef"})
    assert no_data.status_code == 404 and "GET /v1/datasets" in no_data.json()["detail"]
    assert client.get("/v1/jobs").json()["total"] == 0
