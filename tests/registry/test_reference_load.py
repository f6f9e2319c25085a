"""The reference data in the database: loaded once, a second load changes nothing, merged zones
carry both events."""

from __future__ import annotations

import httpx

from services.registry.data.load import load
from services.registry.models import Base
from shared.db import Database
from shared.testing import dump_rows


async def test_second_load_changes_nothing(registry_db: str) -> None:
    before = await dump_rows(registry_db, Base.metadata)
    db = Database(registry_db)
    try:
        report = await load(db)
    finally:
        await db.dispose()
    assert (report.leagues, report.counties, report.zones, report.events) == (0, 0, 0, 0)
    assert await dump_rows(registry_db, Base.metadata) == before


async def test_merged_zone_has_two_events(registry: httpx.AsyncClient) -> None:
    history = (await registry.get("/zones/S157034/history")).json()["events"]
    assert [h["state_after"]["kind"] for h in history] == ["economic_development", "hitech"]
    assert history[0]["effective_precision"] == "month" and history[1]["effective_precision"] == "year"
    zone = (await registry.get("/zones/S157034")).json()
    assert (zone["kind"], zone["level"], zone["status"]) == ("hitech", "regional", "accredited")
    before = (await registry.get("/zones/S157034", params={"as_of": "2022-12-31"})).json()
    assert before["kind"] == "economic_development"


async def test_register_counts(registry: httpx.AsyncClient) -> None:
    page = (await registry.get("/zones", params={"limit": 500})).json()
    assert len(page["items"]) == 92 and page["next_cursor"] is None
    national_hitech = (await registry.get("/zones", params={"kind": "hitech", "level": "national"})).json()["items"]
    assert sorted(z["code"] for z in national_hitech) == ["G152006", "G152058", "G152059"]
    tongliao = (await registry.get("/zones", params={"q": "通辽高新"})).json()["items"]
    assert [(z["kind"], z["level"], z["league_code"]) for z in tongliao] == [("hitech", "regional", "150500")]
