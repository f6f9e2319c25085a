"""Monte Carlo over an evaluation (issue #5 §4) through the API: seeded and stored (the same request
answers the same run), shown next to the proposals, COINr's ASEM specification as a preset, bad requests
refused with nothing stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.scoring.frameworks.service import DEFINITIONS
from services.scoring.models import Base
from services.scoring.uncertainty.endpoints import REQUEST_EXAMPLE
from shared.testing import dump_rows
from tests.scoring.conftest import Services
from tests.scoring.test_evaluations import ST, YEAR, demo

# weights perturbed at the indicators and the groups (levels 1 and 2 of 002's framework; level 3 is the
# index alone, whose weight scales every total alike and moves no rank)
WEIGHTS = [{"level": 1, "noise": 0.25}, {"level": 2, "noise": 0.25}]
SPEC = {"replications": 300, "seed": 7, "normalise": [{"method": "minmax", "lo": 0, "hi": 1}, {"method": "prank"}],
        "treat": {"on_probability": 0.5}, "weights_noise": WEIGHTS}


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
    ({"weights_noise": [{"level": 1, "noise": 1.0}]}, "weights_noise.0.noise"),
    ({"weights_noise": [{"level": 4, "noise": 0.25}]}, "weights_noise.0.level"),
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
    assert r.status_code == 422 and r.json()["code"] == "invalid-uncertainty-request", r.text
    assert any(e["field"] == field for e in r.json()["errors"]), r.json()["errors"]
    assert await dump_rows(svc.scoring_url, Base.metadata) == before


async def test_the_replications_setting_bounds_a_request(services: Services) -> None:
    svc = services
    ev = await evaluation(svc)
    settings = svc.scoring_app.state.settings
    svc.scoring_app.state.settings = settings.model_copy(update={"uncertainty_max_replications": 299})
    try:
        before = await dump_rows(svc.scoring_url, Base.metadata)
        r = await svc.scoring.post(f"/evaluations/{ev['id']}/uncertainty", json=SPEC, headers=svc.headers(ST))
        assert r.status_code == 422 and r.json()["errors"][0]["code"] == "too-many-replications", r.text
        assert r.json()["errors"][0]["field"] == "replications"
        assert await dump_rows(svc.scoring_url, Base.metadata) == before
    finally:
        svc.scoring_app.state.settings = settings


def test_settings_refuse_thresholds_the_rules_refuse() -> None:
    from pydantic import ValidationError

    from services.scoring.settings import Settings

    for bad in ({"management_revocation_rule": "001"}, {"management_upgrade_min_innovation_share": "1.5"},
                {"management_low_score": "-1"}, {"uncertainty_max_replications": 0}, {"outbox_poll_seconds": 0}):
        with pytest.raises(ValidationError) as caught:
            Settings(**bad)
        assert next(iter(bad)) in str(caught.value)


async def test_perturbed_weights_move_ranks(services: Services) -> None:
    """Weights alone varied: at levels 1 and 2 some zone's rank interval opens (or its median leaves the
    nominal rank); at the index alone (level 3) every replication ranks as the method does."""
    svc = services
    ev = await evaluation(svc)
    url = f"/evaluations/{ev['id']}/uncertainty"

    def moved(zones: list[dict[str, Any]]) -> list[str]:
        return [z["code"] for z in zones if z["rank_p05"] != z["rank_p95"] or z["median_rank"] != z["nominal_rank"]]

    index_only = await svc.scoring.post(url, json={"replications": 300, "seed": 7,
                                                   "weights_noise": [{"level": 3, "noise": 0.25}]},
                                        headers=svc.headers(ST))
    assert index_only.status_code == 201, index_only.text
    assert moved(index_only.json()["zones"]) == []
    assert REQUEST_EXAMPLE["weights_noise"] == WEIGHTS  # the OpenAPI example perturbs what matters
    perturbed = await svc.scoring.post(url, json={"replications": 300, "seed": 7, "weights_noise": WEIGHTS},
                                       headers=svc.headers(ST))
    assert perturbed.status_code == 201, perturbed.text
    assert moved(perturbed.json()["zones"]), perturbed.json()["zones"]


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
