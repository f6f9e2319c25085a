"""Body dates travel as YYYY-MM-DD strings only (approval_date, effective_date, legal_basis.date): pydantic's
lax mode read a bare number as Unix time (0 → 1970-01-01). Anything else is 422 problem+json naming the
field, and nothing changes; on both databases."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from services.registry.models import Base
from shared.testing import Tokens, dump_rows

PROBLEM = "application/problem+json"
BASIS = {"document": "内政办发〔2022〕17号", "article": "6", "date": "2022-02-24"}
ZONE = {"kind": "industrial_park", "level": "none", "status": "candidate", "name_zh": "日期测试产业园",
        "league_code": "150900", "established": {"effective_date": "2019-05-01", "legal_basis": BASIS}}
NOT_DATES: list[Any] = [0, 20220224, 1700000000, "1700000000", 1.5, True, "2022-2-24", "24.02.2022", "2022/02/24",
                        "2022-02-24T00:00:00", "2022-02-24 ", "٢٠٢٢-٠٢-٢٤", "2022-02-30", [], {"y": 2022}]


def fields_of(r: httpx.Response) -> list[str]:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == PROBLEM
    return [e["field"] for e in r.json()["errors"]]


def with_at(body: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out = json.loads(json.dumps(body))
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return out


@pytest.mark.parametrize("path", [("approval_date",), ("established", "effective_date"),
                                  ("established", "legal_basis", "date")])
async def test_zone_registration_refuses_dates_that_are_not_yyyy_mm_dd(registry: httpx.AsyncClient,
                                                                      registry_db: str, tokens: Tokens,
                                                                      path: tuple[str, ...]) -> None:
    st = tokens.headers("st_department")
    before = await dump_rows(registry_db, Base.metadata)
    for value in NOT_DATES:
        r = await registry.post("/zones", json=with_at(ZONE, path, value), headers=st)
        assert ".".join(path) in fields_of(r), (value, r.text)
    assert await dump_rows(registry_db, Base.metadata) == before
    ok = await registry.post("/zones", json=with_at(ZONE, path, "2019-05-01"), headers=st)
    assert ok.status_code == 201, ok.text


async def test_zone_edit_refuses_a_numeric_approval_date(registry: httpx.AsyncClient, registry_db: str,
                                                         tokens: Tokens) -> None:
    st = tokens.headers("st_department")
    code = (await registry.get("/zones", params={"league": "150200", "limit": 1})).json()["items"][0]["code"]
    etag = (await registry.get(f"/zones/{code}")).headers["etag"]
    before = await dump_rows(registry_db, Base.metadata)
    for value in (0, 1700000000, "1700000000", "2002-06-01T00:00:00Z"):
        r = await registry.patch(f"/zones/{code}", json={"approval_date": value}, headers={**st, "If-Match": etag})
        assert fields_of(r) == ["approval_date"], (value, r.text)
    assert await dump_rows(registry_db, Base.metadata) == before
    ok = await registry.patch(f"/zones/{code}", headers={**st, "If-Match": etag},
                              json={"approval_date": "2002-06-01", "approval_date_precision": "month"})
    assert ok.status_code == 200 and ok.json()["approval_date"] == "2002-06-01", ok.text


@pytest.mark.parametrize("path", [("effective_date",), ("legal_basis", "date")])
async def test_events_refuse_dates_that_are_not_yyyy_mm_dd(registry: httpx.AsyncClient, registry_db: str,
                                                           tokens: Tokens, path: tuple[str, ...]) -> None:
    st = tokens.headers("st_department")
    created = await registry.post("/zones", json=ZONE, headers=st)
    assert created.status_code == 201, created.text
    code = created.json()["code"]
    event = {"event_id": str(uuid.uuid4()), "change": {"field": "name_zh", "value": "日期测试产业园二期"},
             "effective_date": "2020-01-01", "legal_basis": BASIS, "actor": "自治区科技厅"}
    before = await dump_rows(registry_db, Base.metadata)
    for value in NOT_DATES:
        r = await registry.post(f"/zones/{code}/events", json=with_at(event, path, value), headers=st)
        assert fields_of(r) == [".".join(path)], (value, r.text)
    assert await dump_rows(registry_db, Base.metadata) == before
    ok = await registry.post(f"/zones/{code}/events", json=event, headers=st)
    assert ok.status_code == 201, ok.text


async def test_json_import_names_a_numeric_approval_date(registry: httpx.AsyncClient, registry_db: str,
                                                         tokens: Tokens) -> None:
    before = await dump_rows(registry_db, Base.metadata)
    zone = {"kind": "industrial_park", "level": "none", "name_zh": "化德服装产业园", "league_code": "150900",
            "approval_date": 0}  # 1970-01-01 in lax mode
    r = await registry.post("/zones/import", content=json.dumps({"zones": [zone]}).encode(),
                            headers={**tokens.headers("st_department"), "Content-Type": "application/json"})
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM, r.text
    assert [(e["field"], e["code"], e["pointer"]) for e in r.json()["errors"]] == [
        ("approval_date", "invalid_date", "#/zones/0/approval_date")]
    assert await dump_rows(registry_db, Base.metadata) == before
