"""GET /zones/{zone_id}/eligibility and /targets over HTTP: the real registry, the real scoring service,
data posted through the intake, on each dialect."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.scoring.conftest import NATIONAL_HITECH, REGIONAL_HITECH, Services

LEAGUE = "150400"  # 赤峰市, the league of REGIONAL_HITECH
Y = 2024


@pytest.fixture
async def svc(services: Services) -> AsyncIterator[Services]:
    yield services


def park(i: int) -> dict[str, Any]:
    revenue = 1000 + 100 * i
    return {"operating_revenue": str(revenue), "industrial_output": str(500 + 60 * i),
            "leading_industry_revenue": str(revenue * 8 // 10), "hightech_industry_revenue": str(350 + 60 * i),
            "rd_expenditure": str(50 + 10 * i), "hitech_enterprises": 20, "tech_smes": 15, "total_enterprises": 100,
            "innovation_platforms": 18, "new_type_rd_institutions": 4, "invention_patents": 60, "employees": 20000}


async def put(svc: Services, path: str, values: dict[str, Any], **kw: Any) -> None:
    r = await svc.scoring.put(path, json={"values": values, **kw}, headers=svc.headers())
    assert r.status_code in (200, 201), r.text


async def post_all(svc: Services) -> None:
    for i, year in enumerate(range(2020, 2024)):
        await put(svc, f"/zones/{REGIONAL_HITECH}/years/{year}/data", park(i))
        if year > 2020:
            await put(svc, f"/references/{LEAGUE}/years/{year}/data",
                      {"league_rd_growth": "0.05", "league_invention_patents_per_10k": "25"})
            await put(svc, f"/references/150000/years/{year}/data",
                      {"region_growth_operating_revenue": "0.06", "region_growth_industrial_output": "0.07"})


async def get(svc: Services, what: str, year: int | str | None = Y, zone: str = REGIONAL_HITECH,
              role: str = "observer", **kw: str) -> Any:
    query = "" if year is None else f"?year={year}"
    return await svc.scoring.get(f"/zones/{zone}/{what}{query}", headers=svc.headers(role, **kw))


async def test_eligible_with_figures_revisions_and_settings(svc: Services) -> None:
    await post_all(svc)
    r = await get(svc, "eligibility")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["overall"] == "eligible", [(c["code"], c["status"], c["missing"]) for c in body["conditions"]]
    assert body["zone"]["code"] == REGIONAL_HITECH and body["zone"]["league_code"] == LEAGUE
    assert body["units"] == {"park": REGIONAL_HITECH, "league": LEAGUE, "region": "150000"}
    assert body["period"] == [2021, 2022, 2023] and body["years_read"] == [2020, 2021, 2022, 2023]
    assert body["settings"]["c3_rising"] == "share" and body["synthetic"] is False
    assert len(body["to_be_attested"]) == 12
    used = {(r["unit_code"], r["year"], r["revision"]) for r in body["data_revisions"]}
    assert (REGIONAL_HITECH, 2020, 1) in used and (LEAGUE, 2023, 1) in used and ("150000", 2021, 1) in used
    c2 = next(c for c in body["conditions"] if c["code"] == "C2")
    assert c2["years"][0]["comparisons"][0]["value"] == "0.8"


async def test_a_correction_is_used_and_named(svc: Services) -> None:
    await post_all(svc)
    await put(svc, f"/zones/{REGIONAL_HITECH}/years/2022/data", {**park(2), "leading_industry_revenue": "100"},
              reason="leading industries recounted")
    body = (await get(svc, "eligibility")).json()
    assert body["overall"] == "not_eligible"
    c2 = next(c for c in body["conditions"] if c["code"] == "C2")
    assert [y["status"] for y in c2["years"]] == ["pass", "fail", "pass"]
    assert (REGIONAL_HITECH, 2022, 2) in {(r["unit_code"], r["year"], r["revision"]) for r in body["data_revisions"]}


async def test_without_data_the_verdict_is_undetermined_and_the_gaps_are_named(svc: Services) -> None:
    body = (await get(svc, "eligibility")).json()
    assert body["overall"] == "undetermined" and body["data_revisions"] == []
    c4 = next(c for c in body["conditions"] if c["code"] == "C4")
    assert {"code": "missing-input", "variable": "league_rd_growth", "unit_code": LEAGUE, "unit": "league",
            "year": 2023, "no_data_for_year": True} in c4["missing"]


@pytest.mark.parametrize("what", ["eligibility", "targets"])
async def test_unknown_zone_is_404(svc: Services, what: str) -> None:
    r = await get(svc, what, zone="NM-99999")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "zone-not-found"


@pytest.mark.parametrize("what", ["eligibility", "targets"])
@pytest.mark.parametrize("year", [None, "1999", "abc", str(dt.date.today().year + 2)])
async def test_the_year_is_required_and_sane(svc: Services, what: str, year: str | None) -> None:
    r = await get(svc, what, year=year)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["field"] == "year"


@pytest.mark.parametrize("what", ["eligibility", "targets"])
async def test_every_role_with_a_token_reads_the_public_does_not(svc: Services, what: str) -> None:
    assert (await svc.scoring.get(f"/zones/{REGIONAL_HITECH}/{what}?year={Y}")).status_code == 401
    for role, extra in (("observer", {}), ("st_department", {}), ("expert", {}), ("regional_government", {}),
                        ("statistics_bureau", {}), ("service", {}), ("league_government", {"league_code": LEAGUE})):
        r = await get(svc, what, role=role, **extra)
        assert r.status_code == 200, (role, r.text)


async def test_targets_of_a_regional_high_tech_zone(svc: Services) -> None:
    await put(svc, f"/zones/{REGIONAL_HITECH}/years/{Y}/data", {"rd_expenditure": "15", "operating_revenue": "1000"})
    r = await get(svc, "targets")
    assert r.status_code == 200, r.text
    body = r.json()
    by_id = {t["id"]: t for t in body["targets"]}
    rd = by_id["000-rd-intensity-regional"]
    assert (rd["status"], rd["value"], rd["threshold"], rd["gap"]) == ("met", "0.015", "0.015", "0")
    assert rd["deadline"] == 2025 and rd["deadline_passed"] is False
    assert rd["source"]["document"] == "内政发〔2021〕13号"
    assert by_id["000-national-zones-count"]["status"] == "not_computable"
    assert not any(i.startswith(("001-", "003-", "004-")) for i in by_id) and "000-rd-intensity-national" not in by_id
    assert sum(body["summary"].values()) == len(body["targets"])
    assert (REGIONAL_HITECH, Y, 1) in {(r["unit_code"], r["year"], r["revision"]) for r in body["data_revisions"]}


async def test_targets_of_a_national_zone_without_data_are_unknown(svc: Services) -> None:
    body = (await get(svc, "targets", zone=NATIONAL_HITECH)).json()
    rd = next(t for t in body["targets"] if t["id"] == "000-rd-intensity-national")
    assert rd["status"] == "unknown"
    assert {(m["variable"], m["year"]) for m in rd["missing"]} == {("rd_expenditure", Y), ("operating_revenue", Y)}


@pytest.mark.parametrize("zone", ["abc", "G1", "NM-x"])
async def test_a_code_the_registry_cannot_have_is_404_not_503(svc: Services, zone: str) -> None:
    r = await get(svc, "eligibility", zone=zone)
    assert r.status_code == 404, r.text


@pytest.mark.parametrize("what", ["eligibility", "targets"])
async def test_the_earliest_year_is_the_setting(svc: Services, what: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """SCORING_EARLIEST_YEAR bounds these years as it bounds the data's (it was a constant 2000 here)."""
    app = svc.scoring._transport.app  # type: ignore[attr-defined]
    monkeypatch.setattr(app.state.settings, "earliest_year", 1995)
    assert (await get(svc, what, year="1999")).status_code == 200
    r = await get(svc, what, year="1994")
    assert r.status_code == 422 and "1995" in r.json()["errors"][0]["reason"]
    monkeypatch.setattr(app.state.settings, "earliest_year", 2010)
    assert (await get(svc, what, year="2009")).status_code == 422
