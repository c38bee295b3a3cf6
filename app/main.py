"""The FastAPI application: wiring, error shapes and health checks."""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis
import torch
from cachetools import LRUCache
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from app import metrics
from app.auth import check_token_setting
from app.batcher import MicroBatcher, Overloaded
from app.limits import RequestLimits
from app.problems import EVERY, INVALID
from app.reaper import Reaper
from app.rendering import render_batch
from app.repeats import RepeatedImages, new_answers
from app.routes import checkpoints, datasets, images, jobs, pages
from app.sampler import Models, NoCheckpoint, UnknownCheckpoint
from app.state import Services, services
from app.watch import JobWatcher
from digitgan.checkpoints import CheckpointInUse, CheckpointStore, StoreFull
from digitgan.datasets import DatasetStore
from digitgan.ids import LATEST
from digitgan.jobs import JobStore, QueueFull
from digitgan.logs import configure_logging
from digitgan.queue import create_celery
from digitgan.redis_client import connect
from digitgan.settings import Settings, get_settings
from models.checkpoint import CheckpointError
from models.selection import DigitNotFound
from models.uploads import UploadError

log = logging.getLogger(__name__)
# How long a client refused for a full queue should wait before trying again.
QUEUE_RETRY_AFTER_S = 30


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    check_token_setting(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings)
        # Request handling shares these cores; keep torch from taking all of them.
        torch.set_num_threads(settings.api_torch_threads)
        # oneDNN's convolutions cost more than PyTorch's own at the API's few rows a pass
        # (0.38 against 0.55 ms for a lone dcgan digit, 0.17 against 0.21 ms a digit in
        # batches of 16; docs/benchmarks.md, "Serving"). The API only samples, so the
        # switch is for the whole process.
        torch.backends.mkldnn.set_flags(False)
        client = connect(settings)
        checkpoints = CheckpointStore(client, settings.redis_prefix)
        state = Services(
            settings=settings,
            redis=client,
            jobs=JobStore.from_settings(client, settings),
            checkpoints=checkpoints,
            datasets=DatasetStore(client, settings.redis_prefix),
            models=Models(checkpoints, settings.refresh_interval_s, settings.loaded_checkpoints),
            batcher=MicroBatcher(render_batch, max_pending=settings.render_queue_digits),
            image_cache=LRUCache(maxsize=settings.image_cache_bytes, getsizeof=len),
            answers=new_answers(),
            celery=create_celery(settings),
            watcher=JobWatcher(JobStore.from_settings(client, settings)),
        )
        app.state.services = state
        reaper = Reaper(
            state.jobs,
            checkpoints,
            state.celery,
            settings.max_attempts,
            settings.heartbeat_s,
            publish_bundled=settings.publish_bundled,
        )
        if settings.publish_bundled:
            # Before the first request: a fresh service serves the bundled model at once.
            # (Redis away: the reaper publishes it once Redis is back.)
            with contextlib.suppress(redis.RedisError):
                checkpoints.publish_bundled()
        state.models.start()
        state.batcher.start()
        reaper.start()
        # Everything made so far (PyTorch, the models, the app) lives as long as the
        # process: out of the garbage collector's full sweeps, which otherwise stall a
        # busy server for tens of milliseconds each.
        gc.freeze()
        yield
        reaper.stop()
        state.batcher.stop()
        state.models.stop()
        client.close()

    app = FastAPI(
        responses=EVERY,
        title="digitgan",
        version="0.1.0",
        description="Train GANs on handwritten digits; serve the digits they generate as PNG.",
        lifespan=lifespan,
    )
    # Images first: routes are matched in order, and they are most of the traffic.
    app.include_router(images.router)
    app.include_router(jobs.router, responses=INVALID)
    app.include_router(checkpoints.router)
    app.include_router(datasets.router)
    # Innermost: repeated images skip routing, but still get CORS headers and metrics.
    app.add_middleware(RepeatedImages)
    app.include_router(pages.router)
    app.mount("/static", pages.static_files(), name="static")
    # Browsers may read images and read-only answers from any allowed page; changing
    # endpoints get no CORS, so a page cannot call them from a visitor's browser.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "HEAD"],
        allow_headers=["If-None-Match"],
        expose_headers=["ETag", "X-Checkpoint-Id", "X-Seed", "Content-Length"],
        max_age=86400,
    )
    app.add_middleware(RequestLimits, settings=settings)
    metrics.install(app)  # outermost: refusals are counted too
    _add_error_handlers(app)
    _add_health(app)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}"
            for e in exc.errors()
        ]
        return JSONResponse(
            status_code=422,
            content={"detail": "; ".join(problems), "errors": jsonable_errors(exc)},
        )

    @app.exception_handler(NoCheckpoint)
    @app.exception_handler(UnknownCheckpoint)
    async def no_checkpoint(_: Request, exc: LookupError) -> JSONResponse:
        return JSONResponse(status_code=404, content={"detail": str(exc)})

    @app.exception_handler(QueueFull)
    async def queue_full(_: Request, exc: QueueFull) -> JSONResponse:
        headers = {"Retry-After": str(QUEUE_RETRY_AFTER_S)}
        return JSONResponse(status_code=429, content={"detail": str(exc)}, headers=headers)

    @app.exception_handler(StoreFull)
    async def store_full(_: Request, exc: StoreFull) -> JSONResponse:
        return JSONResponse(status_code=507, content={"detail": str(exc)})

    @app.exception_handler(CheckpointInUse)
    async def checkpoint_in_use(_: Request, exc: CheckpointInUse) -> JSONResponse:
        return JSONResponse(status_code=409, content={"detail": str(exc)})

    @app.exception_handler(Overloaded)
    async def overloaded(_: Request, exc: Overloaded) -> JSONResponse:
        headers = {"Retry-After": "1"}
        return JSONResponse(status_code=503, content={"detail": str(exc)}, headers=headers)

    @app.exception_handler(UploadError)
    async def bad_upload(_: Request, exc: UploadError) -> JSONResponse:
        content: dict[str, Any] = {"detail": str(exc)}
        if exc.status == 422:  # the same shape as every other 422
            content["errors"] = [{"loc": ["body"], "msg": str(exc), "type": "value_error"}]
        return JSONResponse(status_code=exc.status, content=content)

    @app.exception_handler(DigitNotFound)
    async def digit_not_found(_: Request, exc: DigitNotFound) -> JSONResponse:
        return JSONResponse(status_code=409, content={"detail": str(exc)})

    @app.exception_handler(CheckpointError)
    async def bad_checkpoint(_: Request, exc: CheckpointError) -> JSONResponse:
        log.error("cannot serve: %s", exc)
        return JSONResponse(
            status_code=503, content={"detail": f"the checkpoint cannot be loaded: {exc}"}
        )

    @app.exception_handler(redis.RedisError)
    async def redis_down(_: Request, exc: redis.RedisError) -> JSONResponse:
        log.warning("redis unavailable: %s", exc)
        return JSONResponse(
            status_code=503,
            content={"detail": "the job store (Redis) is unavailable; try again shortly"},
            headers={"Retry-After": "5"},
        )


def jsonable_errors(exc: RequestValidationError) -> list[dict]:
    return [{k: e[k] for k in ("loc", "msg", "type") if k in e} for e in exc.errors()]


def _add_health(app: FastAPI) -> None:
    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz(request: Request) -> JSONResponse:
        """Ready to serve: Redis reachable, and the latest checkpoint (if any) loadable."""
        checks = {"redis": _check_redis(request.app), "checkpoint": _check_checkpoint(request.app)}
        ready = checks["redis"] == "ok" and not checks["checkpoint"].startswith("error")
        return JSONResponse(
            status_code=200 if ready else 503,
            content={"status": "ok" if ready else "unavailable", **checks},
        )


def _check_redis(app: FastAPI) -> str:
    try:
        services(app).redis.ping()
    except redis.RedisError as exc:
        return f"error: {exc}"
    return "ok"


def _check_checkpoint(app: FastAPI) -> str:
    try:
        loaded = services(app).models.resolve(LATEST).model
    except NoCheckpoint:
        return "none published yet"
    except (CheckpointError, redis.RedisError) as exc:
        return f"error: {exc}"
    return f"ok: {loaded.checkpoint_id}"


app = create_app()
