"""Monte Carlo over an evaluation (issue #5 §4) through the API: seeded and stored (the same request
answers the same run), shown next to the proposals, COINr's ASEM specification as a preset, bad requests
refused with nothing stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.scoring.frameworks.service import DEFINITIONS
from services.scoring.models import Base
from shared.testing import dump_rows
from tests.scoring.conftest import Services
from tests.scoring.test_evaluations import ST, YEAR, demo

SPEC = {"replications": 300, "seed": 7, "normalise": [{"method": "minmax", "lo": 0, "hi": 1}, {"method": "prank"}],
        "treat": {"on_probability": 0.5}, "weights_noise": [{"level": 3, "noise": 0.25}]}


async def evaluation(svc: Services) -> dict[str, Any]:
    await demo(svc)
    ev = (await svc.scoring.post("/evaluations", json={"year": YEAR}, headers=svc.headers(ST))).json()
    return ev


async def test_seeded_stored_and_beside_the_proposals(services: Services) -> None:
    svc = services
    ev = await evaluation(svc)
    url = f"/evaluations/{ev['id']}/uncertainty"
    first = await svc.scoring.post(url, json=SPEC, headers=svc.headers(ST))
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["seed"] == 7 and body["replications"] == 300 and len(body["zones"]) == 9
    for z in body["zones"]:
        assert 1 <= z["rank_p05"] <= z["median_rank"] <= z["rank_p95"] <= 9
        assert 0 <= z["last_share"] <= 1
    assert sum(z["last_share"] for z in body["zones"]) >= 1  # every replication has a last zone
    again = await svc.scoring.post(url, json=SPEC, headers=svc.headers(ST))
    assert again.status_code == 200 and again.json()["id"] == body["id"] and again.json()["zones"] == body["zones"]
    unseeded = (await svc.scoring.post(url, json={**SPEC, "seed": None}, headers=svc.headers(ST))).json()
    assert isinstance(unseeded["seed"], int) and unseeded["id"] != body["id"]
    # the same request with the returned seed answers that run
    replay = await svc.scoring.post(url, json={**SPEC, "seed": unseeded["seed"]}, headers=svc.headers(ST))
    assert replay.status_code == 200 and replay.json()["id"] == unseeded["id"]

    published = (await svc.scoring.post(f"/evaluations/{ev['id']}/publish", headers=svc.headers(ST))).json()
    assert published["proposals"]
    proposals = (await svc.scoring.get(f"/proposals?evaluation={ev['id']}", headers=svc.headers(ST))).json()
    latest = {z["code"]: z for z in unseeded["zones"]}
    for p in proposals["items"]:
        interval = p["rank_interval"]
        assert interval["uncertainty_run"] == unseeded["id"]
        assert interval["rank_p95"] == latest[p["zone"]]["rank_p95"]


@pytest.mark.parametrize(("change", "field"), [
    ({"replications": 0}, "replications"),
    ({"replications": 20_001}, "replications"),
    ({"weights_noise": [{"level": 3, "noise": 1.0}]}, "weights_noise.0.noise"),
    ({"normalise": []}, "normalise"),
    ({"preset": "nope"}, "preset"),
    ({"colour": "red"}, "colour"),
    ({"seed": 2**53}, "seed"),  # beyond what a JSON reader keeps exactly
])
async def test_bad_requests_store_nothing(services: Services, change: dict[str, Any], field: str) -> None:
    svc = services
    ev = await evaluation(svc)
    before = await dump_rows(svc.scoring_url, Base.metadata)
    r = await svc.scoring.post(f"/evaluations/{ev['id']}/uncertainty", json={**SPEC, **change},
                               headers=svc.headers(ST))
    assert r.status_code == 422, r.text
    assert any(e["field"] == field for e in r.json()["errors"]), r.json()["errors"]
    assert await dump_rows(svc.scoring_url, Base.metadata) == before


async def test_coinr_asem_specification_as_a_preset(services: Services) -> None:
    svc = services
    data = (Path(DEFINITIONS) / "asem" / "ASEM_iData.csv").read_bytes()
    await svc.scoring.post("/frameworks/asem-coinr/years/2018/data", content=data,
                           headers={**svc.headers(), "Content-Type": "text/csv"})
    ev = (await svc.scoring.post("/evaluations", json={"year": 2018, "framework": "asem-coinr",
                                                       "method": "asem-coinr"}, headers=svc.headers(ST))).json()
    r = await svc.scoring.post(f"/evaluations/{ev['id']}/uncertainty", json={"preset": "asem-coinr-sa"},
                               headers=svc.headers(ST))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["replications"] == 100 and body["seed"] == 20240529 and len(body["zones"]) == 51
    assert body["spec"]["aggregate"] == ["amean", "gmean"]
