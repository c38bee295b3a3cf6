"""The Python client of a digitgan API: typed methods that answer with the API's own
models (digitgan/schemas.py), for notebooks, scripts and the `digitgan` command.

    from digitgan.client import Client

    with Client("http://gpu-box:8000", token="...") as api:
        job = api.submit(architecture="cmlp", steps=20000)
        final = api.wait(job.id)
        print(final.state, final.checkpoint_id)  # succeeded, and it moved `latest`
        api.samples(n=64, seed=1).save("digits.png")

An answer >= 400 raises `ApiError` (status and the API's `detail`; `NotFound` and the
like for the common ones); an API that cannot be reached raises `Unreachable`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypedDict, TypeVar, Unpack
from urllib.parse import quote

import httpx
from httpx_sse import ServerSentEvent, connect_sse
from pydantic import BaseModel, TypeAdapter

from digitgan.ids import LATEST
from digitgan.jobs import FINISHED_STATES, JobProgress, JobState
from digitgan.schemas import (
    AliasIn,
    AliasOut,
    CheckpointList,
    CheckpointOut,
    DatasetList,
    DatasetOut,
    JobList,
    JobOut,
    LossHistoryOut,
)
from digitgan.specs import JobRequest

DEFAULT_URL = "http://127.0.0.1:8000"
# The API pings an idle event stream every 15 s: a minute without a byte means the
# connection is dead even if no error says so (a host gone, a cable pulled).
EVENTS_READ_TIMEOUT_S = 60.0
# Reconnecting an event stream: first after this long, doubling up to the most.
RECONNECT_FIRST_S = 0.5
RECONNECT_MOST_S = 5.0
# How long events() keeps trying to get back to a lost API before it raises Unreachable.
GIVE_UP_AFTER_S = 300.0

Model = TypeVar("Model", bound=BaseModel)


class ImageStyle(TypedDict, total=False):
    """How an image is drawn (the query parameters of every image URL; README, Images)."""

    size: int
    fg: str
    bg: str
    smooth: bool
    checkpoint: str  # an id, an alias or `latest` (the default)


class ClientError(Exception):
    """Anything the client raises about the API: ApiError or Unreachable."""


class Unreachable(ClientError):
    """The API could not be reached, or did not answer in time."""


class ApiError(ClientError):
    """The API answered with an error: its HTTP status and its `detail` message."""

    def __init__(self, status: int, detail: str):
        super().__init__(f"{status}: {detail}")
        self.status, self.detail = status, detail


class Unauthorized(ApiError):
    """401: the token is missing or wrong."""


class NotFound(ApiError):
    """404: no such job, checkpoint, alias or data set."""


class Conflict(ApiError):
    """409: not in this state (a job that ended already, a checkpoint an alias names)."""


class Invalid(ApiError):
    """422: a parameter the API refuses; `detail` names it and says what is allowed."""


_ERRORS: dict[int, type[ApiError]] = {401: Unauthorized, 404: NotFound, 409: Conflict, 422: Invalid}


@dataclass(frozen=True)
class StateEvent:
    """The job's whole record, sent when its state changes (and first on every stream)."""

    job: JobOut
    kind: Literal["state"] = field(default="state", init=False)


@dataclass(frozen=True)
class ProgressEvent:
    """Where a running job's training stands."""

    progress: JobProgress
    kind: Literal["progress"] = field(default="progress", init=False)


@dataclass(frozen=True)
class UnavailableEvent:
    """The job cannot be followed for now: the API says its Redis is away, or the client
    lost the API and is reconnecting. Both pass by themselves; the job goes on."""

    detail: str
    kind: Literal["unavailable"] = field(default="unavailable", init=False)


Event = StateEvent | ProgressEvent | UnavailableEvent


@dataclass(frozen=True)
class Image:
    """A PNG from an image endpoint, with what it takes to draw the same one again."""

    png: bytes = field(repr=False)
    checkpoint_id: str
    seed: int

    def save(self, path: str | Path) -> Path:
        Path(path).write_bytes(self.png)
        return Path(path)

    def _repr_png_(self) -> bytes:
        """Jupyter shows the image itself."""
        return self.png


class Client:
    """One API, one connection pool; `with Client(...) as api:` closes it."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ):
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(
            base_url=self.url, headers=headers, timeout=timeout, transport=transport
        )
        self._stream_timeout = httpx.Timeout(timeout, read=EVENTS_READ_TIMEOUT_S)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- jobs ------------------------------------------------------------------------

    def submit(self, **fields: Any) -> JobOut:
        """Queue a training job; `fields` are JobRequest's (digitgan/specs.py). They are
        checked here first, so a misspelt field raises pydantic's ValidationError before
        anything is sent; only the fields given are sent, the rest are the API's defaults."""
        request = JobRequest(**fields)
        body = request.model_dump(mode="json", exclude_unset=True)
        return self._call(JobOut, "POST", "/v1/jobs", json=body)

    def jobs(
        self, limit: int = 50, offset: int = 0, state: JobState | str | None = None
    ) -> JobList:
        """A page of jobs, newest first; `state` keeps only the jobs in it."""
        params = {"limit": limit, "offset": offset, "state": state}
        return self._call(JobList, "GET", "/v1/jobs", params=_given(params))

    def job(self, job_id: str) -> JobOut:
        return self._call(JobOut, "GET", f"/v1/jobs/{_part(job_id)}")

    def cancel(self, job_id: str) -> JobOut:
        """Ask a queued or running job to stop (Conflict if it has ended already)."""
        return self._call(JobOut, "POST", f"/v1/jobs/{_part(job_id)}/cancel")

    def losses(self, job_id: str) -> LossHistoryOut:
        return self._call(LossHistoryOut, "GET", f"/v1/jobs/{_part(job_id)}/losses")

    def events(
        self, job_id: str, *, give_up_after: float | None = GIVE_UP_AFTER_S
    ) -> Iterator[Event]:
        """The job's events until it ends: the last one is a StateEvent of a finished job.

        A stream that breaks (the API restarted, a proxy cut it) is opened again after a
        short, growing wait, with an UnavailableEvent saying so; each new stream starts
        with the whole record, so nothing is missed but progress in between. Unreachable
        once the API has been away for `give_up_after` seconds (None: never gives up); an
        ApiError for a 4xx answer (NotFound: no such job, or it expired)."""
        path = f"/v1/jobs/{_part(job_id)}/events"
        wait, lost_since = RECONNECT_FIRST_S, None
        while True:
            try:
                with connect_sse(self.http, "GET", path, timeout=self._stream_timeout) as source:
                    if source.response.is_error:
                        source.response.read()
                        raise _error(source.response)
                    for sse in source.iter_sse():
                        event = _event(sse)
                        if event is None:
                            continue
                        wait, lost_since = RECONNECT_FIRST_S, None
                        yield event
                        if isinstance(event, StateEvent) and event.job.state in FINISHED_STATES:
                            return
                problem = "the event stream ended before the job did"
            except ApiError as exc:
                if exc.status < 500:
                    raise
                problem = str(exc)  # 503: Redis away, or too many streams open
            except httpx.TransportError as exc:
                problem = f"lost {self.url}: {exc or type(exc).__name__}"
            lost_since = lost_since or time.monotonic()
            if give_up_after is not None and time.monotonic() - lost_since > give_up_after:
                raise Unreachable(f"gave up on {self.url} after {give_up_after:g} s: {problem}")
            yield UnavailableEvent(f"{problem}; reconnecting in {wait:g} s")
            time.sleep(wait)
            wait = min(2 * wait, RECONNECT_MOST_S)

    def wait(self, job_id: str, *, give_up_after: float | None = GIVE_UP_AFTER_S) -> JobOut:
        """Follow the job's events until it ends; its final record."""
        final = None
        for event in self.events(job_id, give_up_after=give_up_after):
            if isinstance(event, StateEvent):
                final = event.job
        if final is None:  # events() ends only after a finished job's state
            raise RuntimeError(f"the events of job {job_id} ended without its state")
        return final

    # -- images ----------------------------------------------------------------------

    def samples(
        self,
        n: int = 16,
        seed: int | None = None,
        *,
        digit: int | None = None,
        rows: bool = False,
        cols: int | None = None,
        **style: Unpack[ImageStyle],
    ) -> Image:
        """A grid of `n` digits: any (every checkpoint), all one `digit`, or a digit per
        row (`rows`); both of those need a conditional checkpoint (cmlp, dcgan)."""
        query = {"n": n, "digit": digit, "rows": rows, "cols": cols}
        return self._image("/v1/samples.png", seed, query | dict(style))

    def digit(self, digit: int, seed: int | None = None, **style: Unpack[ImageStyle]) -> Image:
        """One handwritten digit (needs a conditional checkpoint)."""
        return self._image(f"/v1/digits/{int(digit)}.png", seed, dict(style))

    def number(
        self, text: str | int, seed: int | None = None, **style: Unpack[ImageStyle]
    ) -> Image:
        """A number written by one hand (needs a conditional checkpoint)."""
        return self._image(f"/v1/numbers/{_part(str(text))}.png", seed, dict(style))

    def _image(self, path: str, seed: int | None, params: dict[str, Any]) -> Image:
        response = self._send("GET", path, params=_given(params | {"seed": seed}))
        # Without a seed the API picks one and sends it back, so the image can be redrawn.
        drawn = seed if seed is not None else int(response.headers["x-seed"])
        return Image(response.content, response.headers["x-checkpoint-id"], drawn)

    # -- checkpoints and aliases -----------------------------------------------------

    def checkpoints(self, limit: int = 50, offset: int = 0) -> CheckpointList:
        """A page of published checkpoints, newest first, with `latest` and the aliases."""
        params = {"limit": limit, "offset": offset}
        return self._call(CheckpointList, "GET", "/v1/checkpoints", params=params)

    def checkpoint(self, ref: str = LATEST) -> CheckpointOut:
        """One checkpoint, by id, alias or `latest`."""
        return self._call(CheckpointOut, "GET", f"/v1/checkpoints/{_part(ref)}")

    def delete_checkpoint(self, checkpoint_id: str) -> None:
        """Delete a checkpoint (Conflict while `latest` or an alias names it)."""
        self._send("DELETE", f"/v1/checkpoints/{_part(checkpoint_id)}")

    def aliases(self) -> list[AliasOut]:
        response = self._send("GET", "/v1/aliases")
        return TypeAdapter(list[AliasOut]).validate_json(response.content)

    def set_alias(self, name: str, checkpoint_id: str) -> AliasOut:
        """Point `name` at a checkpoint: images that ask for `name` draw with it."""
        body = AliasIn(checkpoint_id=checkpoint_id).model_dump()
        return self._call(AliasOut, "PUT", f"/v1/aliases/{_part(name)}", json=body)

    def delete_alias(self, name: str) -> None:
        self._send("DELETE", f"/v1/aliases/{_part(name)}")

    # -- uploaded data sets ----------------------------------------------------------

    def upload_dataset(
        self,
        path: str | Path | None = None,
        *,
        images: str | Path | None = None,
        labels: str | Path | None = None,
    ) -> DatasetOut:
        """Upload digits to train on: `path`, a zip of images in folders named by digit
        (`3/any-name.png`), or `images` and `labels`, an MNIST-format IDX pair. Train on
        the answer's `dataset` (`upload:<id>`). The same digits twice are one data set."""
        if path is not None and images is None and labels is None:
            files = {"file": Path(path)}
        elif path is None and images is not None and labels is not None:
            files = {"images": Path(images), "labels": Path(labels)}
        else:
            raise ValueError("give either a zip's path, or both images and labels (an IDX pair)")
        parts = {name: (p.name, p.read_bytes()) for name, p in files.items()}
        return self._call(DatasetOut, "POST", "/v1/datasets", files=parts)

    def datasets(self, limit: int = 50, offset: int = 0) -> DatasetList:
        params = {"limit": limit, "offset": offset}
        return self._call(DatasetList, "GET", "/v1/datasets", params=params)

    def dataset(self, dataset_id: str) -> DatasetOut:
        return self._call(DatasetOut, "GET", f"/v1/datasets/{_part(dataset_id)}")

    def delete_dataset(self, dataset_id: str) -> None:
        """Delete a data set (Conflict while a queued or running job trains on it)."""
        self._send("DELETE", f"/v1/datasets/{_part(dataset_id)}")

    # -- one request -----------------------------------------------------------------

    def _call(self, model: type[Model], method: str, path: str, **kwargs: Any) -> Model:
        return model.model_validate_json(self._send(method, path, **kwargs).content)

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise Unreachable(f"cannot reach {self.url}: {exc or type(exc).__name__}") from exc
        if response.is_error:
            raise _error(response)
        return response


def _error(response: httpx.Response) -> ApiError:
    """The API's error answer as an exception: its status and its `detail`."""
    try:
        detail = response.json().get("detail", response.text)
    except (ValueError, AttributeError):  # not JSON, or not an object
        detail = response.text
    if not isinstance(detail, str):
        detail = json.dumps(detail)
    status = response.status_code
    return _ERRORS.get(status, ApiError)(status, detail or response.reason_phrase)


def _event(sse: ServerSentEvent) -> Event | None:
    """An event of the stream, typed; None for a kind this client does not know."""
    if sse.event == "state":
        return StateEvent(JobOut.model_validate_json(sse.data))
    if sse.event == "progress":
        return ProgressEvent(JobProgress.model_validate_json(sse.data))
    if sse.event == "unavailable":
        return UnavailableEvent(str(sse.json().get("detail", sse.data)))
    return None


def _part(value: str) -> str:
    """`value` as one path segment, whatever it holds."""
    return quote(value, safe="")


def _given(params: dict[str, Any]) -> dict[str, Any]:
    """The query parameters that were given: no None, and no False flag."""
    return {k: v for k, v in params.items() if v is not None and v is not False}
