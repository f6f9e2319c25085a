"""Deadlines and queues (issue #6 §8), and eligibility as advice (§9): GET /tasks per role with overdue
items first, GET /applications by league, state and overdue, the per-state deadline setting checked and
applied; scoring's answer stored at creation and asked again at intent, or "not_available" when it cannot
be reached, never blocking."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from pydantic import ValidationError

from services.workflow.applications import endpoints, service
from services.workflow.clients.scoring import ScoringClient
from shared.peers import PeerClient
from shared.testing import DatabaseFactory, Tokens, asgi_client, execute_raw, settings_overrides
from tests.workflow.conftest import LEAGUE, Workflow, unreachable


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


async def _queue(wf: Workflow, actor: str) -> dict[int, dict[str, Any]]:
    r = await wf.client.get("/tasks", headers=wf.h(actor))
    assert r.status_code == 200, r.text
    return {t["application"]["id"]: t for t in r.json()["items"]}


async def _possible(wf: Workflow, app_id: int, actor: str) -> list[str]:
    """The forward transitions /actions says the actor may take now (exits are not queue work)."""
    body = (await wf.client.get(f"/applications/{app_id}/actions", headers=wf.h(actor))).json()
    return [a["name"] for a in body["possible"] if a["name"] not in ("reject", "withdraw", "not_recommend")]


async def test_queue_lists_only_the_steps_whose_guards_pass_and_else_what_blocks_them(wf: Workflow) -> None:
    """A department officer's queue says what each application really waits for: an application under
    review with an opinion outstanding is not offered as "recommend" but shown waiting for that expert;
    the same for an intent without a panel, and for a league's draft without its materials or a revision
    without new plans. As soon as the guard holds, the step is offered."""
    no_panel = await wf.to_state("intent_submitted")
    with_panel = await wf.to_state("intent_submitted")
    await wf.assign(with_panel, "expert-a")
    waiting = await wf.to_state("intent_submitted")
    await wf.assign(waiting, "expert-a", "expert-b")
    await wf.must(waiting, "start_expert_review", "st")
    assert (await wf.opine(waiting, "expert_a")).status_code == 201
    ready = await wf.to_state("under_expert_review")
    assert (await wf.opine(ready, "expert_a", "revise")).status_code == 201
    bare_draft = int((await wf.create())["id"])
    full_draft = int((await wf.create())["id"])
    await wf.upload_required(full_draft)

    st = await _queue(wf, "st")
    assert set(st) == {no_panel, with_panel, waiting, ready}  # each still the department's to move on
    assert (st[waiting]["actions"], st[waiting]["blocked_by"]) == (
        [], [{"code": "all_opinions_in", "reason": "opinions outstanding in round 1 from: expert-b"}])
    assert st[waiting]["waiting_for"] == "under_expert_review: waiting — opinions outstanding in round 1 from: expert-b"
    assert (st[no_panel]["actions"], [r["code"] for r in st[no_panel]["blocked_by"]]) == ([], ["experts_assigned"])
    assert (st[with_panel]["actions"], st[with_panel]["blocked_by"]) == (["start_expert_review"], [])
    assert st[with_panel]["waiting_for"] == "intent_submitted: start_expert_review"
    assert (st[ready]["actions"], st[ready]["blocked_by"]) == (["recommend", "request_revision"], [])
    for app_id, task in st.items():  # the queue and /actions agree
        assert task["actions"] == await _possible(wf, app_id, "st"), app_id

    league = await _queue(wf, "league")
    assert (league[bare_draft]["actions"], [r["code"] for r in league[bare_draft]["blocked_by"]]) == (
        [], ["required_materials_present"])
    assert league[bare_draft]["waiting_for"].startswith("draft: waiting — missing materials: application_letter")
    assert (league[full_draft]["actions"], league[full_draft]["blocked_by"]) == (["submit_intent"], [])

    # the revision round: the league's step waits for new plans; the department's for nothing once revised
    await wf.must(ready, "request_revision", "st", {"comment": "请修改"})
    league = await _queue(wf, "league")
    assert (league[ready]["actions"], [r["code"] for r in league[ready]["blocked_by"]]) == (
        [], ["revised_plans_uploaded"])
    assert ready not in await _queue(wf, "st")
    for item in ("development_plan", "implementation_plan"):
        assert (await wf.upload(ready, item, b"%PDF-1.7\n" + item.encode() + b" v2\n%%EOF\n")).status_code == 201
    assert (await _queue(wf, "league"))[ready]["actions"] == ["submit_revision"]

    assert (await wf.opine(waiting, "expert_b")).status_code == 201
    assert (await _queue(wf, "st"))[waiting]["actions"] == ["recommend", "request_revision"]


async def test_the_queue_reads_guard_rows_for_the_page_not_per_application(wf: Workflow) -> None:
    """The number of statements behind GET /tasks does not grow with the number of applications."""
    from sqlalchemy import event

    engine = wf.app.state.db.engine.sync_engine
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    async def queries(actor: str) -> int:
        statements.clear()
        event.listen(engine, "before_cursor_execute", count)
        try:
            await _queue(wf, actor)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len(statements)

    for _ in range(2):
        app_id = await wf.to_state("under_expert_review")
        await wf.opine(app_id, "expert_a")
    await wf.to_state("intent_submitted")
    await wf.create()
    few = await queries("st"), await queries("league")
    for _ in range(3):
        app_id = await wf.to_state("under_expert_review")
        await wf.opine(app_id, "expert_a")
        await wf.to_state("intent_submitted")
        await wf.create()
    assert len(await _queue(wf, "st")) == 9
    assert (await queries("st"), await queries("league")) == few


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


async def test_eligibility_is_asked_again_at_intent(with_scoring: Workflow, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue #6 §9: the advice shown is the one at the intent (002 art. 6(一)); scoring down then is
    "not_available" and the intent goes through."""
    wf = with_scoring
    up: ScoringClient = wf.app.state.scoring
    down = ScoringClient(PeerClient("http://scoring", retries=0, transport=httpx.MockTransport(unreachable)))
    try:
        monkeypatch.setattr(wf.app.state, "scoring", down)
        late = await wf.create()
        assert late["eligibility"]["status"] == "not_available"
        monkeypatch.setattr(wf.app.state, "scoring", up)
        await wf.upload_required(late["id"])
        intent = await wf.must(late["id"], "submit_intent", "league")
        assert intent["eligibility"]["status"] == "available", intent["eligibility"]
        assert intent["eligibility"]["result"]["zone"]["code"] == late["zone_code"]

        early = await wf.create()
        assert early["eligibility"]["status"] == "available"
        monkeypatch.setattr(wf.app.state, "scoring", down)
        await wf.upload_required(early["id"])
        intent = await wf.must(early["id"], "submit_intent", "league")
        assert intent["eligibility"]["status"] == "not_available" and "unreachable" in intent["eligibility"]["reason"]
    finally:
        await down.peer.aclose()


async def test_deadline_override_changes_due_at_and_the_overdue_listing(wf: Workflow,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """WORKFLOW_DEADLINE_DAYS per state: an application entering intent_submitted under {"intent_submitted": 2}
    is due after 2 days, not the definition's 20, and is overdue 3 days on; one entered before is not."""
    default = await wf.to_state("intent_submitted")
    monkeypatch.setattr(wf.app.state.settings, "deadline_days", {"intent_submitted": 2})
    short = await wf.to_state("intent_submitted")
    for app_id, days in ((default, 20), (short, 2)):
        app = await wf.get(app_id)
        due = dt.datetime.fromisoformat(app["due_at"]) - dt.datetime.fromisoformat(app["state_entered_at"])
        assert due == dt.timedelta(days=days)
    assert await _ids(wf, "st", "?overdue=true") == []
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    monkeypatch.setattr(endpoints, "utcnow", lambda: later)
    monkeypatch.setattr(service, "utcnow", lambda: later)
    assert await _ids(wf, "st", "?overdue=true") == [short]
    assert await _ids(wf, "st", "?overdue=false") == [default]
    tasks = (await wf.client.get("/tasks", headers=wf.h("st"))).json()["items"]
    assert [(t["application"]["id"], t["overdue"]) for t in tasks] == [(short, True), (default, False)]


@pytest.mark.parametrize("days", [{"under_expert_reveiw": 20}, {"Draft": 5}, {"under_expert_review": 0}])
def test_deadline_settings_name_real_states(days: dict[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    """A misspelt state (or a day count out of range) fails the settings, naming it, instead of being ignored."""
    from services.workflow.settings import Settings

    with pytest.raises(ValidationError, match=next(iter(days))):
        Settings(deadline_days=days)
    monkeypatch.setenv("WORKFLOW_DEADLINE_DAYS", json.dumps(days))
    with pytest.raises(ValidationError, match="WORKFLOW_DEADLINE_DAYS"):
        Settings()


async def test_a_final_state_deadline_fails_the_startup(workflow_db: str, tokens: Tokens, tmp_path: Path) -> None:
    from services.workflow.app import create_app
    from services.workflow.settings import Settings

    app = create_app(Settings(**settings_overrides(tokens, workflow_db), materials_dir=tmp_path,
                              dispatcher_enabled=False, webhook_dispatcher_enabled=False,
                              deadline_days={"under_audit": 15, "approved": 5}))
    with pytest.raises(ValueError, match="approved is final"):
        async with asgi_client(app):
            pass


async def test_tasks_come_in_cursor_pages_in_queue_order(wf: Workflow) -> None:
    """/tasks pages (limit, next_cursor) through the whole queue in its order, deadlines and none alike,
    each application once; a cursor not issued by /tasks is a 422 naming it."""
    ids = [await wf.to_state("intent_submitted") for _ in range(5)]
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(days=3)).strftime("%Y-%m-%d %H:%M:%S")
    await execute_raw(wf.url, f"UPDATE applications SET due_at = '{past}' WHERE id = {ids[3]}")
    await execute_raw(wf.url, f"UPDATE applications SET due_at = NULL WHERE id IN ({ids[0]}, {ids[2]})")
    whole = await _tasks(wf, "st")
    assert whole == [ids[3], ids[1], ids[4], ids[0], ids[2]]  # overdue, by deadline, then none by id
    for limit in (1, 2, 3):
        seen: list[int] = []
        cursor: str | None = None
        while True:
            query = f"?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
            r = await wf.client.get(f"/tasks{query}", headers=wf.h("st"))
            assert r.status_code == 200, r.text
            page = r.json()
            assert page["limit"] == limit and len(page["items"]) <= limit
            seen += [t["application"]["id"] for t in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == whole, limit
    for bad in ("x", "WzFd", "WyJub3QgYSB0aW1lIiwgMV0", "WyIyMDI2LTAxLTAxVDAwOjAwOjAwIiwgMV0"):
        r = await wf.client.get(f"/tasks?cursor={bad}", headers=wf.h("st"))
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "cursor", (bad, r.text)
    assert (await wf.client.get("/tasks?limit=0", headers=wf.h("st"))).status_code == 422
