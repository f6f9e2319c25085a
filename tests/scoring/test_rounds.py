"""Expert scores of the qualitative indicators: open a round, assign, score, see only one's own, revisions,
and every bad input refused with nothing changed (issue #5 §2 and §6)."""

from __future__ import annotations

from typing import Any

import pytest

from services.scoring.models import Base
from shared.testing import dump_rows
from tests.scoring.conftest import NATIONAL_HITECH, OUT_OF_SCOPE, REGIONAL_HITECH, Services

ST = "st_department"
OTHER_REGIONAL = "S159041"


async def open_round(svc: Services, year: int = 2024) -> dict[str, Any]:
    r = await svc.scoring.post("/rounds", json={"year": year}, headers=svc.headers(ST, sub="director"))
    assert r.status_code == 201, r.text
    return r.json()


async def assign(svc: Services, round_id: int, expert: str, zones: list[str] | None) -> Any:
    return await svc.scoring.post(f"/rounds/{round_id}/experts", json={"expert": expert, "zones": zones},
                                  headers=svc.headers(ST))


async def score(svc: Services, round_id: int, expert: str, zone: str, indicator: str, value: Any,
                comment: str | None = None) -> Any:
    return await svc.scoring.put(f"/rounds/{round_id}/scores/{zone}/{indicator}",
                                 json={"score": value, "comment": comment},
                                 headers=svc.headers("expert", sub=expert))


async def test_round_assign_score_revise_and_privacy(services: Services) -> None:
    svc = services
    rnd = await open_round(svc)
    assert rnd["state"] == "open" and rnd["framework"] == "nmg-hitech-2022"
    assert (await assign(svc, rnd["id"], "expert-a", [REGIONAL_HITECH])).status_code == 200
    assert (await assign(svc, rnd["id"], "expert-b", None)).status_code == 200

    r = await score(svc, rnd["id"], "expert-a", REGIONAL_HITECH, "2.8", "4.5", "良好")
    assert r.status_code == 201 and r.json()["score"] == "4.5" and r.json()["revision"] == 1
    # the same again: unchanged, no new revision
    r = await score(svc, rnd["id"], "expert-a", REGIONAL_HITECH, "2.8", "4.50", "良好")
    assert r.status_code == 200 and r.json()["revision"] == 1
    r = await score(svc, rnd["id"], "expert-a", REGIONAL_HITECH, "2.8", "3", "复核后下调")
    assert r.status_code == 201 and r.json()["revision"] == 2
    # expert-b is assigned to every zone
    assert (await score(svc, rnd["id"], "expert-b", OTHER_REGIONAL, "4.3", 4)).status_code == 201

    mine = (await svc.scoring.get(f"/rounds/{rnd['id']}/scores",
                                  headers=svc.headers("expert", sub="expert-a"))).json()["items"]
    assert [(s["expert"], s["zone"], s["indicator"], s["score"]) for s in mine] == [
        ("expert-a", REGIONAL_HITECH, "2.8", "3")]
    every = (await svc.scoring.get(f"/rounds/{rnd['id']}/scores?history=true", headers=svc.headers(ST))).json()
    assert sorted((s["expert"], s["revision"], s["score"]) for s in every["items"]) == [
        ("expert-a", 1, "4.5"), ("expert-a", 2, "3"), ("expert-b", 1, "4")]
    # an expert sees only the rounds it is assigned to
    rounds = (await svc.scoring.get("/rounds", headers=svc.headers("expert", sub="nobody"))).json()["items"]
    assert rounds == []
    one = (await svc.scoring.get(f"/rounds/{rnd['id']}", headers=svc.headers(ST))).json()
    assert {e["expert"]: e["zones"] for e in one["experts"]} == {"expert-a": [REGIONAL_HITECH], "expert-b": None}
    # withdrawal is a revision too
    r = await score(svc, rnd["id"], "expert-b", OTHER_REGIONAL, "4.3", None)
    assert r.status_code == 201 and r.json()["score"] is None


@pytest.mark.parametrize(("who", "zone", "indicator", "value", "status", "code"), [
    ("expert-a", OTHER_REGIONAL, "2.8", "3", 403, "expert-not-assigned"),   # not assigned to that zone
    ("stranger", REGIONAL_HITECH, "2.8", "3", 403, "expert-not-assigned"),  # not assigned at all
    ("expert-a", REGIONAL_HITECH, "2.8", "5.01", 422, "validation-failed"),  # above the points (5)
    ("expert-a", REGIONAL_HITECH, "4.2", "-1", 422, "validation-failed"),   # below 0
    ("expert-a", REGIONAL_HITECH, "1.1", "1", 422, "not-qualitative"),     # a computed indicator
    ("expert-a", REGIONAL_HITECH, "2.8", "abc", 422, "validation-failed"),  # not a number
])
async def test_bad_scores_change_nothing(services: Services, who: str, zone: str, indicator: str, value: str,
                                         status: int, code: str) -> None:
    svc = services
    rnd = await open_round(svc)
    await assign(svc, rnd["id"], "expert-a", [REGIONAL_HITECH])
    before = await dump_rows(svc.scoring_url, Base.metadata)
    r = await score(svc, rnd["id"], who, zone, indicator, value)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == code and r.json()["errors"]
    assert await dump_rows(svc.scoring_url, Base.metadata) == before


async def test_bad_rounds_and_assignments_change_nothing(services: Services) -> None:
    svc = services
    rnd = await open_round(svc)
    before = await dump_rows(svc.scoring_url, Base.metadata)
    cases = [
        (await svc.scoring.post("/rounds", json={"year": 2024}, headers=svc.headers(ST)), 409, "round-exists"),
        (await svc.scoring.post("/rounds", json={"year": 2024, "framework": "nope"}, headers=svc.headers(ST)),
         422, "validation-failed"),
        (await svc.scoring.post("/rounds", json={"year": 2024, "colour": "red"}, headers=svc.headers(ST)),
         422, "validation-failed"),
        (await svc.scoring.post("/rounds", json={"year": 2025}, headers=svc.headers("expert")), 403, None),
        (await assign(svc, rnd["id"], "e", [OUT_OF_SCOPE]), 422, "validation-failed"),
        (await assign(svc, rnd["id"], "e", ["S000000"]), 422, "validation-failed"),
        (await assign(svc, 999, "e", None), 404, "round-not-found"),
    ]
    for r, status, code in cases:
        assert r.status_code == status, r.text
        if code:
            assert r.json()["code"] == code
    assert (await assign(svc, rnd["id"], "e", [NATIONAL_HITECH, "S000000"])).json()["errors"][0]["field"] == \
        "zones.1"
    unknown = await svc.scoring.post("/rounds", json={"year": 2024, "framework": "nope"}, headers=svc.headers(ST))
    assert [(e["field"], e["code"]) for e in unknown.json()["errors"]] == [("framework", "unknown-framework")]
    assert await dump_rows(svc.scoring_url, Base.metadata) == before


@pytest.mark.parametrize(("zone", "code"), [
    (OUT_OF_SCOPE, "out-of-scope"),  # a bonded zone: not a zone 002 evaluates
    ("S000000", "unknown-zone"),  # no zone of the register
])
async def test_an_expert_of_every_zone_scores_only_zones_of_the_scope(services: Services, zone: str,
                                                                       code: str) -> None:
    svc = services
    rnd = await open_round(svc)
    assert (await assign(svc, rnd["id"], "expert-b", None)).status_code == 200
    before = await dump_rows(svc.scoring_url, Base.metadata)
    r = await score(svc, rnd["id"], "expert-b", zone, "2.8", "3")
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert [(e["field"], e["in"], e["code"]) for e in r.json()["errors"]] == [("zone_code", "path", code)]
    assert await dump_rows(svc.scoring_url, Base.metadata) == before
    assert (await score(svc, rnd["id"], "expert-b", REGIONAL_HITECH, "2.8", "3")).status_code == 201
