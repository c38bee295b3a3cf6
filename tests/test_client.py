"""digitgan.client.Client: typed answers and errors through the real ASGI app, then over
the network against a real uvicorn API and Celery worker, including an event stream
that follows a job across an API restart."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from PIL import Image as PILImage
from pydantic import ValidationError

from digitgan.cli.serve import free_port
from digitgan.client import (
    ApiError,
    Client,
    Conflict,
    Invalid,
    NotFound,
    StateEvent,
    Unauthorized,
    UnavailableEvent,
    Unreachable,
)
from digitgan.jobs import JobState
from digitgan.schemas import (
    AliasOut,
    CheckpointList,
    CheckpointOut,
    DatasetList,
    DatasetOut,
    JobList,
    JobOut,
    LossHistoryOut,
)
from tests.conftest import private_settings
from tests.support import FAST, TINY, TOKEN
from tests.support.checkpoints import publish, untrained_blob
from tests.support.processes import kill_tree, running_service, start_api, start_worker, stop
from tests.support.uploads import digits_zip, idx_pair
from tests.support.waiting import serves

NO_JOB = "0" * 32


def png_size(png: bytes) -> tuple[int, int]:
    image = PILImage.open(io.BytesIO(png))
    assert image.format == "PNG"
    return image.size


# ---- through the ASGI app ------------------------------------------------------------


@pytest.fixture
def api(client) -> Iterator[Client]:
    """A Client on the real app in this process: the TestClient (conftest's `client`)
    has started its lifespan, and its transport calls the app directly."""
    with Client("http://testserver", TOKEN, transport=client._transport) as typed:
        yield typed


def test_jobs_answer_typed_records_and_errors_carry_status_and_detail(api, client):
    assert api.jobs() == JobList(jobs=[], total=0, limit=50, offset=0, state=None)

    job = api.submit(**TINY)
    assert isinstance(job, JobOut) and job.state == JobState.queued
    assert (job.spec.architecture, job.spec.steps, job.spec.seed) == ("mlp", 40, 1)
    assert job.url == f"http://testserver/v1/jobs/{job.id}"
    assert api.job(job.id).spec == job.spec
    assert [j.id for j in api.jobs(state="queued").jobs] == [job.id]
    assert api.jobs(state=JobState.running).total == 0

    # A misspelt field is refused here, before anything is sent.
    with pytest.raises(ValidationError, match="stepz"):
        api.submit(stepz=40)
    assert api.jobs().total == 1

    with pytest.raises(Invalid) as invalid:  # the API's own check across fields
        api.submit(steps=1000, checkpoint_every=1)
    assert invalid.value.status == 422
    assert invalid.value.detail.startswith("checkpoint_every: ")
    assert "at least 20 for 1000 steps" in invalid.value.detail
    # Not closed: closing it would close the transport it shares with `api`.
    wrong = Client("http://testserver", "wrong-token", transport=client._transport)
    with pytest.raises(Unauthorized) as unauthorized:
        wrong.submit(**TINY)
    assert unauthorized.value.status == 401 and "wrong token" in unauthorized.value.detail
    with pytest.raises(NotFound) as missing:
        api.job(NO_JOB)
    assert (missing.value.status, missing.value.detail) == (404, f"no job with id {NO_JOB!r}")
    assert str(missing.value) == f"404: no job with id {NO_JOB!r}"

    cancelled = api.cancel(job.id)
    assert cancelled.state == JobState.cancelled and cancelled.cancel_requested
    with pytest.raises(Conflict, match="already ended: cancelled") as ended:
        api.cancel(job.id)
    assert isinstance(ended.value, ApiError) and ended.value.status == 409
    assert api.losses(job.id) == LossHistoryOut(job_id=job.id, points=[])

    # A finished job's stream is its final record, and then it ends.
    events = list(api.events(job.id))
    assert [(type(e), e.kind) for e in events] == [(StateEvent, "state")]
    assert events[0].job.state == JobState.cancelled
    assert api.wait(job.id).state == JobState.cancelled
    with pytest.raises(NotFound):  # a 4xx ends the stream, not retried
        next(api.events(NO_JOB))


def test_checkpoints_aliases_and_images(api, client, checkpoints):
    first = publish(checkpoints, "cmlp", "a")
    serves(client, first)
    listed = api.checkpoints()
    assert isinstance(listed, CheckpointList) and listed.latest == "a" and listed.total == 1
    assert [(c.id, c.aliases) for c in listed.checkpoints] == [("a", ["latest"])]
    assert api.checkpoint().meta["architecture"] == "cmlp"

    assert api.set_alias("prod", "a") == AliasOut(name="prod", checkpoint_id="a")
    assert api.aliases() == [AliasOut(name="prod", checkpoint_id="a")]
    pinned = api.checkpoint("prod")
    assert isinstance(pinned, CheckpointOut) and pinned.aliases == ["latest", "prod"]

    grid = api.samples(4, seed=3, cols=4, checkpoint="prod")
    assert (grid.checkpoint_id, grid.seed) == ("a", 3)
    assert png_size(grid.png) == (4 * 28 + 5 * 2, 28 + 2 * 2)  # 4 digits, 2 px apart
    drawn = api.samples(4)  # no seed: the API picks one and says which
    assert api.samples(4, seed=drawn.seed).png == drawn.png
    assert png_size(api.digit(7, seed=1, size=56).png) == (56, 56)
    assert png_size(api.number(2026, seed=1).png) == (4 * 28, 28)
    with pytest.raises(Invalid, match="either digit or rows"):
        api.samples(2, digit=3, rows=True)

    with pytest.raises(Conflict, match="latest"):
        api.delete_checkpoint("a")
    api.delete_alias("prod")
    with pytest.raises(NotFound, match="no alias named 'prod'"):
        api.delete_alias("prod")
    checkpoints.publish(untrained_blob("cmlp", "b"), latest=False)
    api.delete_checkpoint("b")
    with pytest.raises(NotFound, match="'b'"):
        api.checkpoint("b")


def test_datasets_upload_list_and_delete(api, tmp_path):
    archive = tmp_path / "mine.zip"
    archive.write_bytes(digits_zip(per_digit=3))
    uploaded = api.upload_dataset(archive)
    assert isinstance(uploaded, DatasetOut)
    assert (uploaded.name, uploaded.count, uploaded.per_digit) == ("mine.zip", 30, [3] * 10)
    assert uploaded.dataset == f"upload:{uploaded.id}"
    assert api.upload_dataset(str(archive)).id == uploaded.id  # the same digits: one set

    images, labels = idx_pair(n=20)
    (tmp_path / "images.gz").write_bytes(images)
    (tmp_path / "labels").write_bytes(labels)
    pair = api.upload_dataset(images=tmp_path / "images.gz", labels=tmp_path / "labels")
    assert (pair.name, pair.count, pair.per_digit) == ("images.gz", 20, [2] * 10)

    listed = api.datasets()
    assert isinstance(listed, DatasetList) and listed.total == 2
    assert {d.id for d in listed.datasets} == {uploaded.id, pair.id}
    assert api.dataset(uploaded.id) == uploaded

    with pytest.raises(ValueError, match="both images and labels"):
        api.upload_dataset(images=tmp_path / "images.gz")
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    with pytest.raises(Invalid, match="not a zip file"):
        api.upload_dataset(tmp_path / "bad.zip")

    job = api.submit(**TINY, dataset=uploaded.dataset)
    assert job.spec.dataset == uploaded.dataset and not job.spec.publish
    with pytest.raises(Conflict, match=f"job {job.id} \\(queued\\) trains on"):
        api.delete_dataset(uploaded.id)
    api.cancel(job.id)
    api.delete_dataset(uploaded.id)
    with pytest.raises(NotFound, match="no uploaded data set"):
        api.dataset(uploaded.id)
    assert [d.id for d in api.datasets().datasets] == [pair.id]


# ---- over the network, against real processes ----------------------------------------


@pytest.fixture(scope="module")
def service(redis_server, tmp_path_factory) -> Iterator[str]:
    """A uvicorn API and a worker, shared by the network tests; their URL."""
    settings = private_settings(redis_server, **FAST)
    with running_service(settings, tmp_path_factory.mktemp("client")) as url:
        yield url


def test_fine_tune_on_an_uploaded_zip_then_serve_it_by_alias(service, tmp_path):
    with Client(service, TOKEN) as api:
        base = api.submit(**TINY)
        events = list(api.events(base.id))
        assert isinstance(events[0], StateEvent)
        last = events[-1]
        assert isinstance(last, StateEvent) and last.job.state == JobState.succeeded
        assert last.job.checkpoint_id == f"{base.id}-0000040"
        assert not any(
            isinstance(e, StateEvent) and e.job.state == "succeeded" for e in events[:-1]
        )

        archive = tmp_path / "mine.zip"
        archive.write_bytes(digits_zip(per_digit=3))
        mine = api.upload_dataset(archive)
        tuned = api.submit(**TINY, dataset=mine.dataset, init_from="latest")
        assert tuned.spec.init_from == last.job.checkpoint_id and not tuned.spec.publish
        final = api.wait(tuned.id)
        assert final.state == JobState.succeeded, final.error
        assert final.checkpoint_id == f"{tuned.id}-0000040"
        assert api.losses(tuned.id).points[-1][0] == 40
        assert api.checkpoints().latest == last.job.checkpoint_id  # not published

        api.set_alias("mine", final.checkpoint_id)
        image = api.samples(4, seed=1, checkpoint="mine")
        assert image.checkpoint_id == final.checkpoint_id and png_size(image.png)[0] > 28


def test_events_follow_a_job_across_an_api_restart(redis_server, tmp_path):
    settings = private_settings(redis_server, **FAST)
    url = f"http://127.0.0.1:{free_port()}"
    server = start_api(settings, tmp_path / "api.log", url)
    worker = None
    try:
        with Client(url, TOKEN) as api:
            # No worker yet: the job waits, queued, however slow the restart is.
            job = api.submit(**TINY)
            events = api.events(job.id, give_up_after=60)
            first = next(events)
            assert isinstance(first, StateEvent) and first.job.state == JobState.queued

            kill_tree(server)  # the stream is cut mid-way
            cut = next(events)
            assert isinstance(cut, UnavailableEvent) and f"lost {url}" in cut.detail
            refused = next(events)  # the API is still away: it tries again, later
            assert isinstance(refused, UnavailableEvent) and "reconnecting in 1 s" in refused.detail

            server = start_api(settings, tmp_path / "api.log", url)
            worker = start_worker(settings, tmp_path / "worker.log")
            rest = list(events)
            assert isinstance(rest[0], StateEvent)  # a new stream starts with the record
            assert isinstance(rest[-1], StateEvent) and rest[-1].job.state == JobState.succeeded
            assert rest[-1].job.id == job.id

            kill_tree(server)
            with pytest.raises(Unreachable, match=f"cannot reach {url}"):
                api.job(job.id)
            gave_up = []
            with pytest.raises(Unreachable, match="gave up on .* after 1 s"):
                gave_up.extend(api.events(job.id, give_up_after=1))
            assert gave_up and all(isinstance(e, UnavailableEvent) for e in gave_up)
    finally:
        kill_tree(server)
        if worker is not None:
            stop(worker)
