"""The position of a zone among its league's zones (002 art. 8) on the published table, without HTTP:
which zones it counts (the league's zones the evaluation ranks: not those screened out, not other
leagues', zero-flagged gaps included), ties as in the overall rank, the previous year's position in the
previous year's cohort, and no position for units without a league or a league's only ranked zone."""

from __future__ import annotations

from typing import Any

import numpy as np

from services.scoring.evaluations.ranking import rows
from services.scoring.methods import operations as ops


def zone(code: str, league: str | None, total: str | None, rank: int | None, **extra: Any) -> dict[str, Any]:
    return {"code": code, "league_code": league, "total": total, "rank": rank,
            "groups": {} if total is None else {"1": total}, **extra}


def result(zones: list[dict[str, Any]], previous: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"zones": zones, "previous": {"year": 2024, "zones": previous or []}, "groups": ["1"]}


def by_code(lines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {line["code"]: line for line in lines}


def test_the_league_position_counts_the_leagues_ranked_zones_and_ties_as_the_overall_rank() -> None:
    totals = {"A1": "50.00", "B1": "45.00", "A2": "40.00", "A3": "40.00", "B2": "40.00", "A4": "0.00"}
    # the overall rank as the engine takes it (published totals, ties share the lowest rank: R's "min")
    codes = list(totals)
    overall = ops.rank_min(np.array([float(totals[c]) for c in codes]), descending=True)
    ranks = {c: int(r) for c, r in zip(codes, overall, strict=True)}
    assert ranks == {"A1": 1, "B1": 2, "A2": 3, "A3": 3, "B2": 3, "A4": 6}
    zones = [zone(c, c[0] + "00000", t, ranks[c]) for c, t in totals.items()]
    # A5 was screened out (no total, no rank), A4's gaps scored 0 and flagged: ranked last, counted
    zones.append(zone("A5", "A00000", None, None, screened_out=True))
    zones[-2]["flags"] = ["missing:1.1:missing-input"]
    lines = by_code(rows(result(zones)))
    assert "A5" not in lines
    got = {c: (line["league_position"], line["league_zones"]) for c, line in lines.items()}
    assert got == {"A1": (1, 4), "A2": (2, 4), "A3": (2, 4), "A4": (4, 4), "B1": (1, 2), "B2": (2, 2)}


def test_the_previous_position_is_among_the_previous_years_league_cohort() -> None:
    now = [zone("A1", "A00000", "50.00", 1), zone("A2", "A00000", "40.00", 2), zone("A3", "A00000", "30.00", 3)]
    # last year: A0 (not in this year's cohort) ranked above A2 and A1; A3 was then in league B
    before = [zone("A0", None, "60.00", 1), zone("A2", None, "55.00", 2), zone("A1", None, "50.00", 3),
              zone("A3", None, "45.00", 4), zone("B1", None, "20.00", 5)]
    leagues_then = {"A0": "A00000", "A1": "A00000", "A2": "A00000", "A3": "B00000", "B1": "B00000"}
    lines = by_code(rows(result(now, before), leagues_then))
    assert {c: (line["previous_rank"], line["previous_league_position"]) for c, line in lines.items()} == {
        "A1": (3, 3), "A2": (2, 2), "A3": (4, 1)}
    assert lines["A1"]["league_position"] == 1 and lines["A1"]["rank_change"] == 2


def test_no_position_without_a_league_or_alone_in_it() -> None:
    units = [zone("AUT", None, "68.4", 1), zone("BEL", None, "63.5", 2), zone("CHN", None, "37.8", 3)]
    for line in rows(result(units)):
        assert line["league_position"] is None and line["league_zones"] is None
        assert line["previous_league_position"] is None
    alone = by_code(rows(result([zone("A1", "A00000", "50.00", 1), zone("B1", "B00000", "40.00", 2),
                                 zone("B2", "B00000", None, None)]), {}))
    assert (alone["B1"]["league_position"], alone["B1"]["league_zones"]) == (None, 1)
    assert alone["A1"]["league_position"] is None
