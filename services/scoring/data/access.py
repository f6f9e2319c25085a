"""Who reads which raw annual figures (contracts: reads). Raw data is not public; a `league_government`
token reads only its own league: the zones whose league (as the registry has it) is its `league_code`
claim, its league's reference figures, and the region-wide ones its zones are measured against."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from services.contracts import ZONE_CODE_RE
from services.scoring.clients.registry import RegistryClient
from services.scoring.data.service import REGION_CODE
from shared.auth import Principal, Role
from shared.problems import Problem

RULE = "league-scope"
RULE_TEXT = ("a league_government token reads raw annual data only of the zones of its own league (its league_code "
             "claim), its league's and the region's reference figures")


def outside_league(principal: Principal, unit: str) -> Problem:
    return Problem(403, "outside-own-league", f"{unit} is not a zone of league {principal.league_code}: "
                   f"{RULE_TEXT}.", rule=RULE, league_code=principal.league_code, unit=unit)


def _own_area(principal: Principal, unit: str) -> bool:
    return unit in (REGION_CODE, principal.league_code)


def zone_in_league(principal: Principal, zone: dict[str, Any] | None) -> bool:
    return zone is not None and zone.get("league_code") == principal.league_code


async def check_unit(principal: Principal, registry: RegistryClient, unit: str) -> None:
    """403 unless the caller may read `unit`'s raw figures (only league_government is limited)."""
    if principal.role is not Role.league_government or _own_area(principal, unit):
        return
    zone = (await registry.zones([unit])).get(unit) if ZONE_CODE_RE.match(unit) else None
    if not zone_in_league(principal, zone):
        raise outside_league(principal, unit)


def check_zone(principal: Principal, zone: dict[str, Any]) -> None:
    """The same rule for a zone already read from the registry."""
    if principal.role is Role.league_government and not zone_in_league(principal, zone):
        raise outside_league(principal, str(zone.get("code")))


async def readable(principal: Principal, registry: RegistryClient, units: Iterable[str]) -> set[str]:
    """The units among `units` whose raw figures the caller may read (one batched registry lookup)."""
    wanted = set(units)
    if principal.role is not Role.league_government:
        return wanted
    own = {u for u in wanted if _own_area(principal, u)}
    zones = await registry.zones(sorted(u for u in wanted - own if ZONE_CODE_RE.match(u)))
    return own | {code for code, zone in zones.items() if zone_in_league(principal, zone)}
