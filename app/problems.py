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


def invalid(loc: tuple[str, str], message: str) -> RequestValidationError:
    """A 422 in the same shape as FastAPI's own, for checks across fields."""
    return RequestValidationError([{"loc": loc, "msg": message, "type": "value_error"}])
