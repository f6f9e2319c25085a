"""The demonstration data `make run` loads: synthetic, marked so wherever shown, idempotent, and
replaced by the first real post for a zone-year."""

from __future__ import annotations

import httpx

from services.scoring.clients.registry import RegistryClient
from services.scoring.data.demo import load_demo
from shared.db import Database
from shared.peers import PeerClient
from tests.scoring.conftest import REGIONAL_HITECH, Services


async def test_demo_data_is_synthetic_idempotent_and_replaced_by_real_posts(services: Services) -> None:
    db = Database(services.scoring_url)
    peer = PeerClient("http://registry", transport=httpx.ASGITransport(app=services.registry_app))
    try:
        first = await load_demo(db, RegistryClient(peer), this_year=2026)
        again = await load_demo(db, RegistryClient(peer), this_year=2026)
    finally:
        await peer.aclose()
        await db.dispose()
    assert first == {"zone_years": 9 * 4, "reference_years": (12 + 1) * 4}  # 9 regional high-tech zones
    assert again == {"zone_years": 0, "reference_years": 0}
    path = f"/zones/{REGIONAL_HITECH}/years/2025"
    shown = (await services.scoring.get(path + "/indicators", headers=services.headers("observer"))).json()
    assert shown["synthetic"] is True and shown["data_revision"]["synthetic"] is True
    assert all(i["value"] is not None or i["kind"] in ("qualitative", "compound") for i in shown["indicators"])
    real = await services.scoring.put(path + "/data", json={"values": {"operating_revenue": "10", "employees": 3}},
                                      headers=services.headers())
    assert real.status_code == 201 and real.json()["revision"] == 2 and real.json()["synthetic"] is False
    data = (await services.scoring.get(path + "/data", headers=services.headers("observer"))).json()
    assert data["synthetic"] is False and data["values"] == {"employees": "3", "operating_revenue": "10"}
