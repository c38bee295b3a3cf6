"""Repeated image requests, answered before routing.

Pages show the same `<img>` URLs over and over. Once an image with a fixed seed has been
served, its URL (path and query string), together with the checkpoint that the named
`checkpoint` resolved to, maps to the answer's headers, and its bytes are in the image
cache. A later identical request is answered from the two in memory, without FastAPI's
per-request parameter handling, which costs more than the rest of a cache hit together.
Anything not seen before, or no longer cached, goes on to the routes as usual.
"""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import parse_qsl

from cachetools import LRUCache
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from app.metrics import IMAGE_CACHE_HITS
from app.rendering import etag_matches
from app.state import services
from digitgan.ids import LATEST

# What the table of remembered URLs may hold per API process, in bytes (URL and headers
# of each answer), and the longest URL it remembers: junk query strings cannot fill it.
REMEMBERED_BYTES = 8 * 2**20
LONGEST_REMEMBERED_URL = 512


class Answer(NamedTuple):
    etag: str
    headers: dict[str, str]
    route: BaseRoute


class RepeatedImages:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = self._known(scope) if scope["type"] == "http" else None
        body = services(scope["app"]).image_cache.get(answer.etag) if answer else None
        if answer is None or body is None:
            return await self.app(scope, receive, send)
        scope["route"] = answer.route  # metrics count it under its route
        IMAGE_CACHE_HITS.inc()
        if etag_matches(_header(scope, b"if-none-match"), answer.etag):
            return await _send(send, 304, answer.headers, b"")
        headers = answer.headers | {"Content-Length": str(len(body))}
        await _send(send, 200, headers, b"" if scope["method"] == "HEAD" else body)

    @staticmethod
    def _known(scope: Scope) -> Answer | None:
        if scope["method"] not in ("GET", "HEAD") or not scope["path"].endswith(".png"):
            return None
        state = services(scope["app"])
        query = dict(parse_qsl(scope["query_string"].decode("latin-1")))
        if "seed" not in query:
            return None
        resolved = state.models.lookup(query.get("checkpoint", LATEST))
        if resolved is None:
            return None
        return state.answers.get(_key(scope, resolved.model.checkpoint_id))


def new_answers() -> LRUCache[tuple[str, bytes, str], Answer]:
    return LRUCache(maxsize=REMEMBERED_BYTES, getsizeof=_answer_bytes)


def _answer_bytes(answer: Answer) -> int:
    # The key (path, query, checkpoint id) is about as long as its headers' values.
    headers = sum(len(k) + len(v) for k, v in answer.headers.items())
    return 2 * headers + 200


def remember(scope: Scope, checkpoint_id: str, etag: str, headers: dict[str, str]) -> None:
    """Called by a route that has just answered `scope` with a fixed-seed image."""
    if len(scope["path"]) + len(scope["query_string"]) > LONGEST_REMEMBERED_URL:
        return
    answer = Answer(etag, dict(headers, **{"Content-Type": "image/png"}), scope["route"])
    services(scope["app"]).answers[_key(scope, checkpoint_id)] = answer


def _key(scope: Scope, checkpoint_id: str) -> tuple[str, bytes, str]:
    return scope["path"], scope["query_string"], checkpoint_id


def _header(scope: Scope, name: bytes) -> str | None:
    return next((v.decode("latin-1") for k, v in scope["headers"] if k == name), None)


async def _send(send: Send, status: int, headers: dict[str, str], body: bytes) -> None:
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
