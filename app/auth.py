"""The bearer token that changing endpoints need: one check, used by the routes (as a
dependency, so the OpenAPI schema shows it) and, before a body is read, by app/limits.py.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from digitgan.settings import Settings

MIN_TOKEN_CHARS = 16


class InsecureToken(SystemExit):
    """A token is configured but could be guessed; the API refuses to start."""


def check_token_setting(settings: Settings) -> None:
    """An unset token keeps every changing endpoint closed (503); a set but empty or
    short one would be a guessable secret, so the API does not start with it."""
    if settings.api_token is None:
        return
    token = settings.api_token.get_secret_value()
    if len(token) < MIN_TOKEN_CHARS:
        raise InsecureToken(
            f"DIGITGAN_API_TOKEN is set but has {len(token)} characters; it needs at least "
            f"{MIN_TOKEN_CHARS}. Set a long random one (python -c 'import secrets; "
            "print(secrets.token_urlsafe(24))'), or unset it to keep changing endpoints closed"
        )


@dataclass(frozen=True)
class Refusal:
    status: int
    detail: str
    headers: dict[str, str] = field(default_factory=dict)


def token_refusal(settings: Settings, authorization: str | None) -> Refusal | None:
    """Why a request with this Authorization header may not change anything (None: it may)."""
    if settings.api_token is None:
        # Never open by accident: with no token configured, nothing may change.
        return Refusal(503, "no API token is configured (DIGITGAN_API_TOKEN)")
    scheme, _, given = (authorization or "").partition(" ")
    expected = settings.api_token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), expected):
        return Refusal(
            401,
            "missing or wrong token: send 'Authorization: Bearer <token>'",
            {"WWW-Authenticate": "Bearer"},
        )
    return None
