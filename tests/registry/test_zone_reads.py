"""The current-state reads that skip the ORM (GET /zones/{code}, GET /zones, POST /zones/lookup): the
same bytes as the response models rendered from the ORM path, and the batched lookup, on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest

from services.registry.models import Base
from services.registry.zones import service
from services.registry.zones.repository import ZoneFilters
from shared.db import Database
from shared.testing import Tokens, dump_rows

PROBLEM = "application/problem+json"
BOUNDARY = {"type": "Polygon", "coordinates": [[[113.1, 41.0], [113.2, 41.0], [113.2, 41.1], [113.1, 41.0]]]}


def rendered(model: Any) -> bytes:
    """What FastAPI sends for a response model: its JSON-mode dump through JSONResponse."""
    return json.dumps(model.model_dump(mode="json"), ensure_ascii=False, allow_nan=False, indent=None,
                      separators=(",", ":")).encode()


async def _zone_with_parks(registry: httpx.AsyncClient, tokens: Tokens) -> str:
    st = tokens.headers("st_department")
    r = await registry.post("/zones", headers=st, json={
        "kind": "industrial_park", "level": "none", "name_zh": "读取测试园", "name_en": "Read \"test\" park",
        "league_code": "150900", "county_code": "150902", "area_ha": "1234.5600", "boundary": BOUNDARY,
        "management_committee": "管委会", "leading_industries": ["新材料", "装备"], "approval_doc": "乌政发〔2020〕1号",
        "approval_date": "2020-05-01", "approval_date_precision": "month", "source": "test", "confidence": "high"})
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    for name, area in (("东区", "300"), ("西区", None)):
        body = {"name_zh": name, **({"area_ha": area, "boundary": BOUNDARY} if area else {})}
        assert (await registry.post(f"/zones/{code}/parks", json=body, headers=st)).status_code == 201
    return str(code)


async def test_fast_reads_render_the_response_models(registry: httpx.AsyncClient, registry_db: str,
                                                     tokens: Tokens) -> None:
    await _zone_with_parks(registry, tokens)
    db = Database(registry_db)
    try:
        async with db.transaction() as session:
            page = await service.list_zones(session, ZoneFilters(), None, 500, None, None)
            codes = [z.code for z in page.items]
            expected = {code: rendered(await service.get_zone(session, code, None, None)) for code in codes}
            filtered = ZoneFilters(kinds=["hitech"], levels=["regional"], q="高新")
            expected_page = rendered(await service.list_zones(session, filtered, None, 3, None, None))
        assert len(codes) > 90
        for code in codes:
            r = await registry.get(f"/zones/{code}")
            assert r.status_code == 200 and r.headers["content-type"] == "application/json"
            assert r.content == expected[code], code
            assert r.headers["etag"] == f'"{code}.{r.json()["version"]}"'
        r = await registry.get("/zones", params={"limit": 500})
        assert r.content == rendered(page)
        r = await registry.get("/zones", params={"kind": "hitech", "level": "regional", "q": "高新", "limit": 3})
        assert r.content == expected_page and r.json()["next_cursor"]

        # all at once: the requests of a loop turn share statements (shared.coalesce), each gets its own answer
        coalesced = registry._transport.app.state.db.coalescer(service._current_zones_json)  # type: ignore[attr-defined]
        batches, requests = coalesced.batches, coalesced.requests
        pages = [{"kind": "hitech", "level": "regional", "q": "高新", "limit": 3}, {"limit": 500}] * 3
        answers = await asyncio.gather(*(registry.get(f"/zones/{code}") for code in codes),
                                       *(registry.get("/zones", params=p) for p in pages))
        assert [a.content for a in answers] == [expected[c] for c in codes] + [expected_page, rendered(page)] * 3
        assert coalesced.requests - requests == len(codes)
        assert coalesced.batches - batches < len(codes) / 4
    finally:
        await db.dispose()


async def test_a_read_after_a_write_sees_it_when_reads_are_coalesced(registry: httpx.AsyncClient,
                                                                      tokens: Tokens) -> None:
    """Reads keep arriving while a zone is edited: every read that starts after the edit answered shows it,
    though it may share a statement with other requests."""
    code = await _zone_with_parks(registry, tokens)
    st = tokens.headers("st_department")
    stop = False

    async def reader() -> list[int]:
        seen = []
        while not stop:
            seen.append((await registry.get(f"/zones/{code}")).json()["version"])
        return seen

    readers = [asyncio.ensure_future(reader()) for _ in range(8)]
    try:
        for n in range(5):
            etag = (await registry.get(f"/zones/{code}")).headers["etag"]
            r = await registry.patch(f"/zones/{code}", headers={**st, "If-Match": etag},
                                     json={"management_committee": f"管委会 {n}"})
            assert r.status_code == 200, r.text
            version = r.json()["version"]
            after = await asyncio.gather(*(registry.get(f"/zones/{code}") for _ in range(8)))
            assert {a.json()["version"] for a in after} == {version}
            assert {a.json()["management_committee"] for a in after} == {f"管委会 {n}"}
    finally:
        stop = True
        seen = await asyncio.gather(*readers)
    assert all(s == sorted(s) for s in seen)  # no reader ever saw the zone go back


async def test_fast_list_pages_and_filters_like_the_orm(registry: httpx.AsyncClient, registry_db: str) -> None:
    db = Database(registry_db)
    cases = [ZoneFilters(leagues=["150200", "150600"]), ZoneFilters(statuses=["accredited", "revoked"]),
             ZoneFilters(q="BAOTOU"), ZoneFilters(q="50%_\\"), ZoneFilters(kinds=["etdz"], levels=["national"])]
    visited: list[tuple[list[tuple[str, str]], bytes]] = []
    try:
        for filters in cases:
            params: list[tuple[str, str]] = [("limit", "4")]
            params += [("league", v) for v in filters.leagues] + [("status", ",".join(filters.statuses))] * bool(
                filters.statuses) + [("kind", v) for v in filters.kinds] + [("level", v) for v in filters.levels]
            params += [("q", filters.q)] if filters.q else []
            cursor = None
            while True:
                async with db.transaction() as session:
                    want = rendered(await service.list_zones(session, filters, cursor, 4, None, None))
                page_params = params + ([("cursor", cursor)] if cursor else [])
                got = await registry.get("/zones", params=page_params)
                assert got.content == want, (filters, cursor)
                visited.append((page_params, want))
                cursor = got.json()["next_cursor"]
                if cursor is None:
                    break
    finally:
        await db.dispose()
    # every page at once: different pages of one loop turn are one statement (UNION ALL), each its own rows
    assert len(visited) > 10
    coalesced = registry._transport.app.state.db.coalescer(service._current_pages_json)  # type: ignore[attr-defined]
    batches = coalesced.batches
    answers = await asyncio.gather(*(registry.get("/zones", params=p) for p, _ in visited))
    assert [a.content for a in answers] == [want for _, want in visited]
    assert coalesced.batches - batches < len(visited) / 4


async def test_lookup_answers_in_the_order_given(registry: httpx.AsyncClient, tokens: Tokens) -> None:
    code = await _zone_with_parks(registry, tokens)
    listed = {z["code"]: z for z in (await registry.get("/zones", params={"limit": 500})).json()["items"]}
    codes = ["S159041", "G000000", code, "G153012", "S159041", "NM-99999", "G000000"]
    r = await registry.post("/zones/lookup", json={"codes": codes})  # public: no token
    assert r.status_code == 200 and r.headers["content-type"] == "application/json", r.text
    body = r.json()
    assert [z["code"] for z in body["items"]] == ["S159041", code, "G153012"]
    assert body["items"] == [listed["S159041"], listed[code], listed["G153012"]]  # the items of GET /zones
    assert body["missing"] == ["G000000", "NM-99999"]
    assert list(body) == ["items", "missing"]


async def test_lookup_as_of_folds_the_events(registry: httpx.AsyncClient, tokens: Tokens) -> None:
    code = await _zone_with_parks(registry, tokens)  # established 2020-05-01 (its approval date)
    st = tokens.headers("st_department")
    event = {"event_id": str(uuid.uuid4()), "change": {"field": "name_zh", "value": "读取测试园（更名）"},
             "effective_date": "2023-03-01", "legal_basis": {"document": "乌政发〔2023〕9号"}, "actor": "test"}
    assert (await registry.post(f"/zones/{code}/events", json=event, headers=st)).status_code == 201
    for as_of, name in (("2022-12-31", "读取测试园"), ("2023-03-01", "读取测试园（更名）")):
        r = await registry.post("/zones/lookup", json={"codes": [code, "S159041"], "as_of": as_of})
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        one = (await registry.get(f"/zones/{code}", params={"as_of": as_of})).json()
        assert items[0]["name_zh"] == name == one["name_zh"] and items[0]["status"] == one["status"]
        listed = (await registry.get("/zones", params={"as_of": as_of, "limit": 500})).json()["items"]
        assert items == [z for c in (code, "S159041") for z in listed if z["code"] == c]
    r = await registry.post("/zones/lookup", json={"codes": [code, "S159041"], "as_of": "2019-01-01"})
    assert r.json()["missing"] == [code]  # not yet established then
    assert [z["code"] for z in r.json()["items"]] == ["S159041"]


async def test_lookup_of_many_codes(registry: httpx.AsyncClient) -> None:
    codes = [z["code"] for z in (await registry.get("/zones", params={"limit": 500})).json()["items"]]
    unknown = [f"NM-{n}" for n in range(50_000, 60_000 - len(codes))]
    r = await registry.post("/zones/lookup", json={"codes": unknown + codes[::-1]})
    assert r.status_code == 200, r.text
    assert [z["code"] for z in r.json()["items"]] == codes[::-1]
    assert r.json()["missing"] == unknown


@pytest.mark.parametrize(("body", "pointer"), [
    ({}, "#/codes"),
    ({"codes": []}, "#/codes"),
    ({"codes": "S159041"}, "#/codes"),
    ({"codes": ["S159041", "s159041"]}, "#/codes/1"),
    ({"codes": ["S159041", 7]}, "#/codes/1"),
    ({"codes": ["NM-1"] * 10_001}, "#/codes"),
    ({"codes": ["S159041"], "as_of": "2020-02-30"}, "#/as_of"),
    ({"codes": ["S159041"], "as_of": 0}, "#/as_of"),
    ({"codes": ["S159041"], "known_at": "2020-01-01"}, "#/known_at"),
])
async def test_lookup_bad_bodies(registry: httpx.AsyncClient, registry_db: str, body: dict[str, Any],
                                 pointer: str) -> None:
    before = await dump_rows(registry_db, Base.metadata)
    r = await registry.post("/zones/lookup", json=body)
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM, r.text
    assert pointer in [e["pointer"] for e in r.json()["errors"]], r.json()
    assert await dump_rows(registry_db, Base.metadata) == before


async def test_lookup_is_not_a_zone_code(registry: httpx.AsyncClient) -> None:
    r = await registry.post("/zones/lookup", content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.headers["content-type"] == PROBLEM
    assert (await registry.get("/zones/lookup")).status_code in (404, 405)


HOT_QUERIES = ["", "limit=3", "kind=hitech&level=regional&limit=50", "league=150200,150600&status=accredited",
               "q=%E9%AB%98%E6%96%B0&limit=2", "q=BaoTou", "kind=etdz&kind=hitech&limit=500", "limit=050",
               "status=accredited,+rectification"]


async def test_the_hot_lane_answers_like_the_routes(registry: httpx.AsyncClient, tokens: Tokens) -> None:
    """An extra, unknown parameter sends a request to the FastAPI route (zones/hot.py): same answer."""
    await _zone_with_parks(registry, tokens)

    async def same(url: str) -> httpx.Response:
        a = await registry.get(url, headers={"x-request-id": "same"})
        b = await registry.get(url + ("&" if "?" in url else "?") + "unknown=1", headers={"x-request-id": "same"})
        assert (a.status_code, a.content, a.headers.items()) == (b.status_code, b.content, b.headers.items()), url
        return a

    for qs in HOT_QUERIES:
        cursor = (await same(f"/zones?{qs}")).json()["next_cursor"]
        if cursor:
            await same(f"/zones?{qs}&cursor={cursor}")
    for code in ("S159041", "G153012", "NM-1", "S000000", "NM-0001"):
        await same(f"/zones/{code}")
    missing = await registry.get("/zones/S000000")
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
    for qs in ("limit=0", "limit=501", "kind=casino", "cursor=!!", "league=abc", "limit=", "q=" + "x" * 101):
        r = await registry.get(f"/zones?{qs}")
        assert r.status_code == 422 and r.headers["content-type"] == PROBLEM, qs
    assert (await registry.get("/zones", headers={"x-request-id": "abc-1"})).headers["x-request-id"] == "abc-1"
