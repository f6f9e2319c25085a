"""The published table of an evaluation (issue #5 §3), from its stored result, as pure functions:
per zone the total, the group scores, the rank (ties share the lower rank number: 1, 2, 2, 4), the change
of the index and of the rank against the previous year re-scored with the same method (002 art. 8; the
innovation index is the total score, SPEC 8.10), and the zone's position among the evaluated zones of its
own league, this year and the year before (002 art. 8; parks that are not high-tech zones have no data here).

A league position counts the zones of the league that the evaluation ranks: the cohort's zones with a
total. A zone screened out by the method has none and is not counted; a zone whose gaps the method scores
as 0 points and flags (`missing: zero_flagged`, the 002 default) is ranked and counted, like in the overall
rank. Positions are read off the overall ranks (1 + the league's zones ranked above), so ties share the
lower number exactly as the overall rank does. The previous position is the zone's among its league's
zones ranked in the previous year's re-scored cohort, with the league they were in that year. Units
without a league (a framework's own units, e.g. COINr's ASEM countries) and a league's only ranked zone
have no position."""

from __future__ import annotations

import bisect
import csv
import io
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from openpyxl import Workbook

GROWTH_PLACES = Decimal("0.0001")


def league_positions(lines: list[dict[str, Any]], leagues: Mapping[str, str | None]) -> dict[str, tuple[int, int]]:
    """Each ranked zone with a league → (its position among the league's ranked zones, how many they are):
    1 + the number of them ranked above it (so ties share the lower number, as in the overall rank)."""
    by_league: dict[str, list[int]] = {}
    for line in lines:
        league = leagues.get(line["code"])
        if league is not None and line.get("rank") is not None:
            by_league.setdefault(league, []).append(line["rank"])
    for ranks in by_league.values():
        ranks.sort()
    out: dict[str, tuple[int, int]] = {}
    for line in lines:
        league = leagues.get(line["code"])
        if league is not None and line.get("rank") is not None:
            ranks = by_league[league]
            out[line["code"]] = (1 + bisect.bisect_left(ranks, line["rank"]), len(ranks))
    return out


def rows(result: dict[str, Any], previous_leagues: Mapping[str, str | None] | None = None) -> list[dict[str, Any]]:
    """The ranking, best first, with the comparisons against the previous year. `previous_leagues`: each
    zone of the previous year's cohort → its league then (the evaluation's record); without it, the
    leagues of this year."""
    zones = [z for z in result["zones"] if z.get("total") is not None]
    previous = {z["code"]: z for z in (result.get("previous") or {}).get("zones", []) if z.get("total") is not None}
    league_of = {z["code"]: z.get("league_code") for z in zones}
    position_now = league_positions(zones, league_of)
    position_before = league_positions(list(previous.values()),
                                       league_of if previous_leagues is None else previous_leagues)
    out = []
    for zone in sorted(zones, key=lambda z: (z["rank"], z["code"])):
        total = Decimal(zone["total"])
        before = previous.get(zone["code"])
        change: dict[str, Any] = {"previous_total": None, "index_change": None, "index_growth": None,
                                  "previous_rank": None, "rank_change": None}
        if before is not None:
            previous_total = Decimal(before["total"])
            change.update(previous_total=str(previous_total), index_change=str(total - previous_total),
                          previous_rank=before["rank"], rank_change=before["rank"] - zone["rank"])
            if previous_total:
                growth = ((total - previous_total) / previous_total).quantize(GROWTH_PLACES)
                change["index_growth"] = str(growth)
        now = position_now.get(zone["code"])
        then = position_before.get(zone["code"])
        out.append({
            "rank": zone["rank"], "code": zone["code"], "name": zone.get("name"),
            "league_code": zone.get("league_code"),
            "total": str(total), "groups": zone["groups"], **change,
            "league_position": now[0] if now and now[1] > 1 else None,
            "league_zones": now[1] if now else None,
            "previous_league_position": then[0] if then and then[1] > 1 else None,
            "flags": zone.get("flags", []),
        })
    return out


def _flat(line: dict[str, Any], group_codes: list[str]) -> list[Any]:
    name = line.get("name") or {}
    return [line["rank"], line["code"], name.get("zh"), name.get("en"), line["league_code"], line["total"],
            *[line["groups"].get(g) for g in group_codes], line["previous_total"], line["index_change"],
            line["index_growth"], line["previous_rank"], line["rank_change"], line["league_position"],
            line["league_zones"], line["previous_league_position"], ";".join(line["flags"])]


def header(group_codes: list[str]) -> list[str]:
    return ["rank", "code", "name_zh", "name_en", "league_code", "total", *[f"group_{g}" for g in group_codes],
            "previous_total", "index_change", "index_growth", "previous_rank", "rank_change", "league_position",
            "league_zones", "previous_league_position", "flags"]


def to_csv(lines: list[dict[str, Any]], group_codes: list[str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header(group_codes))
    for line in lines:
        writer.writerow(["" if v is None else v for v in _flat(line, group_codes)])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")  # BOM: Excel opens UTF-8 zh names correctly


def to_xlsx(lines: list[dict[str, Any]], group_codes: list[str], title: str) -> bytes:
    """Numbers as text would not sort in Excel: points and changes become numbers here (published
    values have 2 decimals, well inside Excel's 15 significant digits)."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "ranking"
    sheet.append([title])
    sheet.append(header(group_codes))
    numeric = {"total", "previous_total", "index_change", "index_growth", *[f"group_{g}" for g in group_codes]}
    names = header(group_codes)
    for line in lines:
        sheet.append([float(v) if names[i] in numeric and v is not None else v
                      for i, v in enumerate(_flat(line, group_codes))])
    sheet.freeze_panes = "A3"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
