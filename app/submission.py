"""Turning a training request into a queued job: what `POST /v1/jobs` checks before it
queues anything, so that a refused request changes nothing."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, status

from app.problems import invalid
from app.state import Services
from digitgan.checkpoints import StoreFull
from digitgan.ids import LATEST, uploaded_dataset
from digitgan.jobs import JobRecord
from digitgan.queue import enqueue
from digitgan.specs import JobRequest, JobSpec, estimated_bytes


def submit(request: JobRequest, services: Services) -> JobRecord:
    """Check the request against the store, settle its spec, create and queue the job.

    Raises a 404 for a checkpoint or data set that does not exist, a 422 for a request
    that cannot be trained, StoreFull (507) and QueueFull (429)."""
    if request.resume_from is not None and request.init_from is not None:
        raise invalid(("body", "init_from"), "give resume_from or init_from, not both")
    architecture = None
    if request.resume_from is not None:
        architecture = _resumable(request, request.resume_from, services)
    init_from = None
    if request.init_from is not None:
        init_from, architecture = _initial(request, request.init_from, services)
    upload = uploaded_dataset(request.dataset)
    if upload is not None and services.datasets.meta(upload) is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"no uploaded data set {upload!r}; GET /v1/datasets lists them",
        )
    try:
        spec = request.resolve(architecture)
    except ValueError as exc:
        raise invalid(("body", "checkpoint_every"), str(exc)) from None
    _check_budget(spec, services)
    if init_from is not None:
        spec = spec.model_copy(update={"init_from": init_from})
    if request.resume_from is not None:
        _check_resume_steps(spec, request.resume_from, services)
    job = services.jobs.create(spec)
    enqueue(services.celery, job.id)
    return job


def _checkpoint_meta(ref: str, field: str, services: Services) -> tuple[str, dict[str, Any]]:
    """(checkpoint id, metadata) of an id or an alias (or `latest`); 404 if none."""
    latest, aliases = services.checkpoints.refs()
    checkpoint_id = aliases.get(ref) or (latest if ref == LATEST else ref) or ref
    meta = services.checkpoints.meta(checkpoint_id)
    if meta is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"{field}: no checkpoint or alias named {ref!r}"
        )
    return checkpoint_id, meta


def _same_architecture(request: JobRequest, field: str, checkpoint_id: str, theirs: str) -> None:
    if request.architecture is not None and request.architecture != theirs:
        raise invalid(
            ("body", "architecture"),
            f"{field} checkpoint {checkpoint_id!r} is a {theirs!r}; leave architecture out "
            "or give that one",
        )


def _resumable(request: JobRequest, checkpoint_id: str, services: Services) -> str:
    """The architecture to resume `checkpoint_id` with; 404 or 422 if it cannot be."""
    meta = services.checkpoints.meta(checkpoint_id)
    if meta is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no checkpoint with id {checkpoint_id!r}")
    if services.checkpoints.training_state(checkpoint_id) is None:
        raise invalid(
            ("body", "resume_from"),
            f"checkpoint {checkpoint_id!r} no longer has the training state that resuming "
            "needs; only each job's newest checkpoint keeps it (use init_from to start a "
            "new job from its weights)",
        )
    _same_architecture(request, "resume_from", checkpoint_id, meta["architecture"])
    return str(meta["architecture"])


def _check_resume_steps(spec: JobSpec, checkpoint_id: str, services: Services) -> None:
    meta = services.checkpoints.meta(checkpoint_id) or {}
    if spec.steps <= meta.get("step", 0):
        raise invalid(
            ("body", "steps"),
            f"checkpoint {checkpoint_id!r} is at step {meta['step']}; steps (the total to "
            "train to) must be more than that",
        )


def _initial(request: JobRequest, ref: str, services: Services) -> tuple[str, str]:
    """(checkpoint id, architecture) a fine-tuning job starts from."""
    checkpoint_id, meta = _checkpoint_meta(ref, "init_from", services)
    _same_architecture(request, "init_from", checkpoint_id, meta["architecture"])
    return checkpoint_id, str(meta["architecture"])


def _check_budget(spec: JobSpec, services: Services) -> None:
    """StoreFull unless what the job may store fits in the store's budget."""
    settings = services.settings
    budget, stored = settings.store_budget_bytes, services.checkpoints.stored_bytes()
    need = estimated_bytes(spec, settings.keep_checkpoints)
    if stored + need > budget:
        raise StoreFull(
            f"the store holds {stored / 2**20:.0f} MiB of checkpoints and data sets and this "
            f"job may add {need / 2**20:.0f} MiB, past its budget "
            f"(DIGITGAN_STORE_BUDGET_BYTES) of {budget / 2**20:.0f} MiB; delete checkpoints "
            "you no longer need (DELETE /v1/checkpoints/{id}) or data sets "
            "(DELETE /v1/datasets/{id}), then try again"
        )
