"""The FastAPI application: wiring, error shapes and health checks."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis
import torch
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from app.routes import jobs, samples
from app.sampler import LatestModel, NoCheckpoint
from digitgan.checkpoints import CheckpointStore
from digitgan.jobs import JobStore
from digitgan.redis_client import connect
from digitgan.settings import Settings, get_settings
from models.checkpoint import CheckpointError
from worker.celery_app import create_celery
from worker.reaper import Reaper

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Request handling shares these cores; keep torch from taking all of them.
        torch.set_num_threads(settings.api_torch_threads)
        client = connect(settings)
        app.state.settings = settings
        app.state.redis = client
        app.state.jobs = JobStore.from_settings(client, settings)
        app.state.checkpoints = CheckpointStore(client, settings.redis_prefix)
        app.state.model = LatestModel(app.state.checkpoints)
        app.state.celery = create_celery(settings)
        reaper = Reaper(
            app.state.jobs, app.state.celery, settings.max_attempts, settings.heartbeat_s
        )
        reaper.start()
        yield
        reaper.stop()
        client.close()

    app = FastAPI(
        title="digitgan",
        version="0.1.0",
        description="Train GANs on handwritten digits; serve the digits they generate as PNG.",
        lifespan=lifespan,
    )
    app.include_router(jobs.router)
    app.include_router(samples.router)
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
    async def no_checkpoint(_: Request, exc: NoCheckpoint) -> JSONResponse:
        return JSONResponse(status_code=404, content={"detail": str(exc)})

    @app.exception_handler(CheckpointError)
    async def bad_checkpoint(_: Request, exc: CheckpointError) -> JSONResponse:
        log.error("cannot serve: %s", exc)
        return JSONResponse(
            status_code=503, content={"detail": f"the latest checkpoint cannot be loaded: {exc}"}
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
    def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz(request: Request) -> JSONResponse:
        """Redis is reachable."""
        try:
            request.app.state.redis.ping()
        except redis.RedisError as exc:
            return JSONResponse(
                status_code=503, content={"status": "unavailable", "redis": str(exc)}
            )
        return JSONResponse(content={"status": "ok", "redis": "ok"})


app = create_app()
