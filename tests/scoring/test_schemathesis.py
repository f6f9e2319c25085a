"""Schemathesis over the scoring OpenAPI, in-process, with role tokens, against a real registry
started with uvicorn: no 5xx, responses conform to the schema, every 4xx is problem+json.

SQLite only (the contract is the same on both dialects; the other scoring tests cover PostgreSQL).
Bounded and derandomized: deterministic, well under 3 minutes on the 2-core machine."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.python.asgi import shutdown_lifespans

from shared.testing import DatabaseFactory, Tokens, settings_overrides, uvicorn_server
from tests.conftest import load_registry_reference
from tests.registry.test_schemathesis import CHECKS, SETTINGS

REAL = {
    "zone_id": ("S158023", "NM-6", "G152006", "S159041"),
    "framework_id": ("nmg-hitech-2022", "asem-coinr"),
    "unit": ("AUT", "CHN", "S158023"),
    "area": ("150000", "150400", "152900"),
    "year": (2023, 2024, 2025),
}


def flatmap_path_parameters(ctx: schemathesis.HookContext, params: dict[str, Any] | None) -> Any:
    if not params:
        return st.just(params)
    known = st.fixed_dictionaries({k: st.sampled_from(REAL[k]) if k in REAL else st.just(v)
                                   for k, v in params.items()})
    return st.one_of(st.just(params), known)


@pytest.fixture(scope="module")
async def scoring_schemathesis_dbs(database_factory: DatabaseFactory) -> AsyncIterator[tuple[str, str]]:
    registry = await database_factory.fresh("registry", "sqlite", "reference", load_registry_reference)
    scoring = await database_factory.fresh("scoring", "sqlite")
    yield registry, scoring
    await database_factory.drop(registry)
    await database_factory.drop(scoring)


@pytest.fixture(scope="module")
def scoring_schema(scoring_schemathesis_dbs: tuple[str, str], tokens: Tokens) -> Iterator[schemathesis.BaseSchema]:
    from services.scoring.app import create_app
    from services.scoring.settings import Settings

    registry_db, scoring_db = scoring_schemathesis_dbs
    env = {"REGISTRY_DATABASE_URL": registry_db, "REGISTRY_JWKS_FILE": str(tokens.jwks_file),
           "REGISTRY_LOG_LEVEL": "WARNING"}
    with uvicorn_server("services.registry.app:create_app", env) as registry_url:
        app = create_app(Settings(**settings_overrides(tokens, scoring_db), registry_url=registry_url,
                                  peer_token=tokens("service", sub="scoring")))
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        schema.hook(flatmap_path_parameters)
        try:
            yield schema
        finally:
            shutdown_lifespans()


@pytest.fixture(scope="module")
def bureau(tokens: Tokens) -> dict[str, str]:
    return tokens.headers("statistics_bureau", sub="schemathesis")


@pytest.fixture(scope="module")
def st_department(tokens: Tokens) -> dict[str, str]:
    return tokens.headers("st_department", sub="schemathesis")


schema = schemathesis.pytest.from_fixture("scoring_schema")


@schema.parametrize()
@SETTINGS
def test_scoring_as_statistics_bureau(case: schemathesis.Case, bureau: dict[str, str]) -> None:
    case.call_and_validate(headers=bureau, checks=CHECKS)


@schema.include(tag="frameworks").parametrize()
@SETTINGS
def test_frameworks_as_st_department(case: schemathesis.Case, st_department: dict[str, str]) -> None:
    case.call_and_validate(headers=st_department, checks=CHECKS)
