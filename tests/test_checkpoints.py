"""Checkpoint listing and aliases: pin a known-good model while training goes on."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from digitgan.checkpoints import CheckpointStore, LeaseLost
from digitgan.leases import JobLease
from models.bundled import content_id
from models.checkpoint import from_bytes, to_bytes
from tests.conftest import private_settings
from tests.support import AUTH
from tests.support.checkpoints import publish, publish_trained, untrained_blob
from tests.support.waiting import served_by, wait_until


def test_listing_is_newest_first_with_latest_and_aliases(client, checkpoints):
    empty = client.get("/v1/checkpoints").json()
    assert empty["checkpoints"] == [] and empty["latest"] is None and empty["total"] == 0
    first = publish(checkpoints, "cmlp", "cmlp-a")
    second = publish(checkpoints, "mlp", "mlp-a")
    client.put("/v1/aliases/production", json={"checkpoint_id": first}, headers=AUTH)

    listed = client.get("/v1/checkpoints").json()
    assert [c["id"] for c in listed["checkpoints"]] == [second, first]
    assert listed["latest"] == second and listed["total"] == 2
    assert listed["aliases"] == {"production": first}
    assert listed["checkpoints"][1]["aliases"] == ["production"]
    assert listed["checkpoints"][1]["meta"]["architecture"] == "cmlp"
    page = client.get("/v1/checkpoints?limit=1&offset=1").json()
    assert [c["id"] for c in page["checkpoints"]] == [first]


def test_one_checkpoint_by_id_alias_or_latest(client, checkpoints):
    checkpoint_id = publish(checkpoints, "cmlp", "cmlp-a")
    client.put("/v1/aliases/production", json={"checkpoint_id": checkpoint_id}, headers=AUTH)
    for ref in (checkpoint_id, "production", "latest"):
        got = client.get(f"/v1/checkpoints/{ref}").json()
        assert got["id"] == checkpoint_id and got["aliases"] == ["latest", "production"]
        assert got["meta"]["step"] == 1
    missing = client.get("/v1/checkpoints/nope")
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]


def test_an_alias_pins_a_checkpoint_while_new_ones_are_published(client, checkpoints, settings):
    pinned = publish(checkpoints, "cmlp", "cmlp-a")
    put = client.put("/v1/aliases/production", json={"checkpoint_id": pinned}, headers=AUTH)
    assert put.status_code == 200 and put.json() == {"name": "production", "checkpoint_id": pinned}

    with TestClient(create_app(settings)) as other:
        url = "/v1/digits/1.png?seed=1&checkpoint=production"
        newer = publish(checkpoints, "cmlp", "cmlp-b")
        wait_until(lambda: served_by(other, "/v1/digits/1.png?seed=1") == newer, 5)
        assert served_by(client, url) == served_by(other, url) == pinned
        assert client.get(url).headers["cache-control"] == "public, max-age=60"

        # Moved through one process: the other follows.
        client.put("/v1/aliases/production", json={"checkpoint_id": newer}, headers=AUTH)
        wait_until(lambda: served_by(other, url) == newer, 5)

        assert client.delete("/v1/aliases/production", headers=AUTH).status_code == 204
        assert client.get(url).status_code == 404
        assert client.delete("/v1/aliases/production", headers=AUTH).status_code == 404


@pytest.mark.parametrize(
    ("name", "body", "headers", "code", "says"),
    [
        ("production", {"checkpoint_id": "cmlp-a"}, {}, 401, "token"),
        ("production", {"checkpoint_id": "cmlp-a"}, {"Authorization": "Bearer no"}, 401, "token"),
        ("production", {"checkpoint_id": "nope"}, AUTH, 404, "nope"),
        ("Prod!", {"checkpoint_id": "cmlp-a"}, AUTH, 422, "pattern"),
        ("latest", {"checkpoint_id": "cmlp-a"}, AUTH, 422, "latest"),
        ("production", {"checkpoint": "cmlp-a"}, AUTH, 422, "checkpoint_id"),
    ],
)
def test_bad_alias_requests_change_nothing(client, checkpoints, name, body, headers, code, says):
    publish(checkpoints, "cmlp", "cmlp-a")
    response = client.put(f"/v1/aliases/{name}", json=body, headers=headers)
    assert response.status_code == code and says in response.json()["detail"]
    assert client.get("/v1/aliases").json() == []


def test_a_checkpoint_id_is_written_once_and_never_overwritten(checkpoints):
    first = untrained_blob("cmlp", "same-id")
    other_weights = untrained_blob("mlp", "other")
    _, stored = checkpoints.publish(first)
    assert stored
    meta, _ = from_bytes(other_weights)
    renamed = to_bytes(meta | {"id": "same-id"}, from_bytes(other_weights)[1])
    _, stored_again = checkpoints.publish(renamed)
    assert not stored_again and checkpoints.blob("same-id") == first


def test_publishing_needs_the_jobs_lease_in_the_same_step(checkpoints, redis_client, settings):
    lease = JobLease(redis_client, settings.redis_prefix, "job-x", ttl_s=30)
    with pytest.raises(LeaseLost):  # not taken
        checkpoints.publish(untrained_blob("cmlp", "x-1"), lease=lease)
    assert not checkpoints.exists("x-1") and checkpoints.stored_bytes() == 0
    assert lease.acquire()
    checkpoints.publish(untrained_blob("cmlp", "x-1"), lease=lease)
    assert checkpoints.exists("x-1")


def test_stored_bytes_count_weights_and_states_and_go_back_on_delete(checkpoints):
    blob = untrained_blob("cmlp", "counted")
    checkpoints.publish(blob, b"s" * 1000)
    assert checkpoints.stored_bytes() == len(blob) + 1000
    checkpoints.drop_training_state("counted")
    assert checkpoints.stored_bytes() == len(blob)
    assert checkpoints.delete("counted")
    assert checkpoints.stored_bytes() == 0 and not checkpoints.exists("counted")


def test_deleting_a_checkpoint_needs_the_token_and_spares_latest_and_aliases(client, checkpoints):
    pinned = publish(checkpoints, "cmlp", "pinned")
    spare = publish(checkpoints, "cmlp", "spare")
    newest = publish(checkpoints, "cmlp", "newest")
    client.put("/v1/aliases/production", json={"checkpoint_id": pinned}, headers=AUTH)

    assert client.delete(f"/v1/checkpoints/{spare}").status_code == 401
    in_use = client.delete(f"/v1/checkpoints/{newest}", headers=AUTH)
    assert in_use.status_code == 409 and "`latest`" in in_use.json()["detail"]
    aliased = client.delete(f"/v1/checkpoints/{pinned}", headers=AUTH)
    assert (
        aliased.status_code == 409 and "DELETE /v1/aliases/production" in aliased.json()["detail"]
    )
    assert client.delete(f"/v1/checkpoints/{spare}", headers=AUTH).status_code == 204
    assert client.delete(f"/v1/checkpoints/{spare}", headers=AUTH).status_code == 404
    assert [c["id"] for c in client.get("/v1/checkpoints").json()["checkpoints"]] == [
        newest,
        pinned,
    ]


def test_pruning_a_job_keeps_its_newest_and_whatever_is_aliased(checkpoints):
    ids = publish_trained(checkpoints, "pruned", steps=5)
    checkpoints.set_alias("keepme", ids[0])
    assert checkpoints.prune_job("pruned", keep=2) == ids[1:3]
    assert checkpoints.job_checkpoint_ids("pruned") == [ids[0], *ids[3:]]


def test_the_bundled_model_fills_an_empty_store_once_and_only_an_empty_one(
    checkpoints, settings, redis_client
):
    bundled_id = checkpoints.publish_bundled()
    meta = checkpoints.meta(bundled_id)
    assert bundled_id.startswith("bundled-") and checkpoints.latest_id() == bundled_id
    assert bundled_id == content_id(from_bytes(checkpoints.blob(bundled_id))[1])
    assert meta["evaluation"]["verdict"]
    assert checkpoints.publish_bundled() is None  # a no-op the second time
    assert checkpoints.count() == 1

    other = CheckpointStore(redis_client, settings.redis_prefix + "-other")
    publish(other)
    assert other.publish_bundled() is None and other.count() == 1


def test_a_fresh_service_serves_the_bundled_model_at_once(redis_server):
    with TestClient(create_app(private_settings(redis_server, publish_bundled=True))) as client:
        first = client.get("/v1/digits/7.png?seed=1")  # the very first request
        assert first.status_code == 200
        assert first.headers["x-checkpoint-id"].startswith("bundled-")
