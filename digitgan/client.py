"""A client for a remote digitgan API: what the `digitgan` command's remote subcommands use."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx


class RemoteError(Exception):
    """The API refused a request (status >= 400) or could not be reached (status None)."""

    def __init__(self, detail: str, status: int | None = None):
        super().__init__(detail)
        self.detail, self.status = detail, status


class Remote:
    def __init__(self, url: str, token: str | None = None, *, timeout: float = 30.0):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def submit(self, spec: dict[str, Any]) -> dict[str, Any]:
        return self._json("POST", "/v1/jobs", json=spec)

    def job(self, job_id: str) -> dict[str, Any]:
        return self._json("GET", f"/v1/jobs/{job_id}")

    def jobs(self, limit: int, offset: int = 0, state: str | None = None) -> dict[str, Any]:
        params = {"limit": limit, "offset": offset} | ({"state": state} if state else {})
        return self._json("GET", "/v1/jobs", params=params)

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self._json("POST", f"/v1/jobs/{job_id}/cancel")

    def samples_png(self, params: dict[str, Any]) -> tuple[bytes, str | None]:
        """A PNG grid of samples and the checkpoint id they came from."""
        response = self._request("GET", "/v1/samples.png", params=params)
        return response.content, response.headers.get("x-checkpoint-id")

    def events(self, job_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """(event, data) pairs from the job's server-sent events, until the stream ends."""
        try:
            with self.http.stream(
                "GET", f"/v1/jobs/{job_id}/events", timeout=httpx.Timeout(30, read=None)
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _refused(response)
                yield from _parse_sse(response.iter_lines())
        except httpx.TransportError as exc:
            raise RemoteError(f"cannot reach {self.http.base_url}: {exc}") from exc

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        body: dict[str, Any] = self._request(method, path, **kwargs).json()
        return body

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise RemoteError(f"cannot reach {self.http.base_url}: {exc}") from exc
        if response.status_code >= 400:
            raise _refused(response)
        return response


def _refused(response: httpx.Response) -> RemoteError:
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text
    return RemoteError(f"{response.status_code}: {detail}", response.status_code)


def _parse_sse(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The text/event-stream format: fields up to a blank line make one event."""
    event, data = "message", list[str]()
    for line in lines:
        if not line:
            if data:
                yield event, json.loads("\n".join(data))
            event, data = "message", list[str]()
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
