"""Training jobs: start one, list them, watch one (record, events, losses), cancel one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import anyio
import redis
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel

from app.deps import Authorized, Checkpoints, Jobs, State
from app.loss_plot import draw_losses
from app.problems import Responses, problem
from digitgan.jobs import FINISHED_STATES, JobRecord, JobSpec, JobState, LossPoint
from digitgan.queue import enqueue

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
EVENTS_POLL_S = 0.5
MAX_JOB_ID = 64


class JobOut(JobRecord):
    url: str


class JobList(BaseModel):
    jobs: list[JobOut]
    total: int
    limit: int
    offset: int
    state: JobState | None


class LossHistoryOut(BaseModel):
    job_id: str
    points: list[LossPoint]


def _out(request: Request, job: JobRecord) -> JobOut:
    return JobOut(**job.model_dump(), url=str(request.url_for("get_job", job_id=job.id)))


def existing_job(job_id: str, jobs: Jobs) -> JobRecord:
    job = jobs.get(job_id) if len(job_id) <= MAX_JOB_ID else None
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job with id {job_id!r}")
    return job


Job = Annotated[JobRecord, Depends(existing_job)]
NO_JOB: Responses = {404: problem("No job with that id.")}
UNAUTHORIZED = problem("Missing or wrong token.")


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[Authorized],
    responses={401: UNAUTHORIZED, 404: problem("`resume_from` names no checkpoint.")},
)
def create_job(
    spec: JobSpec,
    request: Request,
    response: Response,
    state: State,
    jobs: Jobs,
    checkpoints: Checkpoints,
) -> JobOut:
    """Queue a training job. Watch it at the returned `url`."""
    if spec.resume_from is not None:
        spec = _resumable(spec, spec.resume_from, checkpoints)
    job = jobs.create(spec)
    enqueue(state.celery, job.id)
    out = _out(request, job)
    response.headers["Location"] = out.url
    return out


def _resumable(spec: JobSpec, checkpoint_id: str, checkpoints: Checkpoints) -> JobSpec:
    """Check `resume_from` against the checkpoint; the architecture defaults to its own."""
    meta = checkpoints.meta(checkpoint_id)
    if meta is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no checkpoint with id {checkpoint_id!r}")
    if checkpoints.training_state(checkpoint_id) is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"resume_from: checkpoint {checkpoint_id!r} no longer has the training state "
            "that resuming needs; only each job's latest checkpoint keeps it",
        )
    if "architecture" in spec.model_fields_set and spec.architecture != meta["architecture"]:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"architecture: checkpoint {checkpoint_id!r} is a {meta['architecture']!r}; "
            "leave architecture out or give that one",
        )
    if spec.steps <= meta["step"]:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"steps: checkpoint {checkpoint_id!r} is at step {meta['step']}; steps (the "
            f"total to train to) must be more than that",
        )
    return spec.model_copy(update={"architecture": meta["architecture"]})


@router.get("")
def list_jobs(
    request: Request,
    jobs: Jobs,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    state: Annotated[JobState | None, Query(description="Only jobs in this state.")] = None,
) -> JobList:
    """Jobs, newest first, a page at a time."""
    listed = [_out(request, job) for job in jobs.page(limit, offset, state)]
    return JobList(jobs=listed, total=jobs.count(state), limit=limit, offset=offset, state=state)


@router.get("/{job_id}", responses=NO_JOB)
def get_job(job: Job, request: Request) -> JobOut:
    return _out(request, job)


@router.get("/{job_id}/losses", responses=NO_JOB)
def job_losses(job: Job, jobs: Jobs) -> LossHistoryOut:
    """The loss history: at most 256 (step, d_loss, g_loss) points, evenly thinned."""
    return LossHistoryOut(job_id=job.id, points=jobs.losses(job.id))


@router.get(
    "/{job_id}/losses.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "A PNG image."}, **NO_JOB},
)
def job_losses_png(job: Job, jobs: Jobs) -> Response:
    """The loss curves as a picture."""
    png = draw_losses(jobs.losses(job.id), f"job {job.id}: {job.state.value}")
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})


@router.get("/{job_id}/events", response_class=EventSourceResponse, responses=NO_JOB)
async def job_events(job: Job, jobs: Jobs, request: Request) -> AsyncIterator[ServerSentEvent]:
    """Server-sent events: `state` (the whole record) on each state change, `progress`
    while it trains, `unavailable` while Redis is away; the stream ends with the job."""
    seen: tuple[int, JobState] | None = None
    progress = None
    while True:
        try:
            current = await anyio.to_thread.run_sync(jobs.get, job.id)
        except redis.RedisError:
            yield ServerSentEvent(event="unavailable", data={"detail": "Redis is unavailable"})
            await anyio.sleep(2 * EVENTS_POLL_S)
            continue
        if current is None:  # expired under retention
            return
        if (len(current.history), current.state) != seen:
            seen = (len(current.history), current.state)
            yield ServerSentEvent(event="state", data=_out(request, current))
        elif current.progress != progress:
            yield ServerSentEvent(event="progress", data=current.progress)
        progress = current.progress
        if current.state in FINISHED_STATES:
            return
        await anyio.sleep(EVENTS_POLL_S)


@router.post(
    "/{job_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[Authorized],
    responses={401: UNAUTHORIZED, **NO_JOB, 409: problem("The job already ended.")},
)
def cancel_job(job: Job, request: Request, jobs: Jobs) -> JobOut:
    """Stop a job: a queued one never starts; a running one stops at a step boundary within
    a second or two, keeps the checkpoint it had, and ends `cancelled`."""
    if job.state in FINISHED_STATES:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"job {job.id} already ended: {job.state.value}; only queued or running jobs "
            "can be cancelled",
        )
    return _out(request, jobs.request_cancel(job.id) or job)
