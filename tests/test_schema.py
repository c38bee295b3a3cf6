"""Fuzz the API against its own OpenAPI schema: no 500s, no answer the schema does not allow."""

from __future__ import annotations

import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.main import create_app
from digitgan.checkpoints import CheckpointStore
from digitgan.keys import Keys
from digitgan.settings import Settings
from tests.conftest import private_settings
from tests.support import AUTH
from tests.support.checkpoints import publish

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def fuzzed_app(redis_server):
    """One app for the whole run, with a conditional checkpoint and an alias to find."""
    app_settings = private_settings(redis_server)
    client = redis.Redis.from_url(app_settings.redis_url)
    checkpoint_id = publish(CheckpointStore(client, app_settings.redis_prefix), "cmlp", "cmlp-a")
    client.hset(Keys(app_settings.redis_prefix).aliases, "production", checkpoint_id)
    yield create_app(app_settings)
    schemathesis.python.asgi.shutdown_lifespans()
    keys = list(client.scan_iter(f"{app_settings.redis_prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(scope="module")
def api_schema(fuzzed_app):
    return schemathesis.openapi.from_asgi("/openapi.json", fuzzed_app)


# Fuzzed without the token (nothing may change) and with it (every changing operation and
# its refusals); the event stream is left out as its answer has no end to check.
OPERATIONS = [
    (path, method.upper())
    for path, item in create_app(Settings(_env_file=None)).openapi()["paths"].items()
    for method in item
    if not path.endswith("/events")
]


@pytest.mark.parametrize("headers", [{}, AUTH], ids=["no token", "token"])
@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_api_answers_as_its_schema_says(api_schema, path, method, headers):
    operation = api_schema[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
    def fuzz(case):
        case.call_and_validate(checks=CHECKS, headers=headers)

    fuzz()
