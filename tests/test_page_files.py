"""The home page's files as the API serves them: every asset local, nothing from a CDN."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from app.routes.pages import STATIC_DIR


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.links += [value for name, value in attrs if name in {"src", "href"} and value]


def test_home_page_is_served_with_a_strict_policy(client):
    answer = client.get("/")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    policy = answer.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "unsafe-inline" not in policy
    assert "/" not in client.get("/openapi.json").json()["paths"]


def test_every_asset_the_page_loads_comes_from_the_api(client):
    parser = Links()
    parser.feed(client.get("/").text)
    local = [link for link in parser.links if not link.startswith("#")]
    assert all(link.startswith("/") and not link.startswith("//") for link in local), local
    scripts = [link for link in local if link.startswith("/static/")]
    for script in STATIC_DIR.glob("*.js"):
        scripts += [
            f"/static/{name}" for name in re.findall(r'from "\./([\w-]+\.js)"', script.read_text())
        ]
    for link in set(local + scripts) - {"/docs", "/v1/jobs", "/v1/checkpoints"}:
        assert client.get(link).status_code == 200, link
    assert client.get("/static/nothing.js").status_code == 404
