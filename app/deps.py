"""Request dependencies: settings, the Redis stores and the token check."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

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
    settings: Annotated[Settings, Depends(get_settings)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Changing endpoints need `Authorization: Bearer <DIGITGAN_API_TOKEN>`."""
    if settings.api_token is None:
        # Never open by accident: with no token configured, nothing may change.
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no API token is configured")
    expected = settings.api_token.get_secret_value().encode()
    given = credentials.credentials.encode() if credentials else b""
    if not secrets.compare_digest(given, expected):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or wrong token: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )


State = Annotated[Services, Depends(get_services)]
Jobs = Annotated[JobStore, Depends(get_jobs)]
Checkpoints = Annotated[CheckpointStore, Depends(get_checkpoints)]
Authorized = Depends(require_token)
