"""Bounds on what one request can make an API process hold, checked before routing:

- a request line longer than `max_url_bytes` is 414, headers larger than
  `max_header_bytes` together are 431;
- a request that would change something (POST, PUT, PATCH, DELETE under /v1/) has its
  token checked before its body is read: a caller without it never makes us read one;
- a body larger than `max_body_bytes` (`max_upload_bytes` for POST /v1/datasets) is 413
  as soon as its Content-Length, or its bytes so far, say so; it is never parsed;
- at most `max_event_streams` event streams are open at once; past that, 503.

Every refusal is JSON with a `detail` that says what is allowed.
"""

from __future__ import annotations

import json
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.auth import token_refusal
from digitgan.settings import Settings

CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
UPLOADS = re.compile(r"^/v1/datasets/?$")
EVENT_STREAMS = re.compile(r"^/v1/jobs/[^/]+/events$")
STREAM_RETRY_AFTER_S = 10


class TooLarge(Exception):
    pass


class RequestLimits:
    def __init__(self, app: ASGIApp, settings: Settings):
        self.app, self.settings = app, settings
        self.open_streams = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        settings, path = self.settings, scope["path"]
        url_bytes = len(scope.get("raw_path") or path.encode()) + len(scope["query_string"])
        if url_bytes > settings.max_url_bytes:
            return await _refuse(
                send, 414, f"the URL is {url_bytes} bytes; at most {settings.max_url_bytes}"
            )
        header_bytes = sum(len(k) + len(v) + 4 for k, v in scope["headers"])
        if header_bytes > settings.max_header_bytes:
            return await _refuse(
                send,
                431,
                f"the headers are {header_bytes} bytes together; at most "
                f"{settings.max_header_bytes}",
            )
        if scope["method"] in CHANGING and path.startswith("/v1/"):
            refused = token_refusal(settings, _header(scope, b"authorization"))
            if refused is not None:
                return await _refuse(send, refused.status, refused.detail, refused.headers)
            limit = settings.max_upload_bytes if UPLOADS.match(path) else settings.max_body_bytes
            try:
                receive = await _bounded_body(scope, receive, limit)
            except TooLarge as exc:
                return await _refuse(send, 413, str(exc))
        if scope["method"] == "GET" and EVENT_STREAMS.match(path):
            return await self._stream(scope, receive, send)
        await self.app(scope, receive, send)

    async def _stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.open_streams >= self.settings.max_event_streams:
            return await _refuse(
                send,
                503,
                f"{self.open_streams} event streams are open on this server (at most "
                f"{self.settings.max_event_streams}); poll GET /v1/jobs/{{id}} instead, or "
                "try again shortly",
                {"Retry-After": str(STREAM_RETRY_AFTER_S)},
            )
        self.open_streams += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.open_streams -= 1


async def _bounded_body(scope: Scope, receive: Receive, limit: int) -> Receive:
    """Read the body (at most `limit` bytes, else TooLarge) and return a receive that
    gives it to the app, then passes on whatever comes next (a disconnect)."""
    declared = _header(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"the body is {declared} bytes; at most {limit} here")
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        size += len(message.get("body", b""))
        if size > limit:
            raise TooLarge(f"the body is more than {limit} bytes; at most {limit} here")
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body: Message | None = {"type": "http.request", "body": b"".join(chunks), "more_body": False}

    async def replay() -> Message:
        nonlocal body
        if body is not None:
            message, body = body, None
            return message
        return await receive()

    return replay


def _header(scope: Scope, name: bytes) -> str | None:
    return next((v.decode("latin-1") for k, v in scope["headers"] if k == name), None)


async def _refuse(
    send: Send, status: int, detail: str, headers: dict[str, str] | None = None
) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
