"""The home page: gallery, embed builder and training dashboard, all static files.

The page is plain HTML, CSS and a little JavaScript that calls the public API from the
visitor's browser; nothing here is rendered on the server, so nothing here can leak.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
# Everything the page loads comes from this origin: no CDN, no inline script.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
}

router = APIRouter(include_in_schema=False)


@router.get("/")
def home() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", headers=PAGE_HEADERS)


def static_files() -> StaticFiles:
    """The page's scripts, styles and icon, served at /static."""
    return StaticFiles(directory=STATIC_DIR)
