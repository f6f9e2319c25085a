"""The annual evaluation end to end on the demonstration data (issue #5 §§2–3, 5): run, recompute the
points independently, reproduce, publish once, rank with comparisons, explain, proposals and their one
decision reaching the registry through the outbox; bad input refused with nothing changed."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import pytest

from services.scoring.clients.registry import RegistryClient
from services.scoring.data.demo import load_demo
from services.scoring.models import Base
from shared.db import Database
from shared.peers import PeerClient
from shared.testing import dump_rows
from tests.scoring.conftest import Services

ST = "st_department"
YEAR = 2025
CENT = Decimal("0.01")
# a plain method whose points the test can recompute by hand: min-max onto [0, 1] within the cohort,
# direction-aware; compound parts half each; experts' mean over the points; 0 for missing; 2 decimals
PLAIN = {
    "id": "test-plain-minmax", "version": 1, "name": {"en": "plain min-max"}, "frameworks": ["nmg-hitech-2022"],
    "operations": [
        {"op": "normalise", "default": {"method": "minmax", "lo": 0, "hi": 1}},
        {"op": "missing", "policy": "zero_flagged"},
        {"op": "compound", "split": {"a": 0.5, "b": 0.5}, "optional_parts": False},
        {"op": "qualitative", "combine": "mean", "scale": "points"},
        {"op": "aggregate", "method": "points_sum"},
        {"op": "round", "places": 2, "rule": "half_up"},
    ],
}


async def demo(svc: Services) -> None:
    db = Database(svc.scoring_url)
    peer = PeerClient("http://registry", transport=httpx.ASGITransport(app=svc.registry_app))
    try:
        await load_demo(db, RegistryClient(peer), this_year=YEAR + 1)
    finally:
        await peer.aclose()
        await db.dispose()


async def run(svc: Services, **body: Any) -> httpx.Response:
    return await svc.scoring.post("/evaluations", json={"year": YEAR, **body}, headers=svc.headers(ST))


def half_up(x: Decimal) -> Decimal:
    return x.quantize(CENT, rounding=ROUND_HALF_UP)


async def independent_points(svc: Services, codes: list[str], scores: dict[tuple[str, str], list[Decimal]],
                             ) -> dict[str, dict[str, Decimal]]:
    """Each zone's indicator points, from the raw values the indicators route serves, computed here."""
    raw: dict[str, dict[str, Any]] = {}
    meta: dict[str, Any] = {}
    for code in codes:
        got = (await svc.scoring.get(f"/zones/{code}/years/{YEAR}/indicators", headers=svc.headers(ST))).json()
        for ind in got["indicators"]:
            meta[ind["code"]] = ind
            cells = [(p["code"], p["value"], p["direction"], p["optional"]) for p in ind["parts"]] \
                if ind.get("parts") else [(None, ind["value"], ind["direction"], False)]
            for part, value, direction, optional in cells:
                raw.setdefault(f"{ind['code']}:{part}", {})[code] = (value, direction, optional)
    points: dict[str, dict[str, Decimal]] = {c: {} for c in codes}
    for code, ind in meta.items():
        top = Decimal(ind["points"])
        if ind["kind"] == "qualitative":
            for z in codes:
                given = scores.get((z, code))
                share = (sum(given) / len(given) / top) if given else Decimal(0)
                points[z][code] = half_up(Decimal(repr(float(share) * float(top))))
            continue
        total = {z: 0.0 for z in codes}
        cells = [k for k in raw if k.split(":")[0] == code]
        used = [k for k in cells if not raw[k][codes[0]][2]]
        for key in used:
            share = 1.0 if len(used) == 1 else 0.5
            values = {z: float(v) for z, (v, _, _) in raw[key].items() if v is not None}
            direction = raw[key][codes[0]][1]
            lo, hi = min(values.values()), max(values.values())
            for z in codes:
                if z in values:
                    x = (values[z] - lo) / (hi - lo) if hi > lo else float("nan")
                    x = x if direction == 1 else 1 - x
                    total[z] += share * x * float(top)
        for z in codes:
            points[z][code] = half_up(Decimal(repr(total[z])))
    return points


async def test_evaluate_recompute_publish_rank_explain_and_act(services: Services) -> None:
    svc = services
    await demo(svc)
    assert (await svc.scoring.post("/methods", json=PLAIN, headers=svc.headers(ST))).status_code == 201
    rnd = (await svc.scoring.post("/rounds", json={"year": YEAR}, headers=svc.headers(ST))).json()
    await svc.scoring.post(f"/rounds/{rnd['id']}/experts", json={"expert": "e1"}, headers=svc.headers(ST))
    await svc.scoring.post(f"/rounds/{rnd['id']}/experts", json={"expert": "e2"}, headers=svc.headers(ST))

    created = await run(svc, method="test-plain-minmax")
    assert created.status_code == 201, created.text
    ev = created.json()
    assert ev["state"] == "draft" and ev["cohort_size"] == 9 and ev["round_id"] == rnd["id"]
    codes = [z["code"] for z in (await svc.scoring.get(f"/evaluations/{ev['id']}", headers=svc.headers(ST))
                                 ).json()["cohort"]["zones"]]
    # expert scores arrive after a first run: a second run takes them, the first keeps what it saw
    given = {(codes[0], "2.8"): [Decimal("4"), Decimal("3")], (codes[1], "4.2"): [Decimal("2.5")]}
    for (zone, indicator), values in given.items():
        for expert, value in zip(("e1", "e2"), values, strict=False):
            r = await svc.scoring.put(f"/rounds/{rnd['id']}/scores/{zone}/{indicator}", json={"score": str(value)},
                                      headers=svc.headers("expert", sub=expert))
            assert r.status_code == 201, r.text
    ev2 = (await run(svc, method="test-plain-minmax")).json()
    assert ev2["inputs_hash"] != ev["inputs_hash"]

    expected = await independent_points(svc, codes, given)
    ranking = (await svc.scoring.get(f"/evaluations/{ev2['id']}/ranking", headers=svc.headers(ST))).json()
    assert len(ranking["items"]) == 9
    assert all(line["name"]["zh"] and line["league_code"] for line in ranking["items"])  # from the registry
    for line in ranking["items"]:
        explained = (await svc.scoring.get(f"/evaluations/{ev2['id']}/zones/{line['code']}",
                                           headers=svc.headers(ST))).json()
        got = {i["code"]: Decimal(i["points"]) for i in explained["indicators"]}
        assert got == expected[line["code"]], line["code"]
        for group, value in line["groups"].items():  # the published table adds up
            assert Decimal(value) == sum(v for k, v in got.items() if k.split(".")[0] == group)
        assert Decimal(line["total"]) == sum(Decimal(v) for v in line["groups"].values())
        assert line["previous_total"] is not None and line["previous_rank"] is not None  # 2024 re-scored
        assert Decimal(line["index_change"]) == Decimal(line["total"]) - Decimal(line["previous_total"])
        assert explained["strongest"] and explained["weakest"]
        steps = explained["indicators"][0]["operations"][0]["steps"]
        assert [s["op"] for s in steps] == ["raw", "normalise", "aggregate"]
    totals = [Decimal(line["total"]) for line in ranking["items"]]
    ranks = [line["rank"] for line in ranking["items"]]
    assert totals == sorted(totals, reverse=True)
    assert ranks == [1 + sum(1 for t in totals if t > total) for total in totals]  # ties share the lower number
    for line in ranking["items"]:  # among the ranked zones of the zone's own league (002 art. 8)
        league = [x for x in ranking["items"] if x["league_code"] == line["league_code"]]
        assert line["league_zones"] == len(league)
        assert line["league_position"] == (1 + sum(1 for x in league if x["rank"] < line["rank"])
                                           if len(league) > 1 else None)
    assert any(line["league_position"] == 2 for line in ranking["items"])

    # reproducible from the recorded inputs, even after new figures arrive
    await svc.scoring.put(f"/zones/{codes[0]}/years/{YEAR}/data", json={"values": {"operating_revenue": "1"}},
                          headers=svc.headers())
    again = (await svc.scoring.post(f"/evaluations/{ev2['id']}/reproduce", headers=svc.headers(ST))).json()
    assert again["identical"] is True and again["inputs_hash"] == ev2["inputs_hash"]

    # public: drafts are invisible; published ones readable, raw inputs withheld
    assert (await svc.scoring.get(f"/evaluations/{ev2['id']}/ranking")).status_code == 404
    published = await svc.scoring.post(f"/evaluations/{ev2['id']}/publish", headers=svc.headers(ST))
    assert published.status_code == 200, published.text
    assert published.json()["state"] == "published"
    twice = await svc.scoring.post(f"/evaluations/{ev2['id']}/publish", headers=svc.headers(ST))
    assert twice.status_code == 409 and twice.json()["code"] == "evaluation-published"
    public = await svc.scoring.get(f"/evaluations/{ev2['id']}/zones/{codes[0]}")
    assert public.status_code == 200
    assert all(p["inputs"] is None for i in public.json()["indicators"] for p in i["parts"])
    assert [e["id"] for e in (await svc.scoring.get("/evaluations")).json()["items"]] == [ev2["id"]]
    csv_text = (await svc.scoring.get(f"/evaluations/{ev2['id']}/ranking?format=csv")).content.decode("utf-8-sig")
    assert csv_text.splitlines()[0].startswith("rank,code,name_zh") and len(csv_text.splitlines()) == 10
    xlsx = await svc.scoring.get(f"/evaluations/{ev2['id']}/ranking?format=xlsx")
    assert xlsx.content[:2] == b"PK"
    # charts for people: one bar per zone stacked by the four groups, a radar of a zone against the median
    import xml.etree.ElementTree as ET

    svg = await svc.scoring.get(f"/evaluations/{ev2['id']}/ranking.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(svg.content)
    classes = [e.get("class") for e in root.iter()]
    assert classes.count("bar") == 9 and classes.count("segment") == 9 * 4
    assert all(line["name"]["zh"] in svg.text for line in ranking["items"])
    radar = await svc.scoring.get(f"/evaluations/{ev2['id']}/zones/{codes[0]}.svg")
    assert radar.status_code == 200 and [e.get("class") for e in ET.fromstring(radar.content).iter()].count(
        "group-label") == 4
    # the expert round is frozen now
    frozen = await svc.scoring.put(f"/rounds/{rnd['id']}/scores/{codes[0]}/2.8", json={"score": "1"},
                                   headers=svc.headers("expert", sub="e1"))
    assert frozen.status_code == 409 and frozen.json()["code"] == "round-frozen"


async def test_a_zone_accredited_just_before_the_run_is_ranked_with_its_gaps_flagged(services: Services) -> None:
    """The cohort is the register as known when the run starts (to the microsecond: it was the second
    before); a zone without any figure for the year is ranked as the default method says (0 points, each
    gap flagged) and counted in its league's positions like in the overall rank."""
    svc = services
    await demo(svc)
    created = await svc.registry.post("/zones", headers=svc.headers(ST), json={
        "kind": "hitech", "level": "regional", "status": "accredited", "league_code": "150400",
        "name_zh": "新认定测试高新区", "established": {"effective_date": f"{YEAR - 1}-06-30"}})
    assert created.status_code == 201, created.text
    code = created.json()["code"]
    ev = (await run(svc)).json()
    assert ev["cohort_size"] == 10 and ev["ranked"] == 10
    lines = (await svc.scoring.get(f"/evaluations/{ev['id']}/ranking", headers=svc.headers(ST))).json()["items"]
    new = next(x for x in lines if x["code"] == code)
    assert new["total"] == "0.00" and new["rank"] == 10 and len(new["flags"]) >= 26
    assert (new["league_position"], new["league_zones"]) == (3, 3)


async def test_bad_evaluation_requests_change_nothing(services: Services) -> None:
    svc = services
    await demo(svc)
    before = await dump_rows(svc.scoring_url, Base.metadata)
    for body, code, named in [
        ({"framework": "nope"}, "validation-failed", {("framework", "unknown-framework")}),
        ({"method": "nope"}, "validation-failed", {("method", "unknown-method")}),
        ({"framework": "nope", "method": "nope"}, "validation-failed",
         {("framework", "unknown-framework"), ("method", "unknown-method")}),
        ({"framework_version": 99}, "validation-failed", {("framework_version", "unknown-version")}),
        ({"method_version": 99}, "validation-failed", {("method_version", "unknown-version")}),
        ({"method": "asem-coinr"}, "method-unsuited", {("method", "method-unsuited")}),
        ({"year": 2010}, "no-data", {("year", "no-data")}),
        ({"supersedes": 99}, "validation-failed", {("supersedes", "not-found")}),
        # versions and ids are INTEGER columns: a larger number is refused, not a driver error (500)
        ({"framework_version": 2**31, "method_version": 2**63}, "validation-failed",
         {("framework_version", "less_than_equal"), ("method_version", "less_than_equal")}),
        ({"colour": "red"}, "validation-failed", {("colour", "extra_forbidden")}),
    ]:
        r = await svc.scoring.post("/evaluations", json={"year": YEAR, **body}, headers=svc.headers(ST))
        assert r.status_code == 422 and r.json()["code"] == code, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert {(e["field"], e["code"]) for e in r.json()["errors"]} == named, (body, r.json()["errors"])
    r = await svc.scoring.post("/evaluations", json={"year": YEAR}, headers=svc.headers("observer"))
    assert r.status_code == 403
    assert await dump_rows(svc.scoring_url, Base.metadata) == before


@pytest.mark.parametrize(("change", "pointer", "code"), [
    ({"operations": [{"op": "normalise", "default": {"method": "goalposts", "lo": 5, "hi": 1}},
                     {"op": "aggregate", "method": "points_sum"}]}, "operations.0.default.hi", "bounds-inverted"),
    ({"operations": [{"op": "normalise", "default": {"method": "minmax"}},
                     {"op": "aggregate", "method": "amean", "weights": {"1": -1}}]}, "operations.1.weights.1",
     "negative-weight"),
    ({"operations": [{"op": "sharpen"}, {"op": "aggregate", "method": "points_sum"}]}, "operations.0.op",
     "unknown-operation"),
    ({"version": 2**31}, "version", "less_than_equal"),  # an INTEGER column
])
async def test_bad_methods_are_named_and_not_stored(services: Services, change: dict[str, Any], pointer: str,
                                                    code: str) -> None:
    svc = services
    before = await dump_rows(svc.scoring_url, Base.metadata)
    r = await svc.scoring.post("/methods", json={**PLAIN, "id": "bad-one", **change}, headers=svc.headers(ST))
    assert r.status_code == 422, r.text
    assert any(e["field"] == pointer and e["code"] == code for e in r.json()["errors"]), r.json()["errors"]
    assert await dump_rows(svc.scoring_url, Base.metadata) == before


async def published(svc: Services, year: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    ev = (await svc.scoring.post("/evaluations", json={"year": year}, headers=svc.headers(ST))).json()
    out = (await svc.scoring.post(f"/evaluations/{ev['id']}/publish", headers=svc.headers(ST))).json()
    items = (await svc.scoring.get(f"/evaluations/{ev['id']}/ranking")).json()["items"]
    return out, items


async def wait_delivered(svc: Services, proposal: int) -> dict[str, Any]:
    import asyncio

    for _ in range(100):
        got = (await svc.scoring.get(f"/proposals/{proposal}/deliveries", headers=svc.headers(ST))).json()["items"]
        if got and got[0]["state"] == "delivered":
            return got[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"not delivered: {got}")


async def test_proposals_of_art_15_and_their_one_decision(services: Services) -> None:
    """Thresholds as the defaults say (bottom 2 ranks, low score 60, top 1 with ≥ 80 % of group 1's 30 points);
    the expected proposals are derived here from the two published rankings."""
    svc = services
    await demo(svc)
    _, before = await published(svc, YEAR - 1)
    current, lines = await published(svc, YEAR)
    last_before = {x["code"] for x in before if x["rank"] == max(y["rank"] for y in before)}
    expected = set()
    for x in lines:
        low = Decimal(x["total"]) < 60
        below = sum(1 for y in lines if y["rank"] > x["rank"])
        if below < 2 and low:
            expected.add((x["code"], "rectification"))
        if below == 0 and low and x["code"] in last_before:
            expected.add((x["code"], "revocation"))
        if x["rank"] == 1 and Decimal(x["groups"]["1"]) >= Decimal("24"):
            expected.add((x["code"], "upgrade"))
    got = {(p["zone"], p["kind"]) for p in current["proposals"]}
    assert got == expected and any(k == "rectification" for _, k in got)

    target = next(p for p in current["proposals"] if p["kind"] == "rectification")
    zone = target["zone"]
    assert (await svc.registry.get(f"/zones/{zone}")).json()["status"] == "accredited"
    # a league reads proposals of its own zones only
    league = next(x["league_code"] for x in lines if x["code"] == zone)
    mine = (await svc.scoring.get("/proposals", headers=svc.headers("league_government", league_code=league))).json()
    assert {p["zone"] for p in mine["items"]} <= {x["code"] for x in lines if x["league_code"] == league}
    confirmed = await svc.scoring.post(f"/proposals/{target['id']}/decision", json={"decision": "confirmed"},
                                       headers=svc.headers(ST, sub="director"))
    assert confirmed.status_code == 200 and confirmed.json()["state"] == "confirmed"
    event_id = confirmed.json()["decision"]["registry_event_id"]
    again = await svc.scoring.post(f"/proposals/{target['id']}/decision", json={"decision": "dismissed"},
                                   headers=svc.headers(ST))
    assert again.status_code == 409 and again.json()["code"] == "proposal-decided"
    delivered = await wait_delivered(svc, target["id"])
    assert (delivered["id"], delivered["replayed_at"]) == (event_id, None)  # never replayed
    assert (await svc.registry.get(f"/zones/{zone}")).json()["status"] == "rectification"
    history = (await svc.registry.get(f"/zones/{zone}/history")).json()
    ours = [e for e in history.get("events", history.get("items", [])) if e.get("event_id") == event_id]
    assert len(ours) == 1 and ours[0]["legal_basis"]["document"] == "内政办发〔2022〕17号"
    assert ours[0]["actor"] == "director"


async def test_a_correction_supersedes_a_published_evaluation_and_both_are_kept(services: Services) -> None:
    svc = services
    await demo(svc)
    first, _ = await published(svc, YEAR)
    draft = (await run(svc)).json()
    refused = await run(svc, supersedes=draft["id"])  # a draft is not superseded, it is simply not published
    assert refused.status_code == 422 and refused.json()["errors"][0]["code"] == "not-published"
    # nor is a second result of a published year published beside the first: it would be a correction
    before = await dump_rows(svc.scoring_url, Base.metadata)
    beside = await svc.scoring.post(f"/evaluations/{draft['id']}/publish", headers=svc.headers(ST))
    assert beside.status_code == 409 and beside.json()["code"] == "year-published", beside.text
    assert beside.json()["published"] == first["id"]
    assert await dump_rows(svc.scoring_url, Base.metadata) == before
    await svc.scoring.put(f"/zones/S158023/years/{YEAR}/data",
                          json={"values": {"rd_expenditure": "999999"}, "reason": "corrected R&D figure"},
                          headers=svc.headers())
    correction = await run(svc, supersedes=first["id"], note="R&D figure of S158023 corrected")
    assert correction.status_code == 201, correction.text
    assert correction.json()["supersedes"] == first["id"]
    assert correction.json()["inputs_hash"] != first["inputs_hash"]
    old = (await svc.scoring.get(f"/evaluations/{first['id']}", headers=svc.headers(ST))).json()
    assert old["state"] == "published" and old["superseded_by"] == [correction.json()["id"]]
    assert old["result_hash"] == first["result_hash"]  # the published one did not change


async def test_two_results_of_a_year_published_at_once_one_wins(services: Services) -> None:
    """Two different evaluations of the same year published at the same moment: exactly one is published,
    the other is 409 year-published, and one set of art. 15 proposals exists (PostgreSQL serialises them
    with an advisory lock; SQLite's writers are one at a time anyway)."""
    import asyncio

    svc = services
    await demo(svc)
    await published(svc, YEAR - 1)
    first, second = (await run(svc)).json(), (await run(svc)).json()
    answers = await asyncio.gather(*(svc.scoring.post(f"/evaluations/{e['id']}/publish", headers=svc.headers(ST))
                                     for e in (first, second)))
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    winner, loser = sorted(zip(answers, (first, second), strict=True), key=lambda pair: pair[0].status_code)
    assert loser[0].json()["code"] == "year-published" and loser[0].json()["published"] == winner[1]["id"]
    for evaluation, drawn in ((winner[1], True), (loser[1], False)):
        items = (await svc.scoring.get(f"/proposals?evaluation={evaluation['id']}",
                                       headers=svc.headers(ST))).json()["items"]
        assert bool(items) is drawn  # the demo year draws proposals; the refused one none
