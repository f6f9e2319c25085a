"""Load the registry's reference data (leagues, counties, zones and their history) into its database.
Idempotent: rows already present (by code / event id) are left as they are, so a second run changes
nothing; transaction time of reference events is their load time (contracts: bitemporal reads)."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass

from sqlalchemy import select

from services.registry.data.reference import EventRow, ReferenceData, load_reference
from services.registry.events.service import apply_projection, body_hash, lock_feed, timeline_of
from services.registry.history.rules import EVENT_FIELDS, REFERENCE_ROLE, ZoneState, fold, visible_events
from services.registry.models import County, League, Zone, ZoneEvent
from services.registry.zones import repository as zones_repo
from shared.db import Database, utcnow

LOADER_SUB = "reference-data-loader"


@dataclass
class LoadReport:
    leagues: int = 0
    counties: int = 0
    zones: int = 0
    events: int = 0

    def __str__(self) -> str:
        return (f"reference data: +{self.leagues} leagues, +{self.counties} counties, +{self.zones} zones, "
                f"+{self.events} events")


def _change(e: EventRow) -> dict[str, str]:
    return {k: str(getattr(e, k)) for k in EVENT_FIELDS if getattr(e, k)}


async def load(db: Database, data: ReferenceData | None = None) -> LoadReport:
    data = data or load_reference()
    report = LoadReport()
    async with db.transaction(write=True) as session:
        await lock_feed(session)
        now = utcnow()
        have_leagues = set((await session.execute(select(League.code))).scalars())
        for lg in data.leagues:
            if lg.code not in have_leagues:
                session.add(League(code=lg.code, name_zh=lg.name_zh, name_en=lg.name_en, kind=lg.kind, loaded_at=now))
                report.leagues += 1
        await session.flush()
        have_counties = set((await session.execute(select(County.code))).scalars())
        for c in data.counties:
            if c.code not in have_counties:
                session.add(County(code=c.code, name_zh=c.name_zh, league_code=c.league_code, loaded_at=now))
                report.counties += 1
        await session.flush()

        zones = {z.code: z for z in (await session.execute(select(Zone))).scalars()}
        have_events = set((await session.execute(select(ZoneEvent.event_id))).scalars())
        events_by_zone: dict[str, list[EventRow]] = {}
        for e in data.events:
            events_by_zone.setdefault(e.zone_code, []).append(e)
        for row in data.zones:
            rows = sorted(events_by_zone.get(row.code, []), key=lambda e: e.effective_date)
            state = ZoneState()
            for e in rows:
                state.apply(_change(e))
            zone = zones.get(row.code)
            if zone is None:
                zone = Zone(code=row.code, league_code=row.league_code, county_code=row.county_code,
                            area_ha=row.area_ha, boundary=None, management_committee=row.management_committee,
                            leading_industries=list(row.leading_industries), approval_doc=row.approval_doc,
                            approval_date=row.approval_date, approval_date_precision=(str(row.approval_date_precision)
                                                             if row.approval_date_precision else None),
                            source=row.source, confidence=row.confidence, version=0, created_at=now,
                            updated_at=now, created_by=LOADER_SUB,
                            **{k: state.values.get(k) for k in EVENT_FIELDS})
                session.add(zone)
                await session.flush()
                zones[row.code] = zone
                report.zones += 1
            added = False
            for e in rows:
                if str(e.event_id) in have_events:
                    continue
                change = _change(e)
                payload = {"change": change, "effective_date": str(e.effective_date),
                           "effective_precision": str(e.effective_precision), "legal_basis": e.legal_basis,
                           "actor": e.actor, "source": e.source, "note": e.note}
                session.add(ZoneEvent(event_id=str(e.event_id), zone_id=zone.id, change=change,
                                      effective_date=e.effective_date, effective_precision=str(e.effective_precision),
                                      legal_basis=e.legal_basis, actor=e.actor, source=e.source, note=e.note,
                                      supersedes=None, recorded_at=now, recorded_by=LOADER_SUB,
                                      recorded_role=REFERENCE_ROLE, body_hash=body_hash(row.code, payload)))
                report.events += 1
                added = True
            if added:
                await session.flush()
                rows_now = (await zones_repo.events_of(session, [zone.id]))[zone.id]
                folded = fold(visible_events(timeline_of(rows_now), None), None)
                if folded is not None:
                    apply_projection(zone, folded)
        await session.flush()
    return report


async def _main(url: str) -> None:
    db = Database(url)
    try:
        print(await load(db))
    finally:
        await db.dispose()


if __name__ == "__main__":
    from services.registry.settings import Settings

    asyncio.run(_main(sys.argv[1] if len(sys.argv) > 1 else Settings().database_url))
