"""Registry events over HTTP: the transition table with its roles, back-dated events, replays,
supersession, the change feed and bitemporal reads — on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from services.registry.models import Base
from shared.testing import Tokens, dump_rows

BASIS = {"document": "内政办发〔2022〕17号", "article": "6", "date": "2022-02-24"}


async def new_park(client: httpx.AsyncClient, tokens: Tokens, name: str = "测试园区",
                   established: str = "2019-05-01") -> str:
    body = {"kind": "industrial_park", "level": "none", "status": "candidate", "name_zh": name,
            "league_code": "150900", "established": {"effective_date": established, "legal_basis": BASIS}}
    r = await client.post("/zones", json=body, headers=tokens.headers("st_department"))
    assert r.status_code == 201, r.text
    return str(r.json()["code"])


def event(change: dict[str, str] | list[dict[str, str]], day: str, **extra: Any) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "change": change, "effective_date": day, "legal_basis": BASIS,
            "actor": "自治区科技厅", **extra}


async def post(client: httpx.AsyncClient, code: str, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
    return await client.post(f"/zones/{code}/events", json=body, headers=headers)


async def test_accreditation_path_and_history(registry: httpx.AsyncClient, tokens: Tokens) -> None:
    code = await new_park(registry, tokens)
    workflow = tokens.headers("service", sub="workflow")
    r = await post(registry, code, event({"field": "status", "value": "applying"}, "2022-06-01"), workflow)
    assert r.status_code == 201, r.text
    approval = event([{"field": "status", "value": "accredited"}, {"field": "kind", "value": "hitech"},
                      {"field": "level", "value": "regional"}, {"field": "name_zh", "value": "测试高新区"}],
                     "2023-03-15", source="workflow:applications/1")
    r = await post(registry, code, approval, workflow)
    assert r.status_code == 201, r.text
    zone = (await registry.get(f"/zones/{code}")).json()
    assert (zone["kind"], zone["level"], zone["status"], zone["name_zh"]) == (
        "hitech", "regional", "accredited", "测试高新区")
    history = (await registry.get(f"/zones/{code}/history")).json()["events"]
    assert [h["state_after"]["status"] for h in history] == ["candidate", "applying", "accredited"]
    # valid time: what the zone was on a date between the events
    mid = (await registry.get(f"/zones/{code}", params={"as_of": "2022-12-31"})).json()
    assert (mid["status"], mid["kind"], mid["name_zh"]) == ("applying", "industrial_park", "测试园区")
    before = await registry.get(f"/zones/{code}", params={"as_of": "2019-04-30"})
    assert before.status_code == 404
    listed = (await registry.get("/zones", params={"as_of": "2022-12-31", "status": "applying"})).json()["items"]
    assert [z["code"] for z in listed] == [code]


async def test_roles_and_not_allowed_transitions(registry: httpx.AsyncClient, registry_db: str,
                                                 tokens: Tokens) -> None:
    code = await new_park(registry, tokens)
    before = await dump_rows(registry_db, Base.metadata)
    applying = event({"field": "status", "value": "applying"}, "2022-06-01")
    # the S&T Department may not move a park to applying: that is the workflow's (contracts)
    r = await post(registry, code, applying, tokens.headers("st_department"))
    assert r.status_code == 403 and r.json()["code"] == "transition-forbidden-for-role"
    # a service token of another service neither
    r = await post(registry, code, applying, tokens.headers("service", sub="scoring"))
    assert r.status_code == 403
    # observers may not post events at all
    r = await post(registry, code, applying, tokens.headers("observer"))
    assert r.status_code == 403
    # candidate → accredited is not in the table for anybody
    r = await post(registry, code, event({"field": "status", "value": "accredited"}, "2022-06-01"),
                   tokens.headers("service", sub="workflow"))
    assert r.status_code == 409 and r.json()["code"] == "status-transition-not-allowed"
    # a change that changes nothing
    r = await post(registry, code, event({"field": "status", "value": "candidate"}, "2022-06-01"),
                   tokens.headers("st_department"))
    assert r.status_code == 409 and r.json()["code"] == "no-change"
    # bad bodies
    for bad, field in ((event({"field": "status", "value": "dissolved"}, "2022-06-01"), "change.0.value"),
                       (event({"field": "colour", "value": "red"}, "2022-06-01"), "change.0.field"),
                       (event({"field": "status", "value": "applying"}, "2022-02-30"), "effective_date"),
                       (event({"field": "status", "value": "applying"}, "2999-01-01"), "effective_date"),
                       ({**event({"field": "status", "value": "applying"}, "2022-06-15"),
                         "effective_precision": "month"}, "effective_precision"),
                       ({**applying, "event_id": "not-a-uuid"}, "event_id")):
        r = await post(registry, code, bad, tokens.headers("service", sub="workflow"))
        assert r.status_code == 422, r.text
        assert any(e["field"].startswith(field) for e in r.json()["errors"]), (field, r.json())
    assert (await post(registry, "S000000", applying, tokens.headers("service", sub="workflow"))).status_code == 404
    assert await dump_rows(registry_db, Base.metadata) == before


async def test_replay_and_conflicting_replay(registry: httpx.AsyncClient, registry_db: str, tokens: Tokens) -> None:
    code = await new_park(registry, tokens)
    workflow = tokens.headers("service", sub="workflow")
    body = event({"field": "status", "value": "applying"}, "2022-06-01")
    first = await post(registry, code, body, workflow)
    assert first.status_code == 201
    again = await post(registry, code, body, workflow)
    assert again.status_code == 200 and again.json() == first.json()
    before = await dump_rows(registry_db, Base.metadata)
    other = await post(registry, code, {**body, "note": "different"}, workflow)
    assert other.status_code == 409 and other.json()["code"] == "event-id-reused"
    assert await dump_rows(registry_db, Base.metadata) == before


async def test_back_dated_event_checked_against_later_events(registry: httpx.AsyncClient, registry_db: str,
                                                            tokens: Tokens) -> None:
    code = await new_park(registry, tokens, established="2015-01-01")
    workflow = tokens.headers("service", sub="workflow")
    intent = event({"field": "status", "value": "applying"}, "2022-06-01")
    assert (await post(registry, code, intent, workflow)).status_code == 201
    withdrawal = event({"field": "status", "value": "candidate"}, "2022-09-01")
    assert (await post(registry, code, withdrawal, workflow)).status_code == 201
    before = await dump_rows(registry_db, Base.metadata)
    # a back-dated intent before the first one would make the later intent (applying → applying) invalid
    r = await post(registry, code, event({"field": "status", "value": "applying"}, "2021-01-01"), workflow)
    assert r.status_code == 409 and r.json()["code"] == "conflicts-with-later-event"
    assert r.json()["conflicting_event_id"] == intent["event_id"]
    # an event before the zone existed
    r = await post(registry, code, event({"field": "name_zh", "value": "旧名"}, "2010-01-01"),
                   tokens.headers("st_department"))
    assert r.status_code == 409 and r.json()["code"] == "before-establishment"
    assert await dump_rows(registry_db, Base.metadata) == before
    # a back-dated rename that fits every later event is accepted
    r = await post(registry, code, event({"field": "name_zh", "value": "测试园区（更名）"}, "2020-01-01"),
                   tokens.headers("st_department"))
    assert r.status_code == 201, r.text
    assert (await registry.get(f"/zones/{code}")).json()["name_zh"] == "测试园区（更名）"


async def test_supersede_and_known_at(registry: httpx.AsyncClient, tokens: Tokens) -> None:
    code = await new_park(registry, tokens, established="2015-01-01")
    st = tokens.headers("st_department")
    wrong = event({"field": "name_zh", "value": "错误名称"}, "2020-01-01")
    assert (await post(registry, code, wrong, st)).status_code == 201
    known_wrong = (await registry.get(f"/zones/{code}/history")).json()["events"][-1]["recorded_at"]
    await asyncio.sleep(0.01)
    fix = event({"field": "name_zh", "value": "正确名称"}, "2020-01-01", supersedes=wrong["event_id"])
    assert (await post(registry, code, fix, st)).status_code == 201
    now = (await registry.get(f"/zones/{code}", params={"as_of": "2021-01-01"})).json()
    assert now["name_zh"] == "正确名称"
    then = (await registry.get(f"/zones/{code}", params={"as_of": "2021-01-01", "known_at": known_wrong})).json()
    assert then["name_zh"] == "错误名称"
    history = (await registry.get(f"/zones/{code}/history")).json()["events"]
    superseded = next(h for h in history if h["event_id"] == wrong["event_id"])
    assert superseded["in_effect"] is False and superseded["superseded_by"] == fix["event_id"]
    twice = event({"field": "name_zh", "value": "又一个"}, "2020-01-01", supersedes=wrong["event_id"])
    assert (await post(registry, code, twice, st)).status_code == 409
    # a pure retraction
    retract = event([], "2020-01-01", supersedes=fix["event_id"])
    assert (await post(registry, code, retract, st)).status_code == 201
    assert (await registry.get(f"/zones/{code}")).json()["name_zh"] == "测试园区"


async def test_rectification_and_revocation_roles(registry: httpx.AsyncClient, tokens: Tokens) -> None:
    code = (await registry.get("/zones", params={"kind": "hitech", "level": "regional", "limit": 1})).json()[
        "items"][0]["code"]
    scoring, st = tokens.headers("service", sub="scoring"), tokens.headers("st_department")
    regional = tokens.headers("regional_government")
    basis15 = {**BASIS, "article": "15"}
    r = await post(registry, code, event({"field": "status", "value": "rectification"}, "2024-05-01",
                                         legal_basis=basis15), scoring)
    assert r.status_code == 201, r.text
    assert (await post(registry, code, event({"field": "status", "value": "accredited"}, "2024-11-01"),
                       scoring)).status_code == 403
    assert (await post(registry, code, event({"field": "status", "value": "revocation_proposed"}, "2025-05-01"),
                       scoring)).status_code == 201
    assert (await post(registry, code, event({"field": "status", "value": "revoked"}, "2025-06-01"),
                       st)).status_code == 403
    # back to the status before the proposal (rectification), by the regional government's decision
    assert (await post(registry, code, event({"field": "status", "value": "accredited"}, "2025-06-01"),
                       regional)).status_code == 409
    assert (await post(registry, code, event({"field": "status", "value": "revoked"}, "2025-06-01"),
                       regional)).status_code == 201
    final = await post(registry, code, event({"field": "name_zh", "value": "新名"}, "2025-07-01"), st)
    assert final.status_code == 409 and final.json()["code"] == "revoked-is-final"


async def test_upgrade_to_national_only_by_st_department(registry: httpx.AsyncClient, tokens: Tokens) -> None:
    code = (await registry.get("/zones", params={"kind": "hitech", "level": "regional", "limit": 1})).json()[
        "items"][0]["code"]
    up = event({"field": "level", "value": "national"}, "2025-01-10",
               legal_basis={"document": "国函〔2025〕1号", "date": "2025-01-10"})
    assert (await post(registry, code, up, tokens.headers("service", sub="scoring"))).status_code == 403
    assert (await post(registry, code, up, tokens.headers("st_department"))).status_code == 201
    assert (await registry.get(f"/zones/{code}")).json()["level"] == "national"


async def test_change_feed_pages_in_order(registry: httpx.AsyncClient, tokens: Tokens) -> None:
    seen: list[int] = []
    after = None
    while True:
        page = (await registry.get("/events", params={"limit": 40, **({"after": after} if after else {})})).json()
        seen += [e["seq"] for e in page["items"]]
        if not page["items"]:
            break
        after = page["next_after"]
    assert seen == sorted(seen) and len(seen) >= 92
    code = await new_park(registry, tokens)
    newer = (await registry.get("/events", params={"after": after})).json()["items"]
    assert [e["zone_code"] for e in newer] == [code]
    assert (await registry.get("/events", params={"after": "abc"})).status_code == 422
