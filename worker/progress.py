"""Turning the training loop's progress into the job record: ETA, rates, a bounded loss
history, and Redis writes at a bounded rate."""

from __future__ import annotations

import logging
import time

import redis

from digitgan.jobs import MAX_LOSS_POINTS, JobProgress, JobStore, LossPoint
from models.train import Progress

log = logging.getLogger(__name__)
WRITE_EVERY_S = 0.25
RATE_SMOOTHING = 0.3


class LossHistory:
    """At most `max_points` (step, d_loss, g_loss) points, evenly thinned: when full,
    every other point goes and the spacing between kept points doubles."""

    def __init__(self, points: list[LossPoint] | None = None, max_points: int = MAX_LOSS_POINTS):
        self.max_points = max_points
        self.points: list[LossPoint] = []
        self.spacing = 1
        for point in points or []:
            self.add(*point)

    def add(self, step: int, d_loss: float, g_loss: float) -> None:
        if self.points and step - self.points[-1][0] < self.spacing:
            return
        self.points.append((step, round(d_loss, 5), round(g_loss, 5)))
        if len(self.points) > self.max_points:
            self.points = self.points[::2]
            self.spacing *= 2


class ProgressReporter:
    """The training loop's progress hook for one job."""

    def __init__(self, jobs: JobStore, job_id: str, batch_size: int, history: LossHistory):
        self.jobs, self.job_id, self.batch_size = jobs, job_id, batch_size
        self.history = history
        self.steps_per_s: float | None = None
        self.last_write = 0.0

    def __call__(self, p: Progress) -> None:
        self.history.add(p.step, p.d_loss, p.g_loss)
        rate = p.images_per_second / self.batch_size
        self.steps_per_s = (
            rate
            if self.steps_per_s is None
            else RATE_SMOOTHING * rate + (1 - RATE_SMOOTHING) * self.steps_per_s
        )
        now = time.monotonic()
        if now - self.last_write < WRITE_EVERY_S and p.step < p.total_steps:
            return
        self.last_write = now
        left = p.total_steps - p.step
        progress = JobProgress(
            step=p.step,
            total_steps=p.total_steps,
            percent=round(100 * p.step / p.total_steps, 2),
            images_per_second=round(p.images_per_second, 1),
            eta_s=round(left / self.steps_per_s, 1) if self.steps_per_s else None,
            d_loss=p.d_loss,
            g_loss=p.g_loss,
            updated_at=time.time(),
        )
        try:
            self.jobs.update(self.job_id, progress=progress, loss_history=self.history.points)
        except redis.RedisError as exc:
            # Progress is best effort; the heartbeat decides whether the job goes on.
            log.warning("job %s: progress not recorded: %s", self.job_id, exc)
