"""Schemathesis over the registry's OpenAPI, in-process, with a role token: no 5xx, every response
conforms to the schema (status, content type, headers, body), and every 4xx/5xx is problem+json.

SQLite only (a fresh database with the reference data, module-scoped): the contract is the same on
both dialects and the other registry tests cover PostgreSQL. Schemathesis' ASGI client starts the
app's lifespan itself in its own event-loop thread (and keeps it for the process), so the database
engine lives in that loop; the module fixture shuts it down at the end. Examples are bounded and
derandomized so that the run is deterministic and takes well under 3 minutes on a 2-core machine."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from shared.testing import DatabaseFactory, Tokens, settings_overrides
from tests.conftest import load_registry_reference

PROBLEM = "application/problem+json"
PROBLEM_MEMBERS = ("type", "title", "status", "detail", "instance")
MAX_EXAMPLES = 100
# Identifiers of the reference data, mixed into generated path parameters so that the 2xx answers
# (and the writes on existing zones) are exercised, not only 404s for random codes.
ZONE_CODES = ("S159041", "G153012", "G156020", "S159001", "G152058")
LEAGUE_CODES = ("150100", "150200", "152200")
EVENT_IDS = ("08a4fc34-3694-55a3-a00a-6475678d1843",)


def flatmap_path_parameters(ctx: schemathesis.HookContext, params: dict[str, Any] | None) -> Any:
    """Keep the generated path parameters, or name a real zone / league / event instead."""
    if not params:
        return st.just(params)
    path = ctx.operation.path if ctx.operation is not None else ""
    real = {"code": LEAGUE_CODES if path.startswith("/leagues/") else ZONE_CODES, "event_id": EVENT_IDS}
    known = st.fixed_dictionaries({k: st.sampled_from(real[k]) if k in real else st.just(v)
                                   for k, v in params.items()})
    return st.one_of(st.just(params), known)


@pytest.fixture(scope="module")
async def schemathesis_db(database_factory: DatabaseFactory) -> AsyncIterator[str]:
    url = await database_factory.fresh("registry", "sqlite", "reference", load_registry_reference)
    yield url
    await database_factory.drop(url)


@pytest.fixture(scope="module")
def registry_schema(schemathesis_db: str, tokens: Tokens) -> Iterator[schemathesis.BaseSchema]:
    from services.registry.app import create_app
    from services.registry.settings import Settings

    app = create_app(Settings(**settings_overrides(tokens, schemathesis_db)))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)  # starts the lifespan (see the docstring)
    schema.hook(flatmap_path_parameters)
    try:
        yield schema
    finally:
        shutdown_lifespans()


@pytest.fixture(scope="module")
def st_department(tokens: Tokens) -> dict[str, str]:
    return tokens.headers("st_department", sub="schemathesis")  # minted once: signing costs ~35 ms


@pytest.fixture(scope="module")
def workflow_service(tokens: Tokens) -> dict[str, str]:
    return tokens.headers("service", sub="workflow")


def problem_json_errors(ctx: schemathesis.CheckContext, response: schemathesis.Response,
                        case: schemathesis.Case) -> bool | None:
    """No 5xx; every 4xx is application/problem+json with type, title, status, detail and instance."""
    if response.status_code >= 500:
        raise AssertionError(f"server error {response.status_code}: {response.text[:2000]}")
    if response.status_code < 400:
        return None
    values = [v for k, vs in response.headers.items() if k.lower() == "content-type" for v in vs]
    content_type = values[0].split(";")[0].strip() if values else ""
    assert content_type == PROBLEM, f"{response.status_code} answered with content type {content_type!r}"
    body: Any = json.loads(response.text)
    assert isinstance(body, dict), f"problem body is not an object: {response.text[:500]}"
    missing = [m for m in PROBLEM_MEMBERS if m not in body]
    assert not missing, f"problem body lacks {missing}: {response.text[:500]}"
    assert body["status"] == response.status_code, f"problem status {body['status']} ≠ {response.status_code}"
    return True


# What the issue asks for: no 5xx, every response conforms to the schema, every 4xx is problem+json.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, problem_json_errors]

schema = schemathesis.pytest.from_fixture("registry_schema")


# Deterministic (derandomized, no example database) and no deadline (the 2-core CI machine is slow);
# the health checks about slow or filtered generation are irrelevant for request bodies this large.
SETTINGS = settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.data_too_large, HealthCheck.large_base_example])


@schema.parametrize()
@SETTINGS
def test_registry_as_st_department(case: schemathesis.Case, st_department: dict[str, str]) -> None:
    case.call_and_validate(headers=st_department, checks=CHECKS)


@schema.include(tag="events").parametrize()
@SETTINGS
def test_events_as_workflow_service(case: schemathesis.Case, workflow_service: dict[str, str]) -> None:
    case.call_and_validate(headers=workflow_service, checks=CHECKS)
