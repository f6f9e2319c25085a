"""Raw annual data is not public, and a league_government token reads only its own league (contracts:
reads): every raw-data route, own league allowed, another league refused with 403 naming the rule; the
other reader roles read every league. The real registry says which league a zone belongs to."""

from __future__ import annotations

from typing import Any

import pytest

from tests.scoring.conftest import REGIONAL_HITECH, Services

OWN = "150400"  # 赤峰市: the league of REGIONAL_HITECH (S158023)
OTHER_ZONE = "NM-6"  # 通辽高新技术产业开发区, league 150500
OTHER = "150500"
Y = 2024
FW = "nmg-hitech-2022"

# route template → how it answers a reader of the unit's league
ROUTES = {
    "data": "/zones/{zone}/years/{y}/data",
    "revisions": "/zones/{zone}/years/{y}/data/revisions",
    "unit data": f"/frameworks/{FW}/units/{{zone}}/years/{{y}}/data",
    "indicators": "/zones/{zone}/years/{y}/indicators",
    "unit indicators": f"/frameworks/{FW}/units/{{zone}}/years/{{y}}/indicators",
    "eligibility": "/zones/{zone}/eligibility?year={y}",
    "targets": "/zones/{zone}/targets?year={y}",
    "league reference": "/references/{league}/years/{y}/data",
}


def figures(revenue: str) -> dict[str, Any]:
    return {"operating_revenue": revenue, "rd_expenditure": "23456.7", "employees": 5230, "rd_personnel_fte": "312.5"}


async def post_data(svc: Services) -> None:
    for path, values in (
            (f"/zones/{REGIONAL_HITECH}/years/{Y}/data", figures("1000")),
            (f"/zones/{OTHER_ZONE}/years/{Y}/data", figures("2000")),
            (f"/references/{OWN}/years/{Y}/data", {"league_rd_growth": "0.05"}),
            (f"/references/{OTHER}/years/{Y}/data", {"league_rd_growth": "0.07"}),
            (f"/references/150000/years/{Y}/data", {"region_growth_operating_revenue": "0.06"})):
        r = await svc.scoring.put(path, json={"values": values}, headers=svc.headers())
        assert r.status_code == 201, r.text


def league_headers(svc: Services, league: str = OWN) -> dict[str, str]:
    return svc.headers("league_government", league_code=league)


@pytest.mark.parametrize("route", list(ROUTES))
async def test_league_government_reads_its_own_league_only(services: Services, route: str) -> None:
    await post_data(services)
    own = ROUTES[route].format(zone=REGIONAL_HITECH, league=OWN, y=Y)
    other = ROUTES[route].format(zone=OTHER_ZONE, league=OTHER, y=Y)
    allowed = await services.scoring.get(own, headers=league_headers(services))
    assert allowed.status_code == 200, allowed.text
    refused = await services.scoring.get(other, headers=league_headers(services))
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    body = refused.json()
    assert (body["code"], body["rule"], body["league_code"]) == ("outside-own-league", "league-scope", OWN)
    unit = OTHER if route == "league reference" else OTHER_ZONE
    assert body["unit"] == unit and unit in body["detail"] and "league_government" in body["detail"]
    # the other league's own token reads it; every other reader role reads both
    assert (await services.scoring.get(other, headers=league_headers(services, OTHER))).status_code == 200
    assert (await services.scoring.get(own, headers=league_headers(services, OTHER))).status_code == 403
    for role in ("observer", "st_department", "expert", "regional_government", "statistics_bureau", "service"):
        for path in (own, other):
            r = await services.scoring.get(path, headers=services.headers(role))
            assert r.status_code == 200, (role, path, r.text)
    assert (await services.scoring.get(own)).status_code == 401  # not public


async def test_region_reference_figures_are_read_by_every_league(services: Services) -> None:
    await post_data(services)
    r = await services.scoring.get(f"/references/150000/years/{Y}/data", headers=league_headers(services))
    assert r.status_code == 200 and r.json()["values"] == {"region_growth_operating_revenue": "0.06"}


async def test_a_year_listing_shows_a_league_only_its_own_units(services: Services) -> None:
    await post_data(services)
    path = f"/frameworks/{FW}/years/{Y}/data"
    mine = await services.scoring.get(path, headers=league_headers(services))
    assert mine.status_code == 200, mine.text
    assert {i["unit"] for i in mine.json()["items"]} == {REGIONAL_HITECH, OWN, "150000"}
    everyone = await services.scoring.get(path, headers=services.headers("observer"))
    assert {i["unit"] for i in everyone.json()["items"]} == {REGIONAL_HITECH, OTHER_ZONE, OWN, OTHER, "150000"}


async def test_units_that_are_no_zone_of_the_league_are_refused(services: Services) -> None:
    from services.scoring.frameworks.service import DEFINITIONS

    data = (DEFINITIONS / "asem" / "ASEM_iData.csv").read_bytes()
    r = await services.scoring.post("/frameworks/asem-coinr/years/2018/data", content=data,
                                    headers={**services.headers(), "Content-Type": "text/csv"})
    assert r.status_code == 201, r.text
    for path in ("/frameworks/asem-coinr/units/AUT/years/2018/data", "/zones/NM-99999/years/2018/data",
                 "/frameworks/asem-coinr/units/AUT/years/2018/indicators"):
        refused = await services.scoring.get(path, headers=league_headers(services))
        assert refused.status_code == 403 and refused.json()["rule"] == "league-scope", (path, refused.text)
    listing = await services.scoring.get("/frameworks/asem-coinr/years/2018/data", headers=league_headers(services))
    assert listing.status_code == 200 and listing.json()["items"] == []
