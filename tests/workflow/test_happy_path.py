"""The whole journey over HTTP on both databases: intent, two revision rounds, recommendation, audit,
approval; the registry events delivered by the outbox to the real registry; rejection and withdrawal
restoring the status recorded at intent (read from the registry when the intent is submitted)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest

from shared.testing import Tokens, asgi_client, execute_raw, settings_overrides
from tests.clock import shanghai_today
from tests.workflow.conftest import PDF, Workflow


async def _zone(wf: Workflow, code: str) -> dict:
    r = await wf.registry.get(f"/zones/{code}")
    assert r.status_code == 200
    return dict(r.json())


async def _history(wf: Workflow, code: str) -> list[dict]:
    r = await wf.registry.get(f"/zones/{code}/history")
    assert r.status_code == 200
    return list(r.json()["events"])


async def test_intent_to_approval_with_two_revision_rounds(wf: Workflow) -> None:
    zone = await wf.candidate_zone()
    created = await wf.create(zone)
    app_id = created["id"]
    assert (created["state"], created["round"], created["process_version"]) == ("draft", 0, "v2")
    assert created["status_at_intent"] == "candidate" and created["park_name"].startswith("测试园区")
    assert created["eligibility"]["status"] == "not_available"  # scoring is down in this fixture: advice only

    await wf.upload_required(app_id)
    a = await wf.must(app_id, "submit_intent", "league", {"comment": "建设意向"})
    assert a["state"] == "intent_submitted" and a["intent_submitted_at"] is not None
    await wf.assign(app_id, "expert-a", "expert-b")
    assert (await wf.must(app_id, "start_expert_review", "st"))["round"] == 1

    for round_no in (1, 2):  # two rounds end in "revise"
        assert (await wf.opine(app_id, "expert_a", "revise")).status_code == 201
        assert (await wf.opine(app_id, "expert_b", "recommend")).status_code == 201
        a = await wf.must(app_id, "request_revision", "st", {"comment": f"第{round_no}轮：修改规划"})
        assert (a["state"], a["round"]) == ("revision_requested", round_no)
        for item in ("development_plan", "implementation_plan"):
            r = await wf.upload(app_id, item, PDF + f"revised {round_no}".encode())
            assert r.status_code == 201 and r.json()["version"] == round_no + 1
        assert (await wf.must(app_id, "submit_revision", "league"))["state"] == "revised"
        a = await wf.must(app_id, "start_next_round", "st")
        assert (a["state"], a["round"]) == ("under_expert_review", round_no + 1)

    assert (await wf.opine(app_id, "expert_a")).status_code == 201
    assert (await wf.opine(app_id, "expert_b")).status_code == 201
    assert (await wf.must(app_id, "recommend", "st"))["state"] == "recommended"
    await wf.must(app_id, "start_audit", "st")
    # 002 art. 6(三), process v2: the department's signature (its audit agreed), then the league's submits
    signed = await wf.must(app_id, "submit_to_government", "st", {"comment": "审核同意"})
    assert signed["state"] == "under_audit"
    assert signed["joint"]["awaiting"] == ["league_government"]
    assert [(x["role"], x["sub"]) for x in signed["joint"]["signatures"]] == [("st_department", "kjt-officer")]
    submitted = await wf.must(app_id, "submit_to_government", "league", {"comment": "会同科技厅提出建设申请"})
    assert (submitted["state"], submitted["joint"]) == ("submitted_to_government", None)
    decided_on = shanghai_today()
    approved = await wf.must(app_id, "approve", "gov", {"document": "内政字〔2026〕8号", "date": decided_on,
                                                        "approved_name": "锡林郭勒测试高新技术产业开发区"})
    assert approved["state"] == "approved" and approved["closed_at"] is not None and approved["due_at"] is None
    assert approved["decision"]["document"] == "内政字〔2026〕8号"

    opinions = (await wf.client.get(f"/applications/{app_id}/opinions", headers=wf.h("observer"))).json()
    assert [r["conclusion"]["conclusion"] for r in opinions["rounds"]] == ["revise", "revise", "recommend"]
    assert [len(r["opinions"]) for r in opinions["rounds"]] == [2, 2, 2]

    # nothing reached the registry yet: the outbox holds two messages (intent, approval) in order
    assert (await _zone(wf, zone))["status"] == "candidate"
    deliveries = (await wf.client.get(f"/applications/{app_id}/deliveries", headers=wf.h("st"))).json()
    assert [d["state"] for d in deliveries] == ["pending", "pending"]
    assert deliveries[0]["body"]["change"] == [{"field": "status", "value": "applying"}]
    assert deliveries[0]["path"] == f"/zones/{zone}/events"
    while await wf.deliver():
        pass
    deliveries = (await wf.client.get(f"/applications/{app_id}/deliveries", headers=wf.h("st"))).json()
    assert [(d["state"], d["last_status"]) for d in deliveries] == [("delivered", 201), ("delivered", 201)]

    after = await _zone(wf, zone)
    assert (after["kind"], after["level"], after["status"], after["name_zh"]) == (
        "hitech", "regional", "accredited", "锡林郭勒测试高新技术产业开发区")
    history = await _history(wf, zone)
    ours = [e for e in history if e["source"] == f"workflow:applications/{app_id}"]
    assert [e["event_id"] for e in ours] == [d["id"] for d in deliveries]
    assert ours[-1]["legal_basis"] == {"document": "内政字〔2026〕8号", "date": decided_on}
    assert {e["recorded_by"] for e in ours} == {"workflow"}

    audit = (await wf.client.get(f"/applications/{app_id}/audit", headers=wf.h("st"))).json()["entries"]
    transitions = [e["action"] for e in audit if e["to_state"] is not None and e["action"] != "create"]
    assert transitions == ["submit_intent", "start_expert_review", "request_revision", "submit_revision",
                           "start_next_round", "request_revision", "submit_revision", "start_next_round",
                           "recommend", "start_audit", "submit_to_government", "submit_to_government", "approve"]
    first, second = (e for e in audit if e["action"] == "submit_to_government")
    assert (first["from_state"], first["to_state"], first["data"]["joint"]) == ("under_audit", "under_audit", "signed")
    assert (second["to_state"], second["actor_role"]) == ("submitted_to_government", "league_government")
    assert second["data"]["joint_signatures"] == [{"role": "st_department", "sub": "kjt-officer"}]
    assert [e["seq"] for e in audit] == list(range(1, len(audit) + 1))
    submit = next(e for e in audit if e["action"] == "submit_intent")
    assert len(submit["documents"]) == 9 and all(len(d["sha256"]) == 64 for d in submit["documents"])
    verify = (await wf.client.get(f"/applications/{app_id}/audit/verify", headers=wf.h("observer"))).json()
    assert verify["valid"] is True and verify["entries"] == len(audit)


async def test_withdrawal_and_rejection_restore_the_status_at_intent(wf: Workflow) -> None:
    zones = [await wf.candidate_zone() for _ in range(3)]
    withdrawn_zone, rejected_zone, draft_zone = zones
    w = await wf.to_state("under_expert_review", withdrawn_zone)
    r = await wf.to_state("submitted_to_government", rejected_zone)
    d = await wf.to_state("draft", draft_zone)
    await wf.must(w, "withdraw", "league", {"comment": "规划调整，撤回"})
    decided_on = shanghai_today()
    await wf.must(r, "reject", "gov", {"comment": "条件不足", "document": "内政字〔2026〕9号", "date": decided_on})
    await wf.must(d, "withdraw", "league", {"comment": "not ready"})
    while await wf.deliver():
        pass
    for zone in (withdrawn_zone, rejected_zone):
        assert (await _zone(wf, zone))["status"] == "candidate"
        statuses = [e["change"].get("status") for e in await _history(wf, zone)]
        assert statuses == ["candidate", "applying", "candidate"]
    assert [e["change"].get("status") for e in await _history(wf, draft_zone)] == ["candidate"]  # never applying
    assert (await wf.client.get(f"/applications/{d}/deliveries", headers=wf.h("st"))).json() == []
    rejection = (await _history(wf, rejected_zone))[-1]
    assert rejection["legal_basis"] == {"document": "内政字〔2026〕9号", "date": decided_on}
    assert "条件不足" in rejection["note"]
    # a closed application frees the park for a new one
    assert (await wf.create(withdrawn_zone))["state"] == "draft"


async def test_dead_message_blocks_its_application_until_replayed(wf: Workflow) -> None:
    app_id = await wf.to_state("intent_submitted")
    zone = (await wf.get(app_id))["zone_code"]
    await wf.must(app_id, "withdraw", "league", {"comment": "撤回"})
    # the intent's message aimed at a code the register does not hold: the registry answers 404 → dead
    await execute_raw(wf.url, "UPDATE outbox_messages SET path = '/zones/NM-99999/events' WHERE seq = "
                              "(SELECT min(seq) FROM outbox_messages)")
    while await wf.deliver():
        pass
    dead = (await wf.client.get("/outbox/dead", headers=wf.h("st"))).json()
    assert [(d["state"], d["last_status"], d["replayed_at"]) for d in dead] == [("dead", 404, None)]
    listed = (await wf.client.get(f"/applications/{app_id}/deliveries", headers=wf.h("st"))).json()
    states = [d["state"] for d in listed]
    assert states == ["dead", "pending"]  # the withdrawal waits behind the dead intent
    assert (await wf.client.get("/outbox/dead", headers=wf.h("league"))).status_code == 403
    await execute_raw(wf.url, f"UPDATE outbox_messages SET path = '/zones/{zone}/events' WHERE id = '{dead[0]['id']}'")
    replayed = await wf.client.post(f"/outbox/{dead[0]['id']}/replay", headers=wf.h("st"))
    assert replayed.status_code == 200 and replayed.json()["state"] == "pending"
    assert replayed.json()["replayed_at"] is not None  # the retry window counts from here again
    listed = (await wf.client.get(f"/applications/{app_id}/deliveries", headers=wf.h("st"))).json()
    assert [d["replayed_at"] for d in listed] == [replayed.json()["replayed_at"], None]
    assert (await wf.client.post(f"/outbox/{dead[0]['id']}/replay", headers=wf.h("st"))).status_code == 404
    while await wf.deliver():
        pass
    assert [e["change"].get("status") for e in await _history(wf, zone)] == ["candidate", "applying", "candidate"]


async def test_dispatcher_runs_in_the_lifespan(wf: Workflow, tokens: Tokens, tmp_path: Path) -> None:
    from services.workflow.app import create_app
    from services.workflow.settings import Settings

    app_id = await wf.to_state("intent_submitted")
    zone = (await wf.get(app_id))["zone_code"]
    app = create_app(Settings(**settings_overrides(tokens, wf.url), registry_url="http://registry",
                              peer_token=tokens("service", sub="workflow"), materials_dir=tmp_path,
                              dispatcher_poll_seconds=0.05),
                     registry_transport=httpx.ASGITransport(app=wf.registry_app))
    async with asgi_client(app):
        for _ in range(200):
            if (await _zone(wf, zone))["status"] == "applying":
                break
            await asyncio.sleep(0.05)
    assert (await _zone(wf, zone))["status"] == "applying"
    assert [d["state"] for d in (await wf.client.get(f"/applications/{app_id}/deliveries",
                                                     headers=wf.h("st"))).json()] == ["delivered"]


async def _status_event(wf: Workflow, zone: str, status: str, role: str, sub: str | None = None) -> None:
    body = {"event_id": str(uuid.uuid4()), "change": {"field": "status", "value": status},
            "effective_date": shanghai_today(),
            "legal_basis": {"document": "内政办发〔2022〕17号", "article": "15", "date": "2022-02-24"},
            "actor": "test", "source": "tests"}
    r = await wf.registry.post(f"/zones/{zone}/events", json=body, headers=wf.tokens.headers(role, sub=sub))
    assert r.status_code == 201, r.text


async def test_status_at_intent_is_read_when_the_intent_is_submitted(wf: Workflow,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """002 art. 6(一), contracts: a withdrawal restores the park's status at the intent, not at the draft.
    An accredited industrial park under rectification when the draft is made, accredited again when the
    intent is submitted: the registry remembers accredited, and so must the application."""
    settings = wf.app.state.settings
    monkeypatch.setattr(settings, "applicable_statuses", ("candidate", "accredited", "rectification"))
    monkeypatch.setattr(settings, "applicable_levels", ("none", "regional"))
    zone = await wf.candidate_zone(level="regional", status="accredited")
    await _status_event(wf, zone, "rectification", "service", "scoring")  # 002 art. 15
    draft = await wf.create(zone)
    assert draft["status_at_intent"] == "rectification" and draft["eligibility"]["status"] == "not_available"
    await _status_event(wf, zone, "accredited", "st_department")  # the rectification ended
    await wf.upload_required(draft["id"])
    intent = await wf.must(draft["id"], "submit_intent", "league")
    assert intent["status_at_intent"] == "accredited" and intent["zone_at_intent"]["status"] == "accredited"
    assert intent["eligibility"]["status"] == "not_available"  # scoring still down: advice, never a block
    await wf.must(draft["id"], "withdraw", "league", {"comment": "撤回"})
    while await wf.deliver():
        pass
    deliveries = (await wf.client.get(f"/applications/{draft['id']}/deliveries", headers=wf.h("st"))).json()
    assert [d["state"] for d in deliveries] == ["delivered", "delivered"], deliveries
    assert deliveries[1]["body"]["change"] == [{"field": "status", "value": "accredited"}]
    assert (await _zone(wf, zone))["status"] == "accredited"
    statuses = [e["change"].get("status") for e in await _history(wf, zone)]
    assert statuses == ["accredited", "rectification", "accredited", "applying", "accredited"]
    audit = (await wf.client.get(f"/applications/{draft['id']}/audit", headers=wf.h("st"))).json()["entries"]
    assert next(e for e in audit if e["action"] == "submit_intent")["data"]["status_at_intent"] == "accredited"


async def test_a_park_that_can_no_longer_apply_is_refused_at_intent(wf: Workflow,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Accredited at the draft, under rectification at the intent: the registry would refuse to make it
    applying, so the intent is refused (409 naming zone_code) and nothing changes."""
    settings = wf.app.state.settings
    monkeypatch.setattr(settings, "applicable_statuses", ("candidate", "accredited"))
    monkeypatch.setattr(settings, "applicable_levels", ("none", "regional"))
    zone = await wf.candidate_zone(level="regional", status="accredited")
    draft = await wf.create(zone)
    await wf.upload_required(draft["id"])
    await _status_event(wf, zone, "rectification", "service", "scoring")
    before = await wf.rows()
    r = await wf.act(draft["id"], "submit_intent", "league")
    assert r.status_code == 409 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "zone-cannot-apply" and "status 'rectification'" in r.json()["detail"]
    assert [e["field"] for e in r.json()["errors"]] == ["zone_code"]
    assert await wf.rows() == before
