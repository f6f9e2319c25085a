"""The published table of an evaluation (issue #5 §3), from its stored result, as pure functions:
per zone the total, the group scores, the rank (ties share the lower rank number: 1, 2, 2, 4), the change
of the index and of the rank against the previous year re-scored with the same method (002 art. 8; the
innovation index is the total score, SPEC 8.10), and the change of the zone's position among the
evaluated zones of its own league (002 art. 8; parks that are not high-tech zones have no data here)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from openpyxl import Workbook

GROWTH_PLACES = Decimal("0.0001")


def competition_ranks(totals: dict[str, Decimal]) -> dict[str, int]:
    """Rank by total, descending; ties share the lowest rank number (R's ties.method = "min")."""
    ordered = sorted(totals.values(), reverse=True)
    first: dict[Decimal, int] = {}
    for i, total in enumerate(ordered, start=1):
        first.setdefault(total, i)
    return {code: first[total] for code, total in totals.items()}


def league_positions(lines: list[dict[str, Any]], key: str = "total") -> dict[str, int]:
    """Each zone's position among the zones of its league (ties share the lower number)."""
    by_league: dict[str | None, dict[str, Decimal]] = {}
    for line in lines:
        if line.get(key) is not None:
            by_league.setdefault(line.get("league_code"), {})[line["code"]] = Decimal(line[key])
    out: dict[str, int] = {}
    for totals in by_league.values():
        out.update(competition_ranks(totals))
    return out


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The ranking, best first, with the comparisons against the previous year."""
    zones = [z for z in result["zones"] if z.get("total") is not None]
    previous = {z["code"]: z for z in (result.get("previous") or {}).get("zones", []) if z.get("total") is not None}
    position_now = league_positions(zones)
    league_of = {z["code"]: z.get("league_code") for z in zones}
    position_before = league_positions([{**z, "league_code": league_of.get(z["code"])} for z in previous.values()
                                        if z["code"] in league_of])
    league_sizes: dict[str | None, int] = {}
    for z in zones:
        league_sizes[z.get("league_code")] = league_sizes.get(z.get("league_code"), 0) + 1
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
        league_zones = league_sizes[zone.get("league_code")]
        out.append({
            "rank": zone["rank"], "code": zone["code"], "name": zone.get("name"),
            "league_code": zone.get("league_code"),
            "total": str(total), "groups": zone["groups"], **change,
            "league_position": position_now.get(zone["code"]) if league_zones > 1 else None,
            "league_zones": league_zones,
            "previous_league_position": position_before.get(zone["code"]) if league_zones > 1 else None,
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
