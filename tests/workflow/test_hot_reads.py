"""GET /applications/{id} and POST /applications/{id}/transitions/{name}: the hot lanes (applications/hot.py)
and the FastAPI routes give the same answers. The route is reached with a query string (which a lane leaves
to it); the refusals are the route's."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.workflow.applications.hot import HotApplicationReads, HotPanel, HotTransitions
from shared.testing import execute_raw
from tests.clock import shanghai_today
from tests.workflow.conftest import ACTORS, PDF, Workflow


async def test_the_hot_lane_answers_as_the_route(wf: Workflow) -> None:
    draft = await wf.to_state("draft")
    review = await wf.to_state("under_expert_review")
    audit = await wf.to_state("under_audit")
    await wf.must(audit, "submit_to_government", "st", {"comment": "审核同意"})  # a joint act half signed
    approved = await wf.to_state("submitted_to_government")
    await wf.must(approved, "approve", "gov", {"document": "内政字〔2026〕3号",
                                               "date": shanghai_today()})
    for app_id in (draft, review, audit, approved):
        for actor in ("st", "observer", "league", "gov", "expert_a"):
            if actor == "expert_a" and app_id == draft:
                continue  # not on a draft's panel: refused, below
            hot = await wf.client.get(f"/applications/{app_id}", headers=wf.h(actor))
            routed = await wf.client.get(f"/applications/{app_id}?via=route", headers=wf.h(actor))
            assert hot.status_code == routed.status_code == 200, (hot.text, routed.text)
            assert hot.content == routed.content
            assert hot.headers["etag"] == routed.headers["etag"]
            assert hot.headers["content-type"] == routed.headers["content-type"] == "application/json"
            # and the lane did answer it (the route would give the same bytes)
            scope = {"headers": [(b"authorization", wf.h(actor)["Authorization"].encode())], "app": wf.app}
            assert await HotApplicationReads._answer(scope, app_id) == (routed.content, routed.headers["etag"])
    assert (await wf.get(audit))["joint"]["awaiting"] == ["league_government"]
    # what the lane does not answer, the route does, as it always did
    refused = [(await wf.client.get(f"/applications/{draft}")).status_code,
               (await wf.client.get(f"/applications/{draft}", headers=wf.h("other_league"))).json()["code"],
               (await wf.client.get(f"/applications/{draft}", headers=wf.h("expert_a"))).json()["code"],
               (await wf.client.get("/applications/99999", headers=wf.h("st"))).json()["code"],
               (await wf.client.get(f"/applications/{draft}", headers={"Authorization": "Bearer x.y.z"})).status_code,
               (await wf.client.get("/applications/0", headers=wf.h("st"))).status_code]
    assert refused == [401, "other-league", "not-assigned", "application-not-found", 401, 422]


# ------------------------------------------------------------------------- POST .../transitions/{name}

VARYING = {"id", "zone_code", "code", "park_name", "etag", "created_at", "updated_at", "state_entered_at",
           "intent_submitted_at", "closed_at", "due_at", "at", "name_zh"}


def _same_shape(value: Any, varying: frozenset[str] | set[str] = VARYING) -> Any:
    """A transition's answer without what differs between two applications taken the same way."""
    if isinstance(value, dict):
        return {k: "…" if k in varying else _same_shape(v, varying) for k, v in value.items()}
    if isinstance(value, list):
        return [_same_shape(v, varying) for v in value]
    return value


async def _audit(wf: Workflow, app_id: int) -> list[tuple[Any, ...]]:
    entries = (await wf.client.get(f"/applications/{app_id}/audit", headers=wf.h("st"))).json()["entries"]
    return [(e["action"], e["actor_role"], e["from_state"], e["to_state"], e["round"], sorted(e["data"]),
             len(e["documents"])) for e in entries]


async def test_a_transition_through_the_lane_is_the_routes(wf: Workflow) -> None:
    """The whole process twice, one application through the lane and one through the route (a query string
    sends it there): the same answers, audit chains, registry events and callbacks."""
    lane_id = int((await wf.create())["id"])
    route_id = int((await wf.create())["id"])
    steps: list[tuple[str, str, dict[str, Any]]] = [
        ("submit_intent", "league", {}), ("start_expert_review", "st", {}), ("recommend", "st", {}),
        ("start_audit", "st", {}), ("submit_to_government", "st", {"comment": "审核同意"}),
        ("submit_to_government", "league", {}),
        ("approve", "gov", {"document": "内政字〔2026〕5号", "date": "today"})]
    for app_id in (lane_id, route_id):
        await wf.upload_required(app_id)
    for name, actor, body in steps:
        answers = []
        for app_id, query in ((lane_id, ""), (route_id, "?via=route")):
            if name == "start_expert_review":
                await wf.assign(app_id, "expert-a")
            if name == "recommend":
                assert (await wf.opine(app_id, "expert_a")).status_code == 201
            given = {k: shanghai_today() if v == "today" else v for k, v in body.items()}
            r = await wf.client.post(f"/applications/{app_id}/transitions/{name}{query}", json=given,
                                     headers=wf.h(actor, **{"If-Match": (await wf.get(app_id))["etag"]}))
            assert r.status_code == 200, r.text
            assert r.headers["etag"] == (await wf.get(app_id))["etag"]
            assert r.json() == await wf.get(app_id)  # (JSONB may order the keys of a member otherwise)
            answers.append(_same_shape(r.json()))
        assert answers[0] == answers[1], name
    assert (await wf.get(lane_id))["state"] == "approved"
    assert await _audit(wf, lane_id) == await _audit(wf, route_id)
    for app_id in (lane_id, route_id):
        verified = (await wf.client.get(f"/applications/{app_id}/audit/verify", headers=wf.h("st"))).json()
        assert verified["valid"] is True
    sent = [[(d["path"].split("/")[-1], d["body"]["change"]) for d in
             (await wf.client.get(f"/applications/{a}/deliveries", headers=wf.h("st"))).json()]
            for a in (lane_id, route_id)]
    assert sent[0] == sent[1] and len(sent[0]) == 2  # the intent and the approval, for the registry


async def test_the_lane_takes_it_and_leaves_the_rest_to_the_route(wf: Workflow) -> None:
    app_id = await wf.to_state("intent_submitted")
    await wf.assign(app_id, "expert-a")
    etag = (await wf.get(app_id))["etag"]
    scope = {"type": "http", "method": "POST", "path": f"/applications/{app_id}/transitions/start_expert_review",
             "query_string": b"", "app": wf.app,
             "headers": [(b"authorization", wf.h("st")["Authorization"].encode()), (b"if-match", etag.encode())]}
    wrong_role = {**scope, "headers": [(b"authorization", wf.h("league")["Authorization"].encode()),
                                       (b"if-match", etag.encode())]}
    assert await HotTransitions._take(wrong_role, app_id, "start_expert_review", b"") is None  # the route's 403
    assert (await wf.get(app_id))["etag"] == etag  # rolled back: nothing changed
    taken = await HotTransitions._take(scope, app_id, "start_expert_review", b"")
    assert taken is not None
    read = await wf.client.get(f"/applications/{app_id}", headers=wf.h("st"))
    assert taken == (read.content, read.headers["etag"]) and read.json()["state"] == "under_expert_review"

    # refusals and bad bodies are answered by the route, alike whichever way they came in
    def post(query: str, headers: dict[str, str], **kw: Any) -> Any:
        return wf.client.post(f"/applications/{app_id}/transitions/recommend{query}", headers=headers, **kw)

    current = read.headers["etag"]
    cases = [(wf.h("st", **{"If-Match": etag}), {"json": {}}),  # stale
             (wf.h("st"), {"json": {}}),  # no If-Match
             (wf.h("league", **{"If-Match": current}), {"json": {}}),  # wrong role
             (wf.h("st", **{"If-Match": current}), {"json": {}}),  # no opinion yet
             (wf.h("st", **{"If-Match": current}), {"json": {"comment": 5}}),  # a bad body
             (wf.h("st", **{"If-Match": current}), {"json": [1]}),
             (wf.h("st", **{"If-Match": current}), {"content": b"{", "headers": {"content-type": "application/json"}}),
             (wf.h("st", **{"If-Match": current}), {"data": {"comment": "x"}}),  # a form
             ({"If-Match": current}, {"json": {}})]  # no token
    for headers, kw in cases:
        extra = kw.pop("headers", {})
        lane = await post("", {**headers, **extra}, **kw)
        routed = await post("?via=route", {**headers, **extra}, **kw)
        assert lane.status_code == routed.status_code and lane.status_code >= 400, (lane.text, routed.text)
        strip = {"request_id", "instance"}
        assert ({k: v for k, v in lane.json().items() if k not in strip}
                == {k: v for k, v in routed.json().items() if k not in strip})
    assert (await wf.get(app_id))["etag"] == current  # none of them changed anything

    # an Idempotency-Key's replay through the lane: one transition, the same answer twice
    assert (await wf.opine(app_id, "expert_a")).status_code == 201
    headers = wf.h("st", **{"If-Match": (await wf.get(app_id))["etag"], "Idempotency-Key": "lane-replay-1"})
    first = await post("", headers, json={})
    again = await post("", headers, json={})
    assert first.status_code == again.status_code == 200 and first.content == again.content
    assert again.headers["idempotent-replayed"] == "true" and again.headers["etag"] == first.headers["etag"]
    assert [e[0] for e in await _audit(wf, app_id)].count("recommend") == 1
    # the lane remembered the answer in the transition's own transaction (Claim.record), as the middleware would
    engine = create_async_engine(wf.url)
    try:
        async with engine.connect() as conn:
            (status, body, headers), = (await conn.execute(text(
                "SELECT status_code, response_body, response_headers FROM idempotency_keys "
                "WHERE key = 'lane-replay-1'"))).all()
    finally:
        await engine.dispose()
    assert (status, bytes(body)) == (200, first.content)
    stored = json.loads(headers) if isinstance(headers, str) else headers
    assert stored == {"etag": first.headers["etag"], "content-type": "application/json"}


# ------------------------------------------------------------- POST .../opinions and .../experts (the panel)

PANEL_VARYING = VARYING | {"application_id", "assigned_at"}


async def test_the_panels_writes_through_the_lane_are_the_routes(wf: Workflow) -> None:
    """Assignments and opinions, one application through the lane and one through the route: the same
    answers and audit chains; every refusal is the route's, whichever way it came in, and changes nothing."""
    lane_id = await wf.to_state("intent_submitted")
    route_id = await wf.to_state("intent_submitted")

    async def both(path: str, actor: str | None, **kw: Any) -> list[Any]:
        out = []
        for app_id, query in ((lane_id, ""), (route_id, "?via=route")):
            out.append(await wf.client.post(f"/applications/{app_id}/{path}{query}", headers=wf.h(actor), **kw))
        return out

    for sub in ("expert-a", "expert-b"):
        lane, routed = await both("experts", "st", json={"expert_sub": sub})
        assert lane.status_code == routed.status_code == 201, (lane.text, routed.text)
        assert lane.headers["content-type"] == routed.headers["content-type"] == "application/json"
        assert _same_shape(lane.json(), PANEL_VARYING) == _same_shape(routed.json(), PANEL_VARYING)
        assert lane.json()["experts"][-1]["expert_sub"] == sub
        assert lane.json() == (await wf.client.get(f"/applications/{lane_id}/experts", headers=wf.h("st"))).json()
    for app_id in (lane_id, route_id):
        await wf.must(app_id, "start_expert_review", "st")
    lane, routed = await both("opinions", "expert_a", json={"recommendation": "revise", "text": "  补充规划  "})
    assert lane.status_code == routed.status_code == 201, (lane.text, routed.text)
    assert {k: v for k, v in lane.json().items() if k not in PANEL_VARYING} == \
        {k: v for k, v in routed.json().items() if k not in PANEL_VARYING} == \
        {"round": 1, "expert_sub": "expert-a", "recommendation": "revise", "text": "补充规划"}
    opinions = (await wf.client.get(f"/applications/{lane_id}/opinions", headers=wf.h("st"))).json()
    assert opinions["rounds"][0]["opinions"] == [lane.json()] and opinions["rounds"][0]["outstanding"] == ["expert-b"]

    # the refusals, alike both ways, and nothing changed by them
    before = [(await wf.get(a))["etag"] for a in (lane_id, route_id)]
    cases: list[tuple[str, str | None, dict[str, Any]]] = [
        ("opinions", "expert_a", {"json": {"recommendation": "recommend", "text": "again"}}),  # once per round
        ("opinions", "st", {"json": {"recommendation": "recommend", "text": "x"}}),  # not an expert
        ("opinions", None, {"json": {"recommendation": "recommend", "text": "x"}}),  # no token
        ("opinions", "expert_b", {"json": {"recommendation": "maybe", "text": "x"}}),  # a bad body
        ("opinions", "expert_b", {"json": {"recommendation": "recommend", "text": "   "}}),
        ("opinions", "expert_b", {"json": {"recommendation": "recommend", "text": "x", "extra": 1}}),
        ("opinions", "expert_b", {"content": b"[1]", "headers": {"content-type": "application/json"}}),
        ("opinions", "expert_b", {"data": {"recommendation": "recommend", "text": "x"}}),  # a form
        ("experts", "st", {"json": {"expert_sub": "expert-a"}}),  # already on the panel
        ("experts", "league", {"json": {"expert_sub": "expert-c"}}),  # not the department
        ("experts", "st", {"json": {"expert_sub": "has space"}}),
        ("experts", "st", {}),  # no body
    ]
    strip = {"request_id", "instance", "opinion_id"}
    for path, actor, kw in cases:
        extra = kw.pop("headers", {})
        lane, routed = [await wf.client.post(f"/applications/{a}/{path}{q}", headers={**wf.h(actor), **extra}, **kw)
                        for a, q in ((lane_id, ""), (route_id, "?via=route"))]
        assert lane.status_code == routed.status_code and lane.status_code >= 400, (path, lane.text, routed.text)
        assert ({k: v for k, v in lane.json().items() if k not in strip}
                == {k: v for k, v in routed.json().items() if k not in strip}), (path, actor)
    assert [(await wf.get(a))["etag"] for a in (lane_id, route_id)] == before
    expert_c = await wf.client.post(f"/applications/{lane_id}/experts", headers=wf.h("expert_b"),
                                    json={"expert_sub": "expert-c"})
    assert expert_c.status_code == 403

    # the lane answered what it could (the route would have given the same)
    scope = {"type": "http", "method": "POST", "path": f"/applications/{lane_id}/opinions", "query_string": b"",
             "app": wf.app, "headers": [(b"authorization", wf.h("expert_b")["Authorization"].encode()),
                                        (b"content-type", b"application/json")]}
    match = HotPanel.pattern.match(scope["path"])
    assert match is not None
    given = await HotPanel(wf.app)._handle(scope, match, b'{"recommendation": "recommend", "text": "ok"}')
    assert given is not None and given[0] == 201 and json.loads(given[1])["expert_sub"] == "expert-b"
    assert await HotPanel(wf.app)._handle(scope, match, b'{"recommendation": "recommend", "text": "ok"}') is None

    # an Idempotency-Key's replay through the lane: one opinion, the same answer twice
    await wf.client.post(f"/applications/{route_id}/opinions?via=route", headers=wf.h("expert_b"),
                         json={"recommendation": "recommend", "text": "ok"})
    for app_id in (lane_id, route_id):
        await wf.must(app_id, "request_revision", "st")
    assert (await wf.get(lane_id))["state"] == "revision_requested"
    assert await _audit(wf, lane_id) == await _audit(wf, route_id)
    key = wf.h("st", **{"Idempotency-Key": "panel-replay-1"})
    app_id = await wf.to_state("intent_submitted")
    first, again = [await wf.client.post(f"/applications/{app_id}/experts", headers=key,
                                         json={"expert_sub": "expert-b"}) for _ in range(2)]
    assert first.status_code == again.status_code == 201 and first.content == again.content
    assert again.headers["idempotent-replayed"] == "true"
    assert [e[0] for e in await _audit(wf, app_id)].count("assign_expert") == 1


# ------------------------------------------------------------ the Idempotency-Key inserted by the lane

async def test_a_key_seen_before_rolls_the_lanes_write_back_and_the_gate_answers(wf: Workflow) -> None:
    """A lane inserts the Idempotency-Key with its answer in the write's own transaction (Claim.record).
    When the key is already there (in flight, answered, or with another body) the lane's write is rolled
    back and the gate in front of the route answers: 409, the stored answer, 422, and nothing changes.
    Two identical requests at once: one transition, the second replays the first's answer."""
    import asyncio
    import datetime as dt

    from services.workflow.models import IdempotencyRecord
    from shared.db import Database
    from shared.idempotency import request_digest

    app_id = await wf.to_state("recommended")
    path = f"/applications/{app_id}/transitions/start_audit"
    sub = ACTORS["st"]["sub"]

    def digest(body: bytes) -> str:
        return request_digest("POST", path, b"", b"application/json", body)

    now = dt.datetime.now(dt.UTC)
    seen = [("k-in-flight", digest(b"{}"), None, None),
            ("k-answered", digest(b"{}"), 200, b'{"stored": true}'),
            ("k-other-body", digest(b'{"comment": "x"}'), 200, b"{}")]
    db = Database(wf.url)
    try:
        async with db.transaction(write=True) as session:
            for key, request_hash, status, body in seen:
                session.add(IdempotencyRecord(
                    scope_sub=sub, method="POST", path=path, key=key, request_hash=request_hash, status_code=status,
                    response_body=body, response_headers=None if status is None else {"etag": '"x"'},
                    created_at=now, locked_until=now + dt.timedelta(minutes=5), expires_at=now + dt.timedelta(hours=1)))
    finally:
        await db.dispose()

    etag = (await wf.get(app_id))["etag"]

    def post(key: str) -> Any:
        return wf.client.post(path, content=b"{}", headers=wf.h("st", **{
            "If-Match": etag, "Idempotency-Key": key, "content-type": "application/json"}))

    before = await wf.rows()
    in_flight, answered, other = [await post(key) for key, *_ in seen]
    assert (in_flight.status_code, in_flight.json()["code"]) == (409, "idempotency-key-in-flight")
    assert (answered.status_code, answered.content) == (200, b'{"stored": true}')
    assert answered.headers["idempotent-replayed"] == "true" and answered.headers["etag"] == '"x"'
    assert (other.status_code, other.json()["code"]) == (422, "idempotency-key-reused")
    assert await wf.rows() == before  # no transition, audit entry, outbox message, delivery or key

    first, second = await asyncio.gather(post("k-twice"), post("k-twice"))
    assert first.status_code == second.status_code == 200 and first.content == second.content
    assert sorted(r.headers.get("idempotent-replayed", "no") for r in (first, second)) == ["no", "true"]
    assert (await wf.get(app_id))["state"] == "under_audit"
    assert [e[0] for e in await _audit(wf, app_id)].count("start_audit") == 1


async def test_a_write_sets_only_the_columns_it_changed(wf: Workflow, dialect: str) -> None:
    """After the intent, the eligibility advice and the park as it was stay as written: no later write
    of the application (an upload, an assignment, an opinion, a transition, on a lane or the route) names
    them in its UPDATE. A trigger `UPDATE OF` those columns (it fires when the statement names them, even
    with the value they have) refuses such a write."""
    app_id = await wf.to_state("intent_submitted")
    kept = ("eligibility", "zone_at_intent", "status_at_intent", "created_by", "proposed_name", "created_at")
    if dialect == "postgresql":
        await execute_raw(wf.url, "CREATE FUNCTION refuse_kept() RETURNS trigger LANGUAGE plpgsql AS "
                                  "$$ BEGIN RAISE EXCEPTION 'a kept column was written'; END $$")
        await execute_raw(wf.url, f"CREATE TRIGGER refuse_kept BEFORE UPDATE OF {', '.join(kept)} ON applications "
                                  "FOR EACH ROW EXECUTE FUNCTION refuse_kept()")
    else:
        await execute_raw(wf.url, f"CREATE TRIGGER refuse_kept BEFORE UPDATE OF {', '.join(kept)} ON applications "
                                  "BEGIN SELECT RAISE(ABORT, 'a kept column was written'); END")
    before = await wf.get(app_id)
    await wf.assign(app_id, "expert-a")
    await wf.must(app_id, "start_expert_review", "st")
    assert (await wf.opine(app_id, "expert_a", "revise")).status_code == 201
    routed = await wf.client.post(f"/applications/{app_id}/transitions/request_revision?via=route", json={},
                                  headers=wf.h("st", **{"If-Match": (await wf.get(app_id))["etag"]}))
    assert routed.status_code == 200, routed.text
    for item in ("development_plan", "implementation_plan"):
        assert (await wf.upload(app_id, item, PDF + b"v2")).status_code == 201
    await wf.must(app_id, "submit_revision", "league")
    await wf.must(app_id, "reject", "st", {"comment": "终止"})  # the decision and the closing columns written
    after = await wf.get(app_id)
    assert (after["state"], after["version"]) == ("rejected", before["version"] + 8)
    assert {k: after[k] for k in kept if k in after} == {k: before[k] for k in kept if k in before}
