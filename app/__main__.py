"""`python -m app`: the API on DIGITGAN_HOST:DIGITGAN_PORT, in DIGITGAN_API_WORKERS
processes behind that one port. `make run`, the compose file and the Docker image all
start the API this way, so the setting means the same everywhere."""

from __future__ import annotations

import uvicorn

from digitgan.settings import get_settings


def main() -> None:
    settings = get_settings()
    uvicorn.run(
        "app.main:app",
        host=settings.host,
        port=settings.port,
        workers=settings.api_workers,
        access_log=settings.access_log,
        # The request line and headers are bounded again, with a clear 414/431, in
        # app/limits.py; this is h11's own cap on what it buffers before parsing.
        h11_max_incomplete_event_size=64 * 1024,
    )


if __name__ == "__main__":
    main()
