"""A national-level zone neither applies for nor is approved as a regional high-tech zone: the registry
refuses the intent (→ applying) and an approval that would set level regional, with a 409 naming the rule
and nothing recorded; on SQLite and PostgreSQL, plus the pure rule without HTTP."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from services.registry.history.rules import TransitionRefused, ZoneState, check_change
from services.registry.models import Base
from shared.testing import Tokens, dump_rows

BASIS = {"document": "内政办发〔2022〕17号", "article": "6", "date": "2022-02-24"}
APPROVAL = [{"field": "status", "value": "accredited"}, {"field": "kind", "value": "hitech"},
            {"field": "level", "value": "regional"}, {"field": "name_zh", "value": "某高新技术产业开发区"}]


def event(change: Any, day: str, **extra: Any) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "change": change, "effective_date": day, "legal_basis": BASIS,
            "actor": "自治区科技厅", **extra}


async def new_zone(client: httpx.AsyncClient, tokens: Tokens, kind: str, level: str, status: str) -> str:
    body = {"kind": kind, "level": level, "status": status, "name_zh": f"测试区{uuid.uuid4().hex[:6]}",
            "league_code": "150900",
            "established": {"effective_date": "2015-05-01", "legal_basis": BASIS}}
    r = await client.post("/zones", json=body, headers=tokens.headers("st_department"))
    assert r.status_code == 201, r.text
    return str(r.json()["code"])


async def post(client: httpx.AsyncClient, code: str, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
    return await client.post(f"/zones/{code}/events", json=body, headers=headers)


@pytest.mark.parametrize(("kind", "status"), [("etdz", "accredited"), ("other", "candidate")])
async def test_a_national_zone_cannot_apply(registry: httpx.AsyncClient, registry_db: str, tokens: Tokens,
                                            kind: str, status: str) -> None:
    code = await new_zone(registry, tokens, kind, "national", status)
    before = await dump_rows(registry_db, Base.metadata)
    r = await post(registry, code, event({"field": "status", "value": "applying"}, "2024-06-01"),
                   tokens.headers("service", sub="workflow"))
    assert r.status_code == 409, r.text
    problem = r.json()
    assert r.headers["content-type"].startswith("application/problem+json")
    assert problem["code"] == "national-zone-cannot-apply"
    assert problem["errors"][0]["field"] in (["change", "status"], "change.status")
    assert await dump_rows(registry_db, Base.metadata) == before
    assert (await registry.get(f"/zones/{code}")).json()["status"] == status


async def test_the_same_intent_is_allowed_at_regional_level(registry: httpx.AsyncClient, tokens: Tokens) -> None:
    """The rule is the level: a regional border cooperation zone may still apply (the table's intent rule)."""
    code = await new_zone(registry, tokens, "border_cooperation", "regional", "accredited")
    r = await post(registry, code, event({"field": "status", "value": "applying"}, "2024-06-01"),
                   tokens.headers("service", sub="workflow"))
    assert r.status_code == 201, r.text


async def test_approval_may_not_downgrade_a_national_zone(registry: httpx.AsyncClient, registry_db: str,
                                                          tokens: Tokens) -> None:
    # a regional zone applies; while it applies the S&T Department records its upgrade to national
    code = await new_zone(registry, tokens, "border_cooperation", "regional", "accredited")
    workflow = tokens.headers("service", sub="workflow")
    r = await post(registry, code, event({"field": "status", "value": "applying"}, "2024-06-01"), workflow)
    assert r.status_code == 201, r.text
    up = event({"field": "level", "value": "national"}, "2024-09-01",
               legal_basis={"document": "国函〔2024〕9号", "date": "2024-09-01"})
    assert (await post(registry, code, up, tokens.headers("st_department"))).status_code == 201
    before = await dump_rows(registry_db, Base.metadata)
    r = await post(registry, code, event(APPROVAL, "2024-10-01"), workflow)
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "approval-would-downgrade-national"
    assert "national" in r.json()["detail"]
    assert await dump_rows(registry_db, Base.metadata) == before
    zone = (await registry.get(f"/zones/{code}")).json()
    assert (zone["level"], zone["status"], zone["kind"]) == ("national", "applying", "border_cooperation")
    # the rejection/withdrawal path stays open: back to the status recorded at intent (a bare status
    # change, not an approval)
    r = await post(registry, code, event({"field": "status", "value": "accredited"}, "2024-10-02"), workflow)
    assert r.status_code == 201, r.text
    zone = (await registry.get(f"/zones/{code}")).json()
    assert (zone["level"], zone["status"], zone["kind"]) == ("national", "accredited", "border_cooperation")


async def test_a_back_dated_upgrade_before_an_approval_is_refused(registry: httpx.AsyncClient,
                                                                  tokens: Tokens) -> None:
    """Checked against the whole timeline: an upgrade dated before a recorded approval would make that
    approval a downgrade, so it names the approval as the conflicting event."""
    code = await new_zone(registry, tokens, "border_cooperation", "regional", "accredited")
    workflow = tokens.headers("service", sub="workflow")
    assert (await post(registry, code, event({"field": "status", "value": "applying"}, "2024-06-01"),
                       workflow)).status_code == 201
    approval = event(APPROVAL, "2024-10-01")
    assert (await post(registry, code, approval, workflow)).status_code == 201
    up = event({"field": "level", "value": "national"}, "2024-09-01",
               legal_basis={"document": "国函〔2024〕9号", "date": "2024-09-01"})
    r = await post(registry, code, up, tokens.headers("st_department"))
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "conflicts-with-later-event"
    assert r.json()["conflicting_event_id"] == approval["event_id"]


def test_pure_rule() -> None:
    national = ZoneState(values={"kind": "border_cooperation", "level": "national", "status": "applying",
                                 "name_zh": "x"})
    approval = {"status": "accredited", "kind": "hitech", "level": "regional", "name_zh": "y"}
    with pytest.raises(TransitionRefused) as refused:
        check_change(national, approval, "service", "workflow", "e1")
    assert (refused.value.status, refused.value.code) == (409, "approval-would-downgrade-national")
    regional = ZoneState(values={**national.values, "level": "regional"})
    check_change(regional, approval, "service", "workflow", "e2")  # allowed
    accredited = ZoneState(values={**national.values, "status": "accredited"})
    with pytest.raises(TransitionRefused) as refused:
        check_change(accredited, {"status": "applying"}, "service", "workflow", "e3")
    assert refused.value.code == "national-zone-cannot-apply"
    check_change(ZoneState(values={**accredited.values, "level": "regional"}), {"status": "applying"},
                 "service", "workflow", "e4")
