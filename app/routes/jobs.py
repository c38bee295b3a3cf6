"""Training jobs: start one, list them, watch one (record, events, losses), cancel one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.sse import EventSourceResponse, ServerSentEvent

from app.deps import Authorized, Jobs, State
from app.loss_plot import draw_losses
from app.problems import BODY, Responses, problem
from app.state import services
from app.submission import submit
from digitgan.ids import is_job_id
from digitgan.jobs import FINISHED_STATES, JobRecord, JobState
from digitgan.schemas import JobList, JobOut, LossHistoryOut
from digitgan.specs import JobRequest

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
EVENTS_POLL_S = 0.5


def _out(request: Request, job: JobRecord) -> JobOut:
    return JobOut(
        **job.model_dump(),
        url=str(request.url_for("get_job", job_id=job.id)),
        checkpoints=services(request.app).checkpoints.job_checkpoint_ids(job.id),
    )


def existing_job(job_id: str, jobs: Jobs) -> JobRecord:
    job = jobs.get(job_id) if is_job_id(job_id) else None
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job with id {job_id!r}")
    return job


Job = Annotated[JobRecord, Depends(existing_job)]
NO_JOB: Responses = {404: problem("No job with that id.")}


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[Authorized],
    responses={
        **BODY,
        404: problem("`resume_from`, `init_from` or the uploaded data set does not exist."),
        429: problem("Too many jobs are queued already; see Retry-After."),
        507: problem("The store is full; delete checkpoints or data sets first."),
    },
)
def create_job(body: JobRequest, request: Request, response: Response, state: State) -> JobOut:
    """Queue a training job. Watch it at the returned `url`."""
    out = _out(request, submit(body, state))
    response.headers["Location"] = out.url
    return out


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
async def job_events(job: Job, state: State, request: Request) -> AsyncIterator[ServerSentEvent]:
    """Server-sent events: `state` (the whole record) on each state change, `progress`
    while it trains, `unavailable` while Redis is away; the stream ends with the job."""
    seen: tuple[int, JobState] | None = None
    progress = None
    async for reading in state.watcher.follow(job.id):
        current = reading.record
        if reading.unavailable:
            yield ServerSentEvent(event="unavailable", data={"detail": "Redis is unavailable"})
            continue
        if current is None:  # expired under retention
            return
        if (len(current.history), current.state) != seen:
            seen = (len(current.history), current.state)
            # Made once per change for all of this job's streams (they share the reading).
            key = f"state {request.base_url}"
            if key not in reading.shared:
                out = await anyio.to_thread.run_sync(_out, request, current)
                reading.shared[key] = ServerSentEvent(event="state", data=out)
            yield reading.shared[key]
        elif current.progress != progress:
            yield ServerSentEvent(event="progress", data=current.progress)
        progress = current.progress
        if current.state in FINISHED_STATES:
            return


@router.post(
    "/{job_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[Authorized],
    responses={**BODY, **NO_JOB, 409: problem("The job already ended.")},
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
