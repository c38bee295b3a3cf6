"""Checkpoint listing and aliases: pin a known-good model while training goes on."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from tests.support import AUTH
from tests.support.checkpoints import publish
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
