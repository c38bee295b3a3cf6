"""Prometheus metrics: counted in the request path, or read from Redis when scraped."""

from __future__ import annotations

import time
from collections.abc import Iterator

import redis
from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.state import services
from digitgan.jobs import JobState

# Process-wide metrics, registered in each app's own registry (not the global one) so
# that several apps in one process, as in the tests, do not collide.
HTTP_REQUESTS = Counter(
    "digitgan_http_requests_total",
    "HTTP requests by route and status.",
    ["method", "route", "status"],
    registry=None,
)
HTTP_LATENCY = Histogram(
    "digitgan_http_request_seconds",
    "HTTP request latency by route.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=None,
)
IMAGES_RENDERED = Counter("digitgan_images_rendered_total", "PNG images rendered.", registry=None)
IMAGE_CACHE_HITS = Counter(
    "digitgan_image_cache_hits_total", "Images served from the cache.", registry=None
)


class RedisCollector(Collector):
    """Jobs by state, queue length, the store's size and running jobs' training speed, read
    when scraped from what Redis keeps counted (the size of each state's index, the store's
    byte count): a scrape costs the same however many records there are."""

    def __init__(self, app: FastAPI):
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        state = services(self.app)
        jobs = state.jobs
        try:
            counts = {s: jobs.count(s) for s in JobState}
            queued = jobs.redis.llen(jobs.keys.train_queue)
            stored = state.checkpoints.stored_bytes()
            running = [job for job in map(jobs.get, jobs.running_ids()) if job is not None]
        except redis.RedisError:
            return
        by_state = GaugeMetricFamily("digitgan_jobs", "Jobs by state.", labels=["state"])
        for job_state, count in counts.items():
            by_state.add_metric([job_state.value], count)
        yield by_state
        yield GaugeMetricFamily(
            "digitgan_queue_length", "Training jobs waiting in the Celery queue.", value=queued
        )
        yield GaugeMetricFamily(
            "digitgan_store_bytes",
            "Bytes the store holds in checkpoints, training states and data sets.",
            value=stored,
        )
        speed = GaugeMetricFamily(
            "digitgan_training_images_per_second", "Training speed of running jobs.", labels=["job"]
        )
        for job in running:
            if job.progress.images_per_second:
                speed.add_metric([job.id], job.progress.images_per_second)
        yield speed


class RequestMetrics:
    """Pure ASGI middleware (not BaseHTTPMiddleware, whose per-request cost shows on the
    image endpoints' throughput): count and time each request by its route template."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), 500

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            # The router records the matched route in this same scope. The template, not
            # the path: one series per route, whatever ids or digits are asked for.
            route = scope.get("route")
            name = route.path if route is not None else "unmatched"
            HTTP_REQUESTS.labels(scope["method"], name, str(status)).inc()
            HTTP_LATENCY.labels(scope["method"], name).observe(time.perf_counter() - start)


def install(app: FastAPI) -> None:
    """Count every request by its route template and serve /metrics."""
    registry = CollectorRegistry()
    for metric in (HTTP_REQUESTS, HTTP_LATENCY, IMAGES_RENDERED, IMAGE_CACHE_HITS):
        registry.register(metric)
    registry.register(RedisCollector(app))
    app.add_middleware(RequestMetrics)

    @app.get("/metrics", tags=["health"], response_class=Response)
    def metrics() -> Response:
        """Prometheus metrics."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
