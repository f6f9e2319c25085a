"""Schemathesis over the scoring OpenAPI, in-process, with role tokens, against a real registry
started with uvicorn: no 5xx, responses conform to the schema, every 4xx is problem+json and every 422
names the field.

Scoring I's intake runs as the statistics bureau, Scoring II's writes as the S&T Department and as an
expert, over seeded data so that the ids in paths exist: the demonstration figures 2022–2025, a frozen
round (2025) and an open one (2023) with the expert assigned, evaluations 1 (2024, published),
2 (2025, published, with proposals and an uncertainty run) and 3 (2025, a draft correcting 2), a
posted method.

SQLite only (the contract is the same on both dialects; the other scoring tests cover PostgreSQL).
Bounded and derandomized: deterministic; about a minute on the 2-core machine."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.python.asgi import shutdown_lifespans

from shared.peers import PeerClient
from shared.testing import DatabaseFactory, Tokens, asgi_client, settings_overrides, uvicorn_server
from tests.conftest import load_registry_reference
from tests.registry.test_schemathesis import CHECKS

EXPERT = "schemathesis-expert"
REAL: dict[str, tuple[Any, ...]] = {
    "zone_id": ("S158023", "NM-6", "G152006", "S159041"),
    "zone_code": ("S158023", "NM-6", "S159041", "G153012"),
    "framework_id": ("nmg-hitech-2022", "asem-coinr"),
    "unit": ("AUT", "CHN", "S158023"),
    "area": ("150000", "150400", "152900"),
    "year": (2023, 2024, 2025),
    "evaluation_id": (3, 1, 2),  # 3 first: the draft correction is published early on
    "round_id": (1, 2),
    "indicator": ("2.8", "4.2", "4.5", "1.1"),
    "method_id": ("nmg-default", "nmg-prank", "schemathesis-method", "asem-coinr"),
    "run_id": (1,),
    "proposal_id": (1, 2, 3),
}
METHOD = {
    "id": "schemathesis-method", "version": 1, "name": {"en": "plain min-max"}, "frameworks": ["nmg-hitech-2022"],
    "operations": [
        {"op": "normalise", "default": {"method": "minmax", "lo": 0, "hi": 1}},
        {"op": "missing", "policy": "zero_flagged"},
        {"op": "aggregate", "method": "points_sum"},
        {"op": "round", "places": 2, "rule": "half_up"},
    ],
}
UNCERTAINTY = {"replications": 50, "seed": 1, "normalise": [{"method": "minmax", "lo": 0, "hi": 1}],
               "weights_noise": [{"level": 1, "noise": 0.25}]}
HEALTH = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large,
          HealthCheck.large_base_example]


def bounded(examples: int) -> Any:
    """Deterministic (derandomized, no example database), no deadline (the 2-core machine is slow)."""
    return settings(max_examples=examples, derandomize=True, deadline=None, database=None,
                    suppress_health_check=HEALTH)


def flatmap_path_parameters(ctx: schemathesis.HookContext, params: dict[str, Any] | None) -> Any:
    if not params:
        return st.just(params)
    known = st.fixed_dictionaries({k: st.sampled_from(REAL[k]) if k in REAL else st.just(v)
                                   for k, v in params.items()})
    return st.one_of(st.just(params), known)


# Members of generated bodies replaced by real ones (sometimes), so that writes get past "unknown …" to the
# rules behind: an evaluation run or refused as a correction, a round of a year with data, an assignment.
BODY_REAL: dict[tuple[str, str], dict[str, tuple[Any, ...]]] = {
    ("POST", "/evaluations"): {"year": (2025, 2024, 2023), "framework": ("nmg-hitech-2022", "asem-coinr"),
                               "method": ("nmg-default", "schemathesis-method", "nmg-prank", "asem-coinr"),
                               "framework_version": (1, None), "method_version": (1, None),
                               "supersedes": (None, 1, 2, 3)},
    ("POST", "/rounds"): {"year": (2022, 2024), "framework": ("nmg-hitech-2022", "asem-coinr")},
    ("POST", "/rounds/{round_id}/experts"): {"expert": (EXPERT, "other-expert"),
                                             "zones": (None, ["S158023", "NM-6"], ["G153012"])},
}


def flatmap_body(ctx: schemathesis.HookContext, body: Any) -> Any:
    operation = ctx.operation
    real = BODY_REAL.get((operation.method.upper(), operation.path)) if operation is not None else None
    if real is None or not isinstance(body, dict):
        return st.just(body)
    known = st.fixed_dictionaries({k: st.sampled_from(real[k]) if k in real else st.just(v) for k, v in body.items()})
    return st.one_of(st.just(body), known)


def field_named(ctx: schemathesis.CheckContext, response: schemathesis.Response,
                case: schemathesis.Case) -> bool | None:
    """Bad input (422) names the field and the reason: `errors`, each with a field, a code and a reason."""
    if response.status_code != 422:
        return None
    body: Any = json.loads(response.text)
    errors = body.get("errors") if isinstance(body, dict) else None
    assert errors and all(isinstance(e.get("field"), str) and e.get("code") and e.get("reason") for e in errors), (
        f"a 422 that names no field: {response.text[:800]}")
    return True


SCORING_CHECKS = [*CHECKS, field_named]


async def _seed(app: Any, tokens: Tokens, registry_url: str) -> None:
    """The demonstration figures (once the app has loaded its frameworks), rounds, expert scores,
    evaluations (two published, one draft), proposals, an uncertainty run."""
    from services.scoring.clients.registry import RegistryClient
    from services.scoring.data.demo import load_demo

    st_dept = tokens.headers("st_department", sub="schemathesis")
    expert = tokens.headers("expert", sub=EXPERT)
    async with asgi_client(app, "http://scoring") as client:
        peer = PeerClient(registry_url)
        try:
            await load_demo(app.state.db, RegistryClient(peer))
        finally:
            await peer.aclose()

        async def call(method: str, url: str, body: Any, headers: dict[str, str], status: int = 201) -> Any:
            r = await client.request(method, url, json=body, headers=headers)
            assert r.status_code == status, (url, r.text)
            return r.json()

        assert (await call("POST", "/rounds", {"year": 2025}, st_dept))["id"] == 1
        assert (await call("POST", "/rounds", {"year": 2023}, st_dept))["id"] == 2
        for round_id in (1, 2):
            await call("POST", f"/rounds/{round_id}/experts", {"expert": EXPERT}, st_dept, 200)
            await call("PUT", f"/rounds/{round_id}/scores/S158023/2.8", {"score": "4", "comment": "好"}, expert)
        await call("POST", "/methods", METHOD, st_dept)
        proposals: list[int] = []
        for evaluation_id, year in ((1, 2024), (2, 2025)):
            assert (await call("POST", "/evaluations", {"year": year}, st_dept))["id"] == evaluation_id
            out = await call("POST", f"/evaluations/{evaluation_id}/publish", None, st_dept, 200)
            proposals += [p["id"] for p in out["proposals"]]
        assert proposals[:3] == [1, 2, 3], proposals  # REAL["proposal_id"]
        correction = {"year": 2025, "method": "nmg-prank", "supersedes": 2}  # publishable: a correction
        assert (await call("POST", "/evaluations", correction, st_dept))["id"] == 3
        assert (await call("POST", "/evaluations/2/uncertainty", UNCERTAINTY, st_dept))["id"] == 1


@pytest.fixture(scope="module")
async def scoring_schemathesis_env(database_factory: DatabaseFactory,
                                   tokens: Tokens) -> AsyncIterator[dict[str, Any]]:
    """The registry running for real; the scoring database with the demonstration data and the seed."""
    from services.scoring.app import create_app
    from services.scoring.settings import Settings

    registry_db = await database_factory.fresh("registry", "sqlite", "reference", load_registry_reference)
    scoring_db = await database_factory.fresh("scoring", "sqlite")
    env = {"REGISTRY_DATABASE_URL": registry_db, "REGISTRY_JWKS_FILE": str(tokens.jwks_file),
           "REGISTRY_JWT_ISSUER": "hitech-zones-test", "REGISTRY_LOG_LEVEL": "WARNING"}
    with uvicorn_server("services.registry.app:create_app", env) as registry_url:
        overrides = {**settings_overrides(tokens, scoring_db), "registry_url": registry_url,
                     "peer_token": tokens("service", sub="scoring"), "outbox_dispatch": False,
                     # a generated request may ask for the most replications: keep each one cheap
                     "uncertainty_max_replications": 200}
        await _seed(create_app(Settings(**overrides)), tokens, registry_url)
        yield overrides
    await database_factory.drop(registry_db)
    await database_factory.drop(scoring_db)


@pytest.fixture(scope="module")
def scoring_schema(scoring_schemathesis_env: dict[str, Any]) -> Iterator[schemathesis.BaseSchema]:
    from services.scoring.app import create_app
    from services.scoring.settings import Settings

    app = create_app(Settings(**scoring_schemathesis_env))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    schema.hook(flatmap_path_parameters)
    schema.hook(flatmap_body)
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


@pytest.fixture(scope="module")
def expert(tokens: Tokens) -> dict[str, str]:
    return tokens.headers("expert", sub=EXPERT)


schema = schemathesis.pytest.from_fixture("scoring_schema")
SCORING_II = ("evaluations", "methods", "expert scores", "dynamic management")


@schema.exclude(tag=list(SCORING_II)).parametrize()
@bounded(40)
def test_scoring_i_as_statistics_bureau(case: schemathesis.Case, bureau: dict[str, str]) -> None:
    case.call_and_validate(headers=bureau, checks=SCORING_CHECKS)


@schema.include(tag="frameworks").parametrize()
@bounded(25)
def test_frameworks_as_st_department(case: schemathesis.Case, st_department: dict[str, str]) -> None:
    case.call_and_validate(headers=st_department, checks=SCORING_CHECKS)


@schema.include(tag=list(SCORING_II)).parametrize()
@bounded(30)
def test_scoring_ii_as_st_department(case: schemathesis.Case, st_department: dict[str, str]) -> None:
    case.call_and_validate(headers=st_department, checks=SCORING_CHECKS)


@schema.include(tag="expert scores").parametrize()
@bounded(30)
def test_expert_scores_as_expert(case: schemathesis.Case, expert: dict[str, str]) -> None:
    case.call_and_validate(headers=expert, checks=SCORING_CHECKS)
