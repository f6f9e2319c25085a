"""Art. 15 proposals through the API against the real registry (002 art. 15; contracts, status transitions):
the zone's registry status now decides what is proposed and whether a confirmation may still reach the
registry; a correction's publication leaves one live proposal per zone and kind and the superseded ones
undecidable; the evidence names missing data; a league reads its own zones' proposals only."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from services.scoring.models import Base
from shared.testing import dump_rows
from tests.scoring.conftest import Services
from tests.scoring.test_evaluations import ST, YEAR, demo, published, run, wait_delivered

BASIS = {"document": "内政办发〔2022〕17号", "article": "15", "date": "2022-02-24"}


async def set_status(svc: Services, zone: str, *statuses: str) -> None:
    """Move the zone in the registry directly, as another path would (scoring's service token for the
    art. 15 transitions, the regional government for its decision)."""
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    for status in statuses:
        who = svc.headers("regional_government") if status == "revoked" else svc.headers("service", sub="scoring")
        r = await svc.registry.post(f"/zones/{zone}/events", headers=who, json={
            "event_id": str(uuid.uuid4()), "change": [{"field": "status", "value": status}],
            "effective_date": today, "effective_precision": "day", "legal_basis": BASIS, "actor": "test",
            "source": "tests/scoring/test_proposals", "note": "moved by another path"})
        assert r.status_code == 201, r.text


def bottom_and_low(lines: list[dict[str, Any]]) -> list[str]:
    """Zones the default thresholds propose for rectification: fewer than 2 below, a total below 60."""
    return [x["code"] for x in lines if sum(1 for y in lines if y["rank"] > x["rank"]) < 2
            and Decimal(x["total"]) < 60]


async def decide(svc: Services, proposal: int, decision: str = "confirmed") -> Any:
    return await svc.scoring.post(f"/proposals/{proposal}/decision", json={"decision": decision},
                                  headers=svc.headers(ST))


async def test_the_registry_status_now_decides_proposals_and_confirmations(services: Services) -> None:
    svc = services
    await demo(svc)
    ev = (await run(svc)).json()
    lines = (await svc.scoring.get(f"/evaluations/{ev['id']}/ranking", headers=svc.headers(ST))).json()["items"]
    candidates = bottom_and_low(lines)
    assert len(candidates) == 2, candidates
    rectifying, other = candidates
    # under rectification already (accredited → rectification only): no second rectification proposal
    await set_status(svc, rectifying, "rectification")
    out = (await svc.scoring.post(f"/evaluations/{ev['id']}/publish", headers=svc.headers(ST))).json()
    got = {(p["zone"], p["kind"]) for p in out["proposals"]}
    assert (rectifying, "rectification") not in got and (other, "rectification") in got
    # the evidence names the status and the zone's missing-data flags of the ranking
    flags = {x["code"]: x["flags"] for x in lines}
    for p in out["proposals"]:
        assert p["evidence"]["flags"] == flags[p["zone"]] and p["evidence"]["registry_status"] == "accredited"
    assert any(p["evidence"]["flags"] for p in out["proposals"])

    # meanwhile the other zone's revocation was proposed: confirming its rectification is refused
    target = next(p for p in out["proposals"] if p["zone"] == other and p["kind"] == "rectification")
    await set_status(svc, other, "revocation_proposed")
    before = await dump_rows(svc.scoring_url, Base.metadata)
    r = await decide(svc, target["id"])
    assert r.status_code == 409 and r.headers["content-type"].startswith("application/problem+json"), r.text
    body = r.json()
    assert body["code"] == "status-transition-impossible" and body["rule"] == "accredited → rectification"
    assert body["zone_status"] == "revocation_proposed" and body["errors"][0]["field"] == "decision"
    assert await dump_rows(svc.scoring_url, Base.metadata) == before
    # dismissing needs no transition
    assert (await decide(svc, target["id"], "dismissed")).json()["state"] == "dismissed"


async def test_a_revocation_is_not_confirmed_once_the_zone_is_revoked(services: Services) -> None:
    svc = services
    await demo(svc)
    _, before_lines = await published(svc, YEAR - 1)
    last = before_lines[-1]["code"]
    # last the year before, and this year with all but one figure missing: 0 points for each gap, flagged
    r = await svc.scoring.put(f"/zones/{last}/years/{YEAR}/data", headers=svc.headers(),
                              json={"values": {"operating_revenue": "1"}, "reason": "most figures withdrawn"})
    assert r.status_code == 201, r.text
    out, lines = await published(svc, YEAR)
    assert lines[-1]["code"] == last and lines[-1]["rank"] > lines[-2]["rank"]
    target = next(p for p in out["proposals"] if p["kind"] == "revocation")
    assert target["zone"] == last and "missing:1.1" in " ".join(target["evidence"]["flags"])
    await set_status(svc, target["zone"], "revocation_proposed", "revoked")
    before = await dump_rows(svc.scoring_url, Base.metadata)
    r = await decide(svc, target["id"])
    assert r.status_code == 409 and r.json()["code"] == "status-transition-impossible", r.text
    assert r.json()["rule"] == "accredited/rectification → revocation_proposed"
    assert await dump_rows(svc.scoring_url, Base.metadata) == before


async def test_a_published_correction_supersedes_the_proposals_of_the_corrected_evaluation(
        services: Services) -> None:
    svc = services
    await demo(svc)
    first, _ = await published(svc, YEAR)
    rectifications = [p for p in first["proposals"] if p["kind"] == "rectification"]
    assert len(rectifications) == 2
    acted, pending = rectifications
    assert (await decide(svc, acted["id"])).status_code == 200
    await wait_delivered(svc, acted["id"])
    correction = (await run(svc, supersedes=first["id"], note="corrected")).json()
    # a draft correction supersedes nothing yet
    assert (await svc.scoring.get(f"/proposals/{pending['id']}", headers=svc.headers(ST))).json()["state"] == \
        "proposed"
    out = (await svc.scoring.post(f"/evaluations/{correction['id']}/publish", headers=svc.headers(ST))).json()
    assert out["state"] == "published"

    every = (await svc.scoring.get("/proposals", headers=svc.headers(ST))).json()["items"]
    live = [p for p in every if p["state"] in ("proposed", "confirmed")]
    assert max(Counter((p["zone"], p["kind"]) for p in live).values()) == 1, live
    assert (acted["zone"], "rectification") not in {(p["zone"], p["kind"]) for p in out["proposals"]}
    redrawn = next(p for p in out["proposals"] if p["zone"] == pending["zone"] and p["kind"] == "rectification")
    assert redrawn["evidence"]["earlier_proposal"] == {"id": pending["id"], "evaluation_id": first["id"],
                                                       "state": "proposed"}
    still = (await svc.scoring.get("/proposals?state=proposed", headers=svc.headers(ST))).json()["items"]
    assert {p["evaluation_id"] for p in still} == {correction["id"]}
    old = (await svc.scoring.get(f"/proposals/{pending['id']}", headers=svc.headers(ST))).json()
    assert old["state"] == "superseded" and old["superseded_by_evaluation"] == correction["id"]

    before = await dump_rows(svc.scoring_url, Base.metadata)
    for decision in ("confirmed", "dismissed"):
        r = await decide(svc, pending["id"], decision)
        assert r.status_code == 409 and r.json()["code"] == "evaluation-superseded", r.text
        assert r.json()["superseded_by"] == correction["id"]
    # a second correction of the same evaluation would leave two live sets of proposals
    other = (await run(svc, supersedes=first["id"])).json()
    before = await dump_rows(svc.scoring_url, Base.metadata)
    r = await svc.scoring.post(f"/evaluations/{other['id']}/publish", headers=svc.headers(ST))
    assert r.status_code == 409 and r.json()["code"] == "evaluation-superseded", r.text
    assert await dump_rows(svc.scoring_url, Base.metadata) == before
    assert (await decide(svc, redrawn["id"], "dismissed")).status_code == 200


async def test_a_league_reads_its_own_zones_proposals_only(services: Services) -> None:
    svc = services
    await demo(svc)
    out, lines = await published(svc, YEAR)
    target = out["proposals"][0]
    league = next(x["league_code"] for x in lines if x["code"] == target["zone"])
    foreign = next(x["league_code"] for x in lines if x["league_code"] != league)
    mine = svc.headers("league_government", league_code=league)
    theirs = svc.headers("league_government", league_code=foreign)
    for path in (f"/proposals/{target['id']}", f"/proposals/{target['id']}/deliveries"):
        assert (await svc.scoring.get(path, headers=mine)).status_code == 200
        r = await svc.scoring.get(path, headers=theirs)
        assert r.status_code == 404 and r.json()["code"] == "proposal-not-found", r.text
    listed = (await svc.scoring.get("/proposals", headers=theirs)).json()["items"]
    assert target["id"] not in {p["id"] for p in listed}


async def test_the_zone_radar_speaks_the_language_asked_for(services: Services) -> None:
    svc = services
    await demo(svc)
    out, lines = await published(svc, YEAR)
    zone = lines[0]["code"]
    en = (await svc.scoring.get(f"/evaluations/{out['id']}/zones/{zone}.svg?lang=en")).text
    zh = (await svc.scoring.get(f"/evaluations/{out['id']}/zones/{zone}.svg")).text
    assert "cohort median" in en and "同类园区中位数" not in en
    assert "同类园区中位数" in zh and "cohort median" not in zh
