"""Schemathesis over the workflow OpenAPI (issue #6 §10), in-process, with role tokens, against a real
registry started with uvicorn: no 5xx, responses conform to the schema, every 4xx is problem+json.

SQLite only (the contract is the same on both dialects; the other workflow tests cover PostgreSQL).
A few applications exist beforehand (draft, under review, submitted to the government) so that the
generated ids reach real ones. Bounded and derandomized."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.python.asgi import shutdown_lifespans

from shared.testing import DatabaseFactory, Tokens, asgi_client, settings_overrides, uvicorn_server
from tests.conftest import load_registry_reference
from tests.registry.test_schemathesis import CHECKS
from tests.workflow.conftest import ACTORS, LEAGUE, Workflow

REAL: dict[str, tuple[Any, ...]] = {
    "application_id": (1, 2, 3),
    "name": ("submit_intent", "start_expert_review", "recommend", "approve", "reject", "withdraw"),
    "item": ("development_plan", "application_letter", "other"),
    "version": (1, 2),
    "expert_sub": ("expert-a", "expert-b"),
}
SETTINGS = settings(max_examples=40, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.data_too_large, HealthCheck.large_base_example])


def flatmap_path_parameters(ctx: schemathesis.HookContext, params: dict[str, Any] | None) -> Any:
    if not params:
        return st.just(params)
    known = st.fixed_dictionaries({k: st.sampled_from(REAL[k]) if k in REAL else st.just(v)
                                   for k, v in params.items()})
    return st.one_of(st.just(params), known)


@pytest.fixture(scope="module")
async def workflow_schemathesis_env(database_factory: DatabaseFactory, tokens: Tokens,
                                    tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    """The registry running for real, the workflow database with three applications in it."""
    from services.workflow.app import create_app
    from services.workflow.settings import Settings

    registry_db = await database_factory.fresh("registry", "sqlite", "reference", load_registry_reference)
    workflow_db = await database_factory.fresh("workflow", "sqlite")
    materials = tmp_path_factory.mktemp("materials")
    env = {"REGISTRY_DATABASE_URL": registry_db, "REGISTRY_JWKS_FILE": str(tokens.jwks_file),
           "REGISTRY_JWT_ISSUER": "hitech-zones-test", "REGISTRY_LOG_LEVEL": "WARNING"}
    with uvicorn_server("services.registry.app:create_app", env) as registry_url:
        overrides = {**settings_overrides(tokens, workflow_db), "registry_url": registry_url,
                     "scoring_url": "http://127.0.0.1:9", "peer_token": tokens("service", sub="workflow"),
                     "materials_dir": materials, "dispatcher_enabled": False, "webhook_dispatcher_enabled": False,
                     "eligibility_timeout_seconds": 0.5}
        async with httpx.AsyncClient(base_url=registry_url) as registry:
            app = create_app(Settings(**overrides))
            async with asgi_client(app, "http://workflow") as client:
                wf = Workflow(client, registry, app, tokens, workflow_db, Path(materials), registry_db)
                await wf.to_state("draft")
                await wf.to_state("under_expert_review")
                await wf.to_state("submitted_to_government")
        yield overrides
    await database_factory.drop(registry_db)
    await database_factory.drop(workflow_db)


@pytest.fixture(scope="module")
def workflow_schema(workflow_schemathesis_env: dict[str, Any]) -> Iterator[schemathesis.BaseSchema]:
    from services.workflow.app import create_app
    from services.workflow.settings import Settings

    async def resolver(host: str, port: int) -> list[str]:  # callback hosts: no DNS lookups of generated names
        return ["127.0.0.1"]

    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(Settings(**workflow_schemathesis_env),
                                                                        webhook_resolver=resolver))
    schema.hook(flatmap_path_parameters)
    try:
        yield schema
    finally:
        shutdown_lifespans()


def _headers(tokens: Tokens, actor: str) -> dict[str, str]:
    a = ACTORS[actor]
    return tokens.headers(a["role"], sub=a["sub"], league_code=a.get("league_code"))


@pytest.fixture(scope="module")
def st_department(tokens: Tokens) -> dict[str, str]:
    return _headers(tokens, "st")


@pytest.fixture(scope="module")
def league(tokens: Tokens) -> dict[str, str]:
    assert ACTORS["league"]["league_code"] == LEAGUE
    return _headers(tokens, "league")


@pytest.fixture(scope="module")
def expert(tokens: Tokens) -> dict[str, str]:
    return _headers(tokens, "expert_a")


schema = schemathesis.pytest.from_fixture("workflow_schema")


@schema.parametrize()
@SETTINGS
def test_workflow_as_st_department(case: schemathesis.Case, st_department: dict[str, str]) -> None:
    case.call_and_validate(headers=st_department, checks=CHECKS)


@schema.include(tag="applications").include(tag="materials").include(tag="subscriptions").parametrize()
@SETTINGS
def test_applications_and_materials_as_league(case: schemathesis.Case, league: dict[str, str]) -> None:
    case.call_and_validate(headers=league, checks=CHECKS)


@schema.include(tag="panel").parametrize()
@SETTINGS
def test_panel_as_expert(case: schemathesis.Case, expert: dict[str, str]) -> None:
    case.call_and_validate(headers=expert, checks=CHECKS)
