"""The JSON shapes of error answers, for the OpenAPI schema (app/main.py makes them)."""

from __future__ import annotations

from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field


class Problem(BaseModel):
    detail: str = Field(examples=["no checkpoint or alias named 'prod'"])


class InvalidRequest(Problem):
    detail: str = Field(examples=["query.size: Input should be less than or equal to 1024"])
    errors: list[dict[str, Any]] = Field(description="One entry per bad field: loc, msg, type.")


# OpenAPI `responses` of a route: status -> model and description.
Responses = dict[int | str, dict[str, Any]]


def problem(description: str, model: type[BaseModel] = Problem) -> dict[str, Any]:
    return {"model": model, "description": description}


INVALID: Responses = {
    422: problem("A parameter is out of bounds; `detail` says what is allowed.", InvalidRequest)
}
UNAVAILABLE: Responses = {503: problem("Redis is unreachable or the checkpoint cannot be loaded.")}
# What any request can be answered before routing (app/limits.py).
EVERY: Responses = {
    414: problem("The URL is longer than DIGITGAN_MAX_URL_BYTES."),
    431: problem("The headers are larger than DIGITGAN_MAX_HEADER_BYTES."),
}
# What a request with a body can be answered besides (app/limits.py, body parsing).
BODY: Responses = {
    400: problem("The body could not be read: not UTF-8 JSON, or broken multipart data."),
    401: problem("Missing or wrong token."),
    413: problem("The body is over DIGITGAN_MAX_BODY_BYTES (uploads: DIGITGAN_MAX_UPLOAD_BYTES)."),
}


def invalid(loc: tuple[str, str], message: str) -> RequestValidationError:
    """A 422 in the same shape as FastAPI's own, for checks across fields."""
    return RequestValidationError([{"loc": loc, "msg": message, "type": "value_error"}])
