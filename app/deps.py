"""Request dependencies: settings, the Redis stores and the token check."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.auth import token_refusal
from app.state import Services, services
from digitgan.checkpoints import CheckpointStore
from digitgan.jobs import JobStore
from digitgan.settings import Settings


def get_services(request: Request) -> Services:
    return services(request.app)


def get_settings(request: Request) -> Settings:
    return services(request.app).settings


def get_jobs(request: Request) -> JobStore:
    return services(request.app).jobs


def get_checkpoints(request: Request) -> CheckpointStore:
    return services(request.app).checkpoints


_bearer = HTTPBearer(auto_error=False)


def require_token(
    request: Request,
    settings: Annotated[Settings, Depends(get_settings)],
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],  # for the schema
) -> None:
    """Changing endpoints need `Authorization: Bearer <DIGITGAN_API_TOKEN>`."""
    refused = token_refusal(settings, request.headers.get("authorization"))
    if refused is not None:
        raise HTTPException(refused.status, refused.detail, headers=refused.headers)


State = Annotated[Services, Depends(get_services)]
Jobs = Annotated[JobStore, Depends(get_jobs)]
Checkpoints = Annotated[CheckpointStore, Depends(get_checkpoints)]
Authorized = Depends(require_token)
