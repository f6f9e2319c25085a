"""Eligibility to apply (002 art. 4) for a zone of the register: its figures, its league's and the
region's reference figures (framework nmg-hitech-2022), evaluated by the pure rules."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.contracts import ZONE_CODE_RE
from services.scoring.data import repository as data_repo
from services.scoring.eligibility import rules
from services.scoring.eligibility.checks import UnitData
from services.scoring.eligibility.rules import REGION_CODE, EligibilitySettings
from services.scoring.frameworks.definition import FrameworkDocument
from shared.problems import Problem, field_error

FRAMEWORK_ID = "nmg-hitech-2022"
EARLIEST_YEAR = 1900  # the lowest SCORING_EARLIEST_YEAR allows; the setting decides (check_year)
ZONE_FIELDS = ("code", "name_zh", "name_en", "kind", "level", "status", "league_code")


def check_year(year: int, earliest: int) -> int:
    """A sane year: from `earliest` (SCORING_EARLIEST_YEAR) to next year (Asia/Shanghai); otherwise 422
    naming the query parameter."""
    latest = dt.datetime.now(ZoneInfo("Asia/Shanghai")).year + 1
    if not earliest <= year <= latest:
        raise Problem(422, "validation-failed", f"year must be between {earliest} and {latest}.",
                      errors=[field_error("year", f"between {earliest} and {latest}", "out-of-range",
                                          location="query")])
    return year


async def zone_of(request: Request, zone_id: str) -> dict[str, Any]:
    """The zone as the registry has it (404 when it is not in the register; a code the register cannot
    hold is not asked for, as the registry would refuse the lookup)."""
    zone = (await request.app.state.registry.zones([zone_id])).get(zone_id) if ZONE_CODE_RE.match(zone_id) else None
    if zone is None:
        raise Problem(404, "zone-not-found", f"No zone {zone_id} in the register.", zone=zone_id)
    return dict(zone)


@dataclass(frozen=True, slots=True)
class Inputs:
    zone: UnitData
    league: UnitData
    region: UnitData
    revisions: list[dict[str, Any]]

    @property
    def synthetic(self) -> bool:
        return any(r["synthetic"] for r in self.revisions)


async def load_inputs(session: AsyncSession, zone_code: str, league_code: str, years: Iterable[int],
                      role: str = "park") -> Inputs:
    """The latest data of the zone, its league and the region for each year, with the revisions used."""
    roles = {zone_code: role, league_code: "league", REGION_CODE: "region"}
    by_unit: dict[str, dict[int, Any]] = {code: {} for code in roles}
    revisions: list[dict[str, Any]] = []
    for year in sorted(set(years)):
        snaps = await data_repo.snapshots(session, FRAMEWORK_ID, year, list(roles))
        for code, snap in sorted(snaps.items()):
            by_unit[code][year] = snap.values
            r = snap.revision
            revisions.append({"unit_code": code, "unit": roles[code], "year": year, "revision_id": r.id,
                              "revision": r.revision, "synthetic": r.synthetic})
    return Inputs(UnitData(zone_code, role, by_unit[zone_code]),  # type: ignore[arg-type]
                  UnitData(league_code, "league", by_unit[league_code]),
                  UnitData(REGION_CODE, "region", by_unit[REGION_CODE]), revisions)


def settings_problems(settings: EligibilitySettings, framework: FrameworkDocument) -> list[str]:
    """What in the settings the framework does not declare (C1's region reference figures, C6's counts)."""
    declared = framework.variables_by_name
    problems = []
    for name in settings.main_indicators:
        if name not in declared or declared[name].applies_to != "unit":
            problems.append(f"main indicator {name} is not a declared unit variable")
        ref = settings.reference_variable(name)
        if ref not in declared or declared[ref].applies_to != "region":
            problems.append(f"C1 needs the region's reference figure {ref}, which is not declared")
    for name in settings.c6_variables:
        if name not in declared or declared[name].applies_to != "unit":
            problems.append(f"C6 counts {name}, which is not a declared unit variable")
    return problems


def settings_of(request: Request) -> EligibilitySettings:
    """The deployment's settings (app.state.eligibility_settings) or the documented defaults."""
    settings = getattr(request.app.state, "eligibility_settings", None)
    return settings if isinstance(settings, EligibilitySettings) else EligibilitySettings()


async def eligibility(session: AsyncSession, zone: dict[str, Any], year: int,
                      settings: EligibilitySettings) -> dict[str, Any]:
    """The answer of GET /zones/{zone_id}/eligibility: verdict, conditions, figures, revisions, settings."""
    inputs = await load_inputs(session, zone["code"], zone["league_code"], settings.years_read(year))
    result = rules.evaluate(year, inputs.zone, inputs.league, inputs.region, settings)
    body = result.as_dict()
    return {
        "zone": {k: zone.get(k) for k in ZONE_FIELDS}, "framework": FRAMEWORK_ID, "article": "002 art. 4",
        "units": {"park": zone["code"], "league": zone["league_code"], "region": REGION_CODE},
        "years_read": settings.years_read(year), **body,
        "data_revisions": inputs.revisions, "synthetic": inputs.synthetic,
    }
