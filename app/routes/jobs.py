"""Training jobs: start one, list them, watch one, cancel one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import BaseModel

from app.deps import Authorized, Jobs
from digitgan.jobs import FINISHED_STATES, JobRecord, JobSpec, JobState
from worker.celery_app import TRAIN_TASK

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


class JobOut(JobRecord):
    url: str


class JobList(BaseModel):
    jobs: list[JobOut]
    limit: int
    offset: int


def _out(request: Request, job: JobRecord) -> JobOut:
    return JobOut(**job.model_dump(), url=str(request.url_for("get_job", job_id=job.id)))


@router.post("", status_code=status.HTTP_202_ACCEPTED, dependencies=[Authorized])
def create_job(spec: JobSpec, request: Request, response: Response, jobs: Jobs) -> JobOut:
    """Queue a training job. Watch it at the returned `url`."""
    job = jobs.create(spec)
    request.app.state.celery.send_task(TRAIN_TASK, args=[job.id], task_id=job.id)
    out = _out(request, job)
    response.headers["Location"] = out.url
    return out


@router.get("")
def list_jobs(
    request: Request,
    jobs: Jobs,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> JobList:
    """Jobs, newest first."""
    listed = [_out(request, job) for job in jobs.list(limit, offset)]
    return JobList(jobs=listed, limit=limit, offset=offset)


@router.get("/{job_id}")
def get_job(job_id: str, request: Request, jobs: Jobs) -> JobOut:
    return _out(request, _find(jobs, job_id))


@router.post("/{job_id}/cancel", status_code=status.HTTP_202_ACCEPTED, dependencies=[Authorized])
def cancel_job(job_id: str, request: Request, jobs: Jobs) -> JobOut:
    """Stop a job: a queued one never starts, a running one stops at the next step."""
    job = _find(jobs, job_id)
    if job.state in FINISHED_STATES:
        raise HTTPException(status.HTTP_409_CONFLICT, f"job {job_id} already ended: {job.state}")
    jobs.request_cancel(job_id)
    if job.state == JobState.queued:
        jobs.set_state(job_id, JobState.cancelled)
    return _out(request, _find(jobs, job_id))


def _find(jobs: Jobs, job_id: str) -> JobRecord:
    job = jobs.get(job_id) if len(job_id) <= 64 else None
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job with id {job_id!r}")
    return job
