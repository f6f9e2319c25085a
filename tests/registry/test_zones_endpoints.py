"""Zone reads, registration and descriptive edits over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx

from services.registry.models import Base
from shared.testing import Tokens, dump_rows

PROBLEM = "application/problem+json"


async def test_health_and_ready(registry: httpx.AsyncClient) -> None:
    assert (await registry.get("/healthz")).json()["status"] == "ok"
    ready = await registry.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


async def test_leagues_and_counties(registry: httpx.AsyncClient) -> None:
    leagues = (await registry.get("/leagues")).json()
    assert [lg["code"] for lg in leagues][:3] == ["150100", "150200", "150300"]
    assert len(leagues) == 12
    assert sum(lg["zone_count"] for lg in leagues) == len(await _all_codes(registry))
    xam = (await registry.get("/leagues/152200")).json()
    assert xam["name_zh"] == "兴安盟" and all(c["league_code"] == "152200" for c in xam["counties"])
    assert (await registry.get("/leagues/999999")).status_code == 404


async def _all_codes(client: httpx.AsyncClient, **params: str) -> list[str]:
    codes, cursor = [], None
    while True:
        query = {**params, "limit": "7", **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/zones", params=query)).json()
        codes += [z["code"] for z in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return codes


async def test_list_is_paged_stably_and_filters(registry: httpx.AsyncClient) -> None:
    codes = await _all_codes(registry)
    assert codes == sorted(codes) and len(codes) == len(set(codes)) >= 81
    hitech = (await registry.get("/zones", params={"kind": "hitech", "limit": 500})).json()["items"]
    assert hitech and all(z["kind"] == "hitech" for z in hitech)
    both = (await registry.get("/zones", params=[("level", "national"), ("level", "regional"),
                                                  ("league", "150200"), ("limit", "500")])).json()["items"]
    assert both and all(z["league_code"] == "150200" for z in both)
    comma = (await registry.get("/zones", params={"status": "accredited,rectification", "limit": 500})).json()
    assert len(comma["items"]) == len((await registry.get("/zones", params={"status": "accredited",
                                                                            "limit": 500})).json()["items"])
    found = (await registry.get("/zones", params={"q": "稀土"})).json()["items"]
    assert any("稀土" in z["name_zh"] for z in found)
    english = (await registry.get("/zones", params={"q": "baotou"})).json()["items"]
    assert english and all("baotou" in (z["name_en"] or "").lower() for z in english)


async def test_bad_filters_are_problems(registry: httpx.AsyncClient) -> None:
    for params in ({"kind": "casino"}, {"league": "abc"}, {"limit": "0"}, {"as_of": "2020-13-01"},
                   {"known_at": "yesterday"}, {"cursor": "!!notacursor"}):
        r = await registry.get("/zones", params=params)
        assert r.status_code == 422, params
        assert r.headers["content-type"] == PROBLEM
        body = r.json()
        assert body["errors"] and body["errors"][0]["field"] in params, body


async def test_one_zone_with_etag(registry: httpx.AsyncClient) -> None:
    code = (await _all_codes(registry))[0]
    r = await registry.get(f"/zones/{code}")
    assert r.status_code == 200 and r.headers["etag"].startswith('"')
    assert r.json()["code"] == code and "parks" in r.json()
    missing = await registry.get("/zones/S000000")
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM


NEW_ZONE = {"kind": "industrial_park", "level": "none", "status": "candidate", "name_zh": "测试产业园",
            "name_en": "Test Industrial Park", "league_code": "150900", "area_ha": "1234.5600",
            "leading_industries": ["新材料"],
            "boundary": {"type": "Polygon", "coordinates": [[[113.1, 41.0], [113.2, 41.0], [113.2, 41.1],
                                                             [113.1, 41.0]]]}}


async def test_create_zone_assigns_code_and_history(registry: httpx.AsyncClient, tokens: Tokens) -> None:
    r = await registry.post("/zones", json=NEW_ZONE, headers=tokens.headers("st_department"))
    assert r.status_code == 201, r.text
    zone = r.json()
    assert zone["code"].startswith("NM-") and zone["area_ha"] == "1234.56"
    assert r.headers["location"] == f"/zones/{zone['code']}"
    history = (await registry.get(f"/zones/{zone['code']}/history")).json()["events"]
    assert len(history) == 1 and history[0]["state_after"]["status"] == "candidate"
    again = await registry.post("/zones", json=NEW_ZONE, headers=tokens.headers("st_department"))
    assert again.status_code == 409 and again.json()["errors"][0]["field"] == "name_zh"


async def test_create_zone_bad_input_changes_nothing(registry: httpx.AsyncClient, registry_db: str,
                                                     tokens: Tokens) -> None:
    before = await dump_rows(registry_db, Base.metadata)
    st = tokens.headers("st_department")
    cases = [
        ({**NEW_ZONE, "league_code": "159999"}, 422, "league_code"),
        ({**NEW_ZONE, "kind": "etdz", "level": "regional"}, 422, "level"),
        ({**NEW_ZONE, "area_ha": "0"}, 422, "area_ha"),
        ({**NEW_ZONE, "area_ha": "-3"}, 422, "area_ha"),
        ({**NEW_ZONE, "area_ha": "1.12345678901"}, 422, "area_ha"),
        ({**NEW_ZONE, "boundary": {"type": "Point", "coordinates": [113.0, 41.0]}}, 422, "boundary"),
        ({**NEW_ZONE, "boundary": {"type": "Polygon", "coordinates": [[[113.1, 41.0], [113.2, 41.0],
                                                                        [113.2, 41.1], [113.1, 41.05]]]}},
         422, "boundary"),
        ({**NEW_ZONE, "boundary": {"type": "Polygon", "coordinates": [[[13.1, 41.0], [13.2, 41.0],
                                                                        [13.2, 41.1], [13.1, 41.0]]]}},
         422, "boundary"),
        ({**NEW_ZONE, "approval_date": "2020-02-30"}, 422, "approval_date"),
        ({**NEW_ZONE, "status": "revoked"}, 422, "status"),
        ({**NEW_ZONE, "county_code": "150102"}, 422, "county_code"),
        ({**NEW_ZONE, "code": "X1"}, 422, "code"),
    ]
    for body, status, field in cases:
        r = await registry.post("/zones", json=body, headers=st)
        assert r.status_code == status, (field, r.text)
        assert r.headers["content-type"] == PROBLEM
        assert field in [e["field"] for e in r.json()["errors"]], r.json()
    r = await registry.post("/zones", json=NEW_ZONE, headers=tokens.headers("observer"))
    assert r.status_code == 403 and r.headers["content-type"] == PROBLEM
    r = await registry.post("/zones", json=NEW_ZONE)
    assert r.status_code == 401
    r = await registry.post("/zones", content=b"{not json", headers={**st, "content-type": "application/json"})
    assert r.status_code == 400 and r.headers["content-type"] == PROBLEM
    r = await registry.post("/zones", content=b"x" * (6 * 1024 * 1024), headers=st)
    assert r.status_code == 413 and r.headers["content-type"] == PROBLEM
    assert await dump_rows(registry_db, Base.metadata) == before


async def test_update_needs_if_match_and_respects_league(registry: httpx.AsyncClient, registry_db: str,
                                                        tokens: Tokens) -> None:
    zone = (await registry.get("/zones", params={"league": "150200", "limit": 1})).json()["items"][0]
    r = await registry.get(f"/zones/{zone['code']}")
    etag = r.headers["etag"]
    own = tokens.headers("league_government", league_code="150200")
    other = tokens.headers("league_government", league_code="150300")
    before = await dump_rows(registry_db, Base.metadata)
    assert (await registry.patch(f"/zones/{zone['code']}", json={"management_committee": "管委会"},
                                 headers=own)).status_code == 428
    assert (await registry.patch(f"/zones/{zone['code']}", json={"management_committee": "管委会"},
                                 headers={**own, "If-Match": '"stale.0"'})).status_code == 412
    assert (await registry.patch(f"/zones/{zone['code']}", json={"management_committee": "管委会"},
                                 headers={**other, "If-Match": etag})).status_code == 403
    assert (await registry.patch(f"/zones/{zone['code']}", json={"approval_doc": "某文件"},
                                 headers={**own, "If-Match": etag})).status_code == 403
    assert await dump_rows(registry_db, Base.metadata) == before
    ok = await registry.patch(f"/zones/{zone['code']}", json={"management_committee": "管委会", "area_ha": 12.5},
                              headers={**own, "If-Match": etag})
    assert ok.status_code == 200, ok.text
    assert ok.json()["management_committee"] == "管委会" and ok.json()["area_ha"] == "12.5"
    assert ok.headers["etag"] != etag
    stale = await registry.patch(f"/zones/{zone['code']}", json={"management_committee": "x"},
                                 headers={**own, "If-Match": etag})
    assert stale.status_code == 412


async def test_parks(registry: httpx.AsyncClient, tokens: Tokens) -> None:
    code = (await registry.get("/zones", params={"league": "152200", "limit": 1})).json()["items"][0]["code"]
    own = tokens.headers("league_government", league_code="152200")
    r = await registry.post(f"/zones/{code}/parks", json={"name_zh": "乌兰浩特绿色产业园", "area_ha": "100"},
                            headers=own)
    assert r.status_code == 201, r.text
    park = r.json()
    assert (await registry.post(f"/zones/{code}/parks", json={"name_zh": "乌兰浩特绿色产业园"},
                                headers=own)).status_code == 409
    upd = await registry.patch(f"/zones/{code}/parks/{park['id']}", json={"area_ha": "120.5"},
                               headers={**own, "If-Match": r.headers["etag"]})
    assert upd.status_code == 200 and upd.json()["area_ha"] == "120.5"
    zone = (await registry.get(f"/zones/{code}")).json()
    assert [p["name_zh"] for p in zone["parks"]] == ["乌兰浩特绿色产业园"]


async def test_openapi_has_no_default_422(registry: httpx.AsyncClient) -> None:
    spec = (await registry.get("/openapi.json")).json()
    assert "HTTPValidationError" not in str(spec.get("components", {}))


async def test_dates_in_queries_are_yyyy_mm_dd_only(registry: httpx.AsyncClient) -> None:
    for path in ("/zones", "/zones/S159041", "/zones/export.csv"):
        for bad in ("0", "1700000000", "20200101", "2020-1-1", "2020-06-30T00:00:00", " 2020-06-30"):
            r = await registry.get(path, params={"as_of": bad})
            assert r.status_code == 422 and r.headers["content-type"] == PROBLEM, (path, bad, r.text)
            assert r.json()["errors"][0]["field"] == "as_of"
        assert (await registry.get(path, params={"as_of": "2020-06-30"})).status_code == 200
    for path in ("/zones", "/zones/S159041", "/zones/S159041/history"):
        for bad in ("2020-W01-1", "2020001", "0", "2020-06-30T25:00:00", "2020-06-30T10:00:00+0800"):
            r = await registry.get(path, params={"known_at": bad})
            assert r.status_code == 422 and r.headers["content-type"] == PROBLEM, (path, bad, r.text)
            assert r.json()["errors"][0]["field"] == "known_at"
        for good in ("2099-01-01", "2099-01-01T00:00:00Z", "2099-01-01 08:00:00+08:00", "2099-01-01T00:00"):
            assert (await registry.get(path, params={"known_at": good})).status_code == 200, (path, good)
    for bad in ("²", "1.5", "-1", "x"):
        r = await registry.get("/events", params={"after": bad})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "after", bad


async def test_405_lists_every_allowed_method(registry: httpx.AsyncClient) -> None:
    for method, path, allowed in (("DELETE", "/zones/S159041", "GET, PATCH"), ("PUT", "/zones", "GET, POST"),
                                  ("DELETE", "/zones/S159041/parks/1", "PATCH"), ("POST", "/leagues", "GET")):
        r = await registry.request(method, path)
        assert r.status_code == 405 and r.headers["content-type"] == PROBLEM, (method, path)
        assert r.headers["allow"] == allowed, (method, path)


async def test_openapi_is_as_strict_as_the_validators(registry: httpx.AsyncClient) -> None:
    import re

    spec = (await registry.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    area = schemas["ZoneCreate"]["properties"]["area_ha"]["anyOf"][0]
    assert area == schemas["ParkIn"]["properties"]["area_ha"]["anyOf"][0]
    assert [v for v in ("0", "0.0", "-1", "00", "1", "0.5", "1234.56") if re.fullmatch(area["pattern"], v)] == [
        "1", "0.5", "1234.56"]

    def param(path: str, name: str) -> dict[str, Any]:
        found = [p for p in spec["paths"][path]["get"]["parameters"] if p["name"] == name]
        return dict(found[0]["schema"])

    assert "[0-9]" in str(param("/events", "after"))
    for path in ("/zones", "/zones/{code}", "/zones/{code}/history"):
        assert "pattern" in str(param(path, "known_at")), path
    for path in ("/zones", "/zones/{code}"):
        assert "'format': 'date'" in str(param(path, "as_of")), path
