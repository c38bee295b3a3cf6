"""The image endpoints over HTTP: bytes, headers, caching, bounds, following checkpoints."""

from __future__ import annotations

import io

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.main import create_app
from app.state import services
from models.networks import build_generator
from models.sampling import InkRequest, draw
from tests.support.checkpoints import publish, solid_blob
from tests.support.waiting import served_by, wait_until


def png(response) -> Image.Image:
    assert response.headers["content-type"] == "image/png"
    assert int(response.headers["content-length"]) == len(response.content)
    return Image.open(io.BytesIO(response.content))


@pytest.fixture
def cmlp(checkpoints) -> str:
    return publish(checkpoints, "cmlp", "cmlp-a")


def test_a_digit_is_deterministic_and_cacheable(client, cmlp):
    first = client.get("/v1/digits/7.png?seed=5")
    assert first.status_code == 200 and png(first).size == (28, 28)
    assert first.headers["x-checkpoint-id"] == cmlp
    # It follows `latest`, which moves: a short max-age.
    assert first.headers["cache-control"] == "public, max-age=60"
    again = client.get("/v1/digits/7.png?seed=5")
    assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
    assert client.get("/v1/digits/7.png?seed=6").content != first.content
    assert client.get("/v1/digits/1.png?seed=5").content != first.content

    pinned = client.get(f"/v1/digits/7.png?seed=5&checkpoint={cmlp}")
    assert pinned.content == first.content
    assert pinned.headers["cache-control"] == "public, max-age=31536000, immutable"


@pytest.mark.parametrize("if_none_match", ["{etag}", "W/{etag}", '"other", {etag}', "*"])
def test_if_none_match_is_304_without_a_body(client, cmlp, if_none_match):
    etag = client.get("/v1/digits/3.png?seed=1").headers["etag"]
    response = client.get(
        "/v1/digits/3.png?seed=1", headers={"If-None-Match": if_none_match.format(etag=etag)}
    )
    assert response.status_code == 304 and response.content == b""
    assert response.headers["etag"] == etag
    other = client.get("/v1/digits/3.png?seed=1", headers={"If-None-Match": '"other"'})
    assert other.status_code == 200


def test_without_a_seed_nothing_is_stored_but_the_seed_is_told(client, cmlp):
    response = client.get("/v1/digits/4.png")
    assert response.headers["cache-control"] == "no-store" and "etag" not in response.headers
    seed = response.headers["x-seed"]
    assert client.get(f"/v1/digits/4.png?seed={seed}").content == response.content


@pytest.mark.parametrize(
    "url", ["/v1/digits/2.png?seed=3", "/v1/numbers/42.png?seed=3", "/v1/samples.png?seed=3"]
)
def test_head_has_the_headers_of_get_and_no_body(client, cmlp, url):
    got, head = client.get(url), client.head(url)
    assert head.status_code == 200 and head.content == b""
    for name in ("content-type", "content-length", "etag", "cache-control", "x-checkpoint-id"):
        assert head.headers[name] == got.headers[name]


def test_a_number_is_one_strip_in_one_hand(client, cmlp):
    strip = client.get("/v1/numbers/2026.png?seed=9")
    assert png(strip).size == (4 * 28, 28)
    # One noise vector for every character: the same digit twice is drawn the same.
    ink = np.asarray(png(client.get("/v1/numbers/77.png?seed=9")).convert("L"))
    assert np.array_equal(ink[:, :28], ink[:, 28:])
    assert not np.array_equal(ink, np.asarray(png(client.get("/v1/numbers/71.png?seed=9"))))
    # ...and a one-digit number is that digit.
    one = client.get("/v1/numbers/7.png?seed=9").content
    assert one == client.get("/v1/digits/7.png?seed=9").content


def test_grids_of_one_digit_or_a_digit_per_row(client, cmlp):
    plain = client.get("/v1/samples.png?n=6&cols=3&seed=1")
    assert png(plain).size == (3 * 30 + 2, 2 * 30 + 2)
    sevens = client.get("/v1/samples.png?n=6&cols=3&seed=1&digit=7")
    rows = client.get("/v1/samples.png?n=6&cols=3&seed=1&rows=true")
    assert len({plain.content, sevens.content, rows.content}) == 3
    assert png(rows).size == png(sevens).size


def test_size_scales_crisp_by_default_and_smooth_on_request(client, cmlp):
    small = np.asarray(png(client.get("/v1/digits/5.png?seed=2")).convert("L"))
    big = client.get("/v1/digits/5.png?seed=2&size=112")
    assert png(big).size == (112, 112)
    crisp = np.asarray(png(big).convert("L"))
    assert np.array_equal(crisp[::4, ::4], small)
    smooth = client.get("/v1/digits/5.png?seed=2&size=112&smooth=true")
    assert png(smooth).size == (112, 112) and smooth.content != big.content
    assert (
        big.headers["etag"]
        != smooth.headers["etag"]
        != client.get("/v1/digits/5.png?seed=2").headers.get("etag")
    )
    wide = client.get("/v1/numbers/123.png?seed=2&size=56")
    assert png(wide).size == (3 * 56, 56)


def test_colours_and_a_transparent_background(client, checkpoints):
    checkpoints.publish(solid_blob("solid"), latest=True)  # every digit pixel is full ink
    image = png(client.get("/v1/samples.png?n=4&seed=1&fg=ff0000&bg=transparent"))
    rgba = np.asarray(image.convert("RGBA"))
    assert rgba[0, 0].tolist() == [255, 255, 255, 0]  # the paper border
    assert rgba[2:30, 2:30].reshape(-1, 4).tolist() == [[255, 0, 0, 255]] * 28 * 28
    dark = png(client.get("/v1/samples.png?n=4&seed=1&fg=ffffff&bg=102030"))
    rgb = np.asarray(dark.convert("RGB"))
    assert rgb[0, 0].tolist() == [0x10, 0x20, 0x30] and rgb[2, 2].tolist() == [255, 255, 255]
    grey = np.asarray(png(client.get("/v1/digits/1.png?seed=1")).convert("L"))
    assert (grey == 0).all()  # black ink on white paper, the default


def test_digits_an_unconditional_checkpoint_cannot_draw_are_a_clear_409(client, checkpoints):
    # Digits of an mlp checkpoint are picked by the classifier (tests/test_models_stabilisers
    # shows it on real digits); an untrained one draws noise, so none are found in the
    # bounded number of tries.
    publish(checkpoints, "mlp", "mlp-a")
    assert client.get("/v1/samples.png?n=4&seed=1").status_code == 200
    for url in ("/v1/digits/3.png", "/v1/numbers/12.png", "/v1/samples.png?digit=1"):
        response = client.get(url)
        assert response.status_code == 409
        assert "unconditional" in response.json()["detail"] and "cmlp" in response.json()["detail"]


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("/v1/digits/10.png", "less than or equal to 9"),
        ("/v1/digits/x.png", "valid integer"),
        ("/v1/numbers/12a.png", "pattern"),
        (f"/v1/numbers/{'1' * 33}.png", "pattern"),
        ("/v1/digits/1.png?size=4", "greater than or equal to 8"),
        ("/v1/digits/1.png?size=5000", "less than or equal to 1024"),
        ("/v1/numbers/12345678.png?size=1024", "size <= 724"),
        ("/v1/samples.png?n=256&cols=256&size=1000", "pixels"),
        ("/v1/digits/1.png?fg=red", "pattern"),
        ("/v1/digits/1.png?bg=%23ffffff", "pattern"),
        ("/v1/digits/1.png?seed=-1", "greater than or equal to 0"),
        ("/v1/digits/1.png?checkpoint=..%2Fx", "pattern"),
        ("/v1/samples.png?n=257", "less than or equal to 256"),
        ("/v1/samples.png?digit=3&rows=true", "not both"),
    ],
)
def test_out_of_bounds_is_a_422_that_says_what_is_allowed(client, cmlp, url, allowed):
    response = client.get(url)
    assert response.status_code == 422, response.text
    assert allowed in response.json()["detail"]


def test_unknown_checkpoint_is_404_and_none_yet_is_404(client):
    none_yet = client.get("/v1/digits/1.png")
    assert none_yet.status_code == 404 and "no checkpoint" in none_yet.json()["detail"]
    response = client.get("/v1/digits/1.png?checkpoint=nope")
    assert response.status_code == 404 and "nope" in response.json()["detail"]


def test_a_new_checkpoint_is_served_by_every_process_without_restart(
    client, checkpoints, settings, cmlp
):
    with TestClient(create_app(settings)) as other:
        url = "/v1/digits/8.png?seed=1"
        assert served_by(client, url) == served_by(other, url) == cmlp
        newer = publish(checkpoints, "cmlp", "cmlp-b")
        wait_until(lambda: served_by(client, url) == newer and served_by(other, url) == newer, 5)
        # The older one is still there by id.
        assert served_by(client, f"{url}&checkpoint={cmlp}") == cmlp


def test_a_corrupt_new_checkpoint_is_refused_and_the_last_good_one_served(
    client, redis_client, keys, cmlp
):
    url = "/v1/digits/8.png?seed=1"
    before = client.get(url).content
    # Only a writer that skips publish()'s check could do this; the API must survive it.
    redis_client.set(keys.checkpoint_blob("broken"), b"not a checkpoint")
    redis_client.set(keys.latest, "broken")
    services(client.app).models.refresh()
    response = client.get(url)
    assert response.headers["x-checkpoint-id"] == cmlp and response.content == before


def test_batching_never_changes_the_bytes():
    generator = build_generator("cmlp").eval()
    requests = [InkRequest(1, 5, (3,)), InkRequest(7, 1), InkRequest(40, 2, one_style=True)]
    together = draw(generator, requests)
    for request, ink in zip(requests, together, strict=True):
        assert np.array_equal(draw(generator, [request])[0], ink)


def test_the_image_cache_is_bounded_in_bytes(checkpoints, settings):
    small = settings.model_copy(update={"image_cache_bytes": 4000})
    publish(checkpoints, "cmlp", "cmlp-a")
    with TestClient(create_app(small)) as client:
        for seed in range(8):
            assert client.get(f"/v1/digits/1.png?seed={seed}").status_code == 200
        cache = services(client.app).image_cache
        assert 0 < cache.currsize <= 4000 and len(cache) < 8


def test_cors_lets_pages_read_images_but_not_change_things(client, cmlp):
    origin = {"Origin": "https://example.org"}
    image = client.get("/v1/digits/1.png?seed=1", headers=origin)
    assert image.headers["access-control-allow-origin"] == "*"
    assert "etag" in image.headers["access-control-expose-headers"].lower()
    preflight = client.options(
        "/v1/aliases/production",
        headers=origin | {"Access-Control-Request-Method": "PUT"},
    )
    assert preflight.status_code == 400


def test_cors_origins_come_from_settings(redis_client, settings):
    only = settings.model_copy(update={"cors_origins": ["https://digits.example"]})
    with TestClient(create_app(only)) as client:
        allowed = client.get("/healthz", headers={"Origin": "https://digits.example"})
        assert allowed.headers["access-control-allow-origin"] == "https://digits.example"
        other = client.get("/healthz", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_a_repeated_request_gets_the_same_answer_from_memory(client, cmlp, monkeypatch):
    url = "/v1/numbers/2026.png?seed=9&size=56&bg=transparent"
    first = client.get(url)

    def routed(*args, **kwargs):
        raise AssertionError("a repeated request reached the route")

    # From here on, a request that gets past app/repeats.py fails.
    monkeypatch.setattr("app.routes.images._serve", routed)
    origin = {"Origin": "https://example.org"}
    again, head = client.get(url, headers=origin), client.head(url, headers=origin)
    assert again.content == first.content and head.content == b""
    for name in ("etag", "cache-control", "content-type", "content-length", "x-checkpoint-id"):
        assert again.headers[name] == first.headers[name] == head.headers[name]
    assert again.headers["access-control-allow-origin"] == "*"
    not_modified = client.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert not_modified.status_code == 304 and not_modified.content == b""
