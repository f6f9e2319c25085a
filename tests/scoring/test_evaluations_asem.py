"""A framework other than 002 goes through the same intake and the same evaluation: COINr's ASEM example,
its data posted as the CSV file it comes in, evaluated with the asem-coinr method over the API; the
index and ranks equal COINr's own results (issue #5 §1). The service's copy of the data has 10 fraction
digits (the decimals contract), so agreement is to 1e-7 on the 0–100 scale, not the engine's 1e-9."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from services.scoring.frameworks.service import DEFINITIONS
from tests.scoring.conftest import Services

ST = "st_department"
RESULTS = Path(__file__).parent / "methods" / "coinr_default" / "results.csv"


async def test_asem_through_intake_and_evaluation_equals_coinr(services: Services) -> None:
    svc = services
    data = (Path(DEFINITIONS) / "asem" / "ASEM_iData.csv").read_bytes()
    posted = await svc.scoring.post("/frameworks/asem-coinr/years/2018/data", content=data,
                                    headers={**svc.headers(), "Content-Type": "text/csv"})
    assert posted.status_code == 201, posted.text
    created = await svc.scoring.post("/evaluations", json={"year": 2018, "framework": "asem-coinr",
                                                           "method": "asem-coinr"}, headers=svc.headers(ST))
    assert created.status_code == 201, created.text
    ev = created.json()
    lines = (await svc.scoring.get(f"/evaluations/{ev['id']}/ranking", headers=svc.headers(ST))).json()["items"]
    coinr = {r["uCode"]: r for r in csv.DictReader(io.StringIO(RESULTS.read_text(encoding="utf-8")))}
    assert {x["code"] for x in lines} == set(coinr)
    assert all(x["league_position"] is None and x["league_zones"] is None for x in lines)  # no leagues here
    for x in lines:
        expected = coinr[x["code"]]
        assert abs(float(x["total"]) - float(expected["Index"])) < 1e-7, x["code"]
        assert x["rank"] == int(expected["Rank_Index"]), x["code"]
        for group in ("Conn", "Sust"):
            assert abs(float(x["groups"][group]) - float(expected[group])) < 1e-7
    explained = (await svc.scoring.get(f"/evaluations/{ev['id']}/zones/AUT", headers=svc.headers(ST))).json()
    ops = {s["op"] for i in explained["indicators"] for c in i["operations"] for s in c["steps"]}
    assert {"raw", "denominate", "screen", "normalise", "aggregate"} <= ops
