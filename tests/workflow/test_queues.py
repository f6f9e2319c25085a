"""Deadlines and queues (issue #6 §8), and eligibility as advice (§9): GET /tasks per role with overdue
items first, GET /applications by league, state and overdue; scoring's answer stored at intent, or
"not_available" when it cannot be reached, never blocking."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from zoneinfo import ZoneInfo

import httpx
import pytest

from shared.testing import DatabaseFactory, Tokens, asgi_client, execute_raw, settings_overrides
from tests.workflow.conftest import LEAGUE, Workflow


async def _tasks(wf: Workflow, actor: str) -> list[int]:
    r = await wf.client.get("/tasks", headers=wf.h(actor))
    assert r.status_code == 200
    return [t["application"]["id"] for t in r.json()["items"]]


async def _ids(wf: Workflow, actor: str, query: str = "") -> list[int]:
    r = await wf.client.get(f"/applications{query}", headers=wf.h(actor))
    assert r.status_code == 200, r.text
    return [a["id"] for a in r.json()["items"]]


async def test_tasks_and_lists_overdue_first(wf: Workflow) -> None:
    draft = await wf.to_state("draft")
    intent_late = await wf.to_state("intent_submitted")
    intent = await wf.to_state("intent_submitted")
    review = await wf.to_state("under_expert_review")
    other = (await wf.create(await wf.candidate_zone("150200"), actor="other_league"))["id"]
    app = await wf.get(intent)
    assert app["due_at"] is not None and app["overdue"] is False
    entered = dt.datetime.fromisoformat(app["state_entered_at"])
    assert dt.datetime.fromisoformat(app["due_at"]) - entered == dt.timedelta(days=20)  # v1: intent_submitted
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(days=3)).strftime("%Y-%m-%d %H:%M:%S")
    await execute_raw(wf.url, f"UPDATE applications SET due_at = '{past}' WHERE id = {intent_late}")
    assert (await wf.get(intent_late))["overdue"] is True

    assert await _tasks(wf, "st") == [intent_late, intent, review]  # overdue first, then by deadline
    assert await _tasks(wf, "league") == [draft]
    assert await _tasks(wf, "other_league") == [other]
    assert await _tasks(wf, "expert_a") == [review]
    assert await _tasks(wf, "gov") == [] and await _tasks(wf, "observer") == []
    assert (await wf.opine(review, "expert_a")).status_code == 201
    assert await _tasks(wf, "expert_a") == []

    assert await _ids(wf, "st", "?overdue=true") == [intent_late]
    assert await _ids(wf, "st", "?overdue=false") == [draft, intent, review, other]
    assert await _ids(wf, "st", "?state=intent_submitted") == [intent_late, intent]
    assert await _ids(wf, "st", f"?league={LEAGUE}&limit=2") == [draft, intent_late]
    assert await _ids(wf, "league") == [draft, intent_late, intent, review]
    assert await _ids(wf, "expert_a") == [review]
    assert await _ids(wf, "expert_other") == []
    r = await wf.client.get("/applications?league=150200", headers=wf.h("league"))
    assert r.status_code == 403 and r.json()["code"] == "other-league"
    page = (await wf.client.get("/applications?limit=2", headers=wf.h("observer"))).json()
    rest = (await wf.client.get(f"/applications?limit=10&cursor={page['next_cursor']}",
                                headers=wf.h("observer"))).json()
    assert [a["id"] for a in page["items"] + rest["items"]] == [draft, intent_late, intent, review, other]
    assert rest["next_cursor"] is None
    assert (await wf.client.get("/applications?cursor=forged", headers=wf.h("st"))).status_code == 422


@pytest.fixture
async def with_scoring(registry_db: str, workflow_db: str, database_factory: DatabaseFactory, dialect: str,
                       tokens: Tokens, tmp_path) -> AsyncIterator[Workflow]:  # type: ignore[no-untyped-def]
    """The workflow with the real scoring service (its own database), both asking the real registry."""
    from services.registry.app import create_app as create_registry
    from services.registry.settings import Settings as RegistrySettings
    from services.scoring.app import create_app as create_scoring
    from services.scoring.settings import Settings as ScoringSettings
    from services.workflow.app import create_app
    from services.workflow.settings import Settings

    scoring_db = await database_factory.fresh("scoring", dialect)
    registry_app = create_registry(RegistrySettings(**settings_overrides(tokens, registry_db)))
    async with asgi_client(registry_app, "http://registry") as registry:
        scoring_app = create_scoring(
            ScoringSettings(**settings_overrides(tokens, scoring_db), registry_url="http://registry",
                            peer_token=tokens("service", sub="scoring"), registry_cache_seconds=0),
            registry_transport=httpx.ASGITransport(app=registry_app))
        async with asgi_client(scoring_app, "http://scoring"):
            app = create_app(
                Settings(**settings_overrides(tokens, workflow_db), registry_url="http://registry",
                         scoring_url="http://scoring", peer_token=tokens("service", sub="workflow"),
                         materials_dir=tmp_path / "m", dispatcher_enabled=False),
                registry_transport=httpx.ASGITransport(app=registry_app),
                scoring_transport=httpx.ASGITransport(app=scoring_app))
            async with asgi_client(app, "http://workflow") as client:
                yield Workflow(client, registry, app, tokens, workflow_db, tmp_path / "m", registry_db)
    await database_factory.drop(scoring_db)


async def test_eligibility_from_scoring_is_stored_as_advice(with_scoring: Workflow) -> None:
    created = await with_scoring.create()
    eligibility = created["eligibility"]
    assert eligibility["status"] == "available", eligibility
    assert eligibility["year"] == dt.datetime.now(ZoneInfo("Asia/Shanghai")).year  # the application year
    result = eligibility["result"]
    assert result["zone"]["code"] == created["zone_code"] and result["article"] == "002 art. 4"
    assert {c["code"] for c in result["conditions"]} >= {"C1", "C7"}
    assert created["state"] == "draft"  # advice: whatever it says, the application exists


async def test_eligibility_not_available_when_scoring_is_down(wf: Workflow) -> None:
    created = await wf.create()
    assert created["eligibility"]["status"] == "not_available"
    assert "unreachable" in created["eligibility"]["reason"]
