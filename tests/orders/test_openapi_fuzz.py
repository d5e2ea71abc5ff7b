"""Schemathesis against /api/v1/openapi.json: generated requests (bounded) never get a 5xx, and every
response matches the document (status code, content type, body schema)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import checks
from schemathesis.schemas import BaseSchema
from sqlalchemy import Engine

from fabcoord.config import Settings
from orders.schemas import today
from orders.web import create_app
from tests.orders.conftest import invite

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture
def fuzz_token(reference_loaded: Engine) -> str:
    return invite(reference_loaded)


@pytest.fixture
def api_schema(web_settings: Settings, reference_loaded: Engine) -> Iterator[BaseSchema]:
    app = create_app(web_settings)
    with TestClient(app):  # runs the lifespan
        yield schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)


def test_generated_requests_get_documented_answers_and_no_server_error(
    api_schema: BaseSchema, fuzz_token: str
) -> None:
    headers = {"Authorization": f"Bearer {fuzz_token}"}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) == 9

    statuses: list[tuple[str, int]] = []

    for operation in operations:

        @given(case=operation.as_strategy(), plausible=st.booleans())
        @settings(
            max_examples=40,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case, plausible: bool) -> None:
            if plausible and isinstance(case.body, dict):
                # random dates are almost never in the coming years: let half the bodies pass
                case.body["needed_by"] = (today() + timedelta(days=3)).isoformat()
                case.body["item"] = "visor"
            response = case.call_and_validate(headers=headers, checks=CHECKS)
            statuses.append((case.method, response.status_code))

        check()
    assert ("POST", 201) in statuses  # the fuzzing reached the happy path too
