"""Eligibility (002 art. 4, SPEC 2.3): the pure rules, no database. Each condition passes, fails and is
unknown; boundaries exactly at thresholds (≥ vs >); missing years; division by zero; the settings."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from services.scoring.eligibility.checks import UnitData
from services.scoring.eligibility.rules import (
    ELIGIBLE,
    NOT_ELIGIBLE,
    UNDETERMINED,
    EligibilitySettings,
    evaluate,
)

Y = 2024  # application year: period 2021–2023, growth also reads 2020
YEARS = [2020, 2021, 2022, 2023]


def park_years() -> dict[int, dict[str, Any]]:
    """A park passing every condition with a margin: revenue +10 % a year, shares rising."""
    out = {}
    for i, y in enumerate(YEARS):
        revenue = D(1000) * D("1.1") ** i
        out[y] = {
            "operating_revenue": revenue, "industrial_output": D(500) * D("1.2") ** i,
            "leading_industry_revenue": revenue * D("0.8"),
            "hightech_industry_revenue": revenue * (D("0.35") + i * D("0.01")),
            "rd_expenditure": D(50) * D("1.2") ** i, "hitech_enterprises": D(20), "tech_smes": D(15),
            "total_enterprises": D(100), "innovation_platforms": D(18), "new_type_rd_institutions": D(4),
            "invention_patents": D(60), "employees": D(20000),
        }
    return out


def league_years() -> dict[int, dict[str, Any]]:
    return {y: {"league_rd_growth": D("0.05"), "league_invention_patents_per_10k": D(25)} for y in YEARS}


def region_years() -> dict[int, dict[str, Any]]:
    return {y: {"region_growth_operating_revenue": D("0.06"), "region_growth_industrial_output": D("0.07")}
            for y in YEARS}


def run(park: dict[int, dict[str, Any]] | None = None, league: dict[int, dict[str, Any]] | None = None,
        region: dict[int, dict[str, Any]] | None = None, settings: EligibilitySettings | None = None,
        year: int = Y) -> dict[str, Any]:
    result = evaluate(year, UnitData("NM-7", "park", park if park is not None else park_years()),
                      UnitData("152500", "league", league if league is not None else league_years()),
                      UnitData("150000", "region", region if region is not None else region_years()), settings)
    body = result.as_dict()
    body["by_code"] = {c["code"]: c for c in body["conditions"]}
    return body


def cond(body: dict[str, Any], code: str) -> dict[str, Any]:
    return body["by_code"][code]  # type: ignore[no-any-return]


def set_all(park: dict[int, dict[str, Any]], **values: Any) -> dict[int, dict[str, Any]]:
    for y in park:
        park[y].update(values)
    return park


# ------------------------------------------------------------------------------------------- overall


def test_all_conditions_pass_and_the_attested_ones_are_listed() -> None:
    body = run()
    assert body["overall"] == ELIGIBLE
    assert [c["code"] for c in body["conditions"]] == ["C1", "C2", "C3", "C4", "C5", "C6", "C7"]
    assert all(c["status"] == "pass" and c["missing"] == [] for c in body["conditions"])
    assert body["period"] == [2021, 2022, 2023]
    attested = body["to_be_attested"]
    assert len(attested) == 12 and all(a["status"] == "to_be_attested" for a in attested)
    assert all(a["label"]["zh"] and a["label"]["en"] and a["article"].startswith("002 art. 4") for a in attested)
    assert body["settings"]["c2_min_share"] == "0.7" and body["settings"]["main_indicators"] == [
        "operating_revenue", "industrial_output"]


def test_one_unknown_condition_makes_the_verdict_undetermined_and_a_failure_decides() -> None:
    park = park_years()
    del park[2022]["new_type_rd_institutions"]
    body = run(park)
    assert cond(body, "C6")["status"] == "unknown" and body["overall"] == UNDETERMINED
    park[2021]["leading_industry_revenue"] = D(1)
    assert run(park)["overall"] == NOT_ELIGIBLE


def test_no_data_at_all_is_undetermined_and_lists_every_missing_figure() -> None:
    body = run(park={}, league={}, region={})
    assert body["overall"] == UNDETERMINED
    missing = cond(body, "C1")["missing"]
    assert {"code": "missing-input", "variable": "operating_revenue", "unit_code": "NM-7", "unit": "park",
            "year": 2020, "no_data_for_year": True} in missing
    assert {(m["variable"], m["unit_code"], m["year"]) for m in missing if m["unit"] == "region"} == {
        (f"region_growth_{v}", "150000", y) for v in ("operating_revenue", "industrial_output")
        for y in (2021, 2022, 2023)}


# ------------------------------------------------------------------------------------------- C1


def test_c1_growth_equal_to_the_regional_average_fails_strictly_above_passes() -> None:
    region = region_years()
    region[2022]["region_growth_operating_revenue"] = D("0.1")  # the park's growth is exactly 10 %
    c1 = cond(run(region=region), "C1")
    assert c1["status"] == "fail"
    year = next(y for y in c1["years"] if y["year"] == 2022)
    comp = year["comparisons"][0]
    assert (comp["value"], comp["comparator"], comp["threshold"], comp["status"]) == ("0.1", ">", "0.1", "fail")
    assert comp["threshold_source"] == "region_growth_operating_revenue of region 150000, 2022"
    region[2022]["region_growth_operating_revenue"] = D("0.0999999999")
    assert cond(run(region=region), "C1")["status"] == "pass"


def test_c1_every_main_indicator_must_exceed_and_the_list_is_a_setting() -> None:
    park = park_years()
    park[2023]["industrial_output"] = park[2022]["industrial_output"]  # no growth
    assert cond(run(park), "C1")["status"] == "fail"
    only_revenue = EligibilitySettings(main_indicators=("operating_revenue",))
    c1 = cond(run(park, settings=only_revenue), "C1")
    assert c1["status"] == "pass" and all(len(y["comparisons"]) == 1 for y in c1["years"])


def test_c1_reads_the_year_before_the_period() -> None:
    park = park_years()
    del park[2020]
    c1 = cond(run(park), "C1")
    assert c1["status"] == "unknown"
    assert {(m["variable"], m["year"]) for m in c1["missing"]} == {("operating_revenue", 2020),
                                                                   ("industrial_output", 2020)}


def test_c1_zero_revenue_the_year_before_is_a_division_by_zero_not_a_crash() -> None:
    park = park_years()
    park[2021]["operating_revenue"] = D(0)
    c1 = cond(run(park), "C1")
    assert [y["status"] for y in c1["years"]] == ["fail", "unknown", "pass"]  # 2021: −100 %; 2022: from zero
    assert c1["status"] == "fail"
    assert {"code": "division-by-zero", "expression": "prev(operating_revenue)", "unit_code": "NM-7", "unit": "park",
            "year": 2021} in c1["missing"]


# ------------------------------------------------------------------------------------------- C2


@pytest.mark.parametrize(("leading", "status"), [(D("700"), "pass"), (D("699.9999999999"), "fail"),
                                                 (D("1000"), "pass")])
def test_c2_at_least_seventy_percent(leading: D, status: str) -> None:
    park = set_all(park_years(), operating_revenue=D(1000), leading_industry_revenue=leading)
    c2 = cond(run(park), "C2")
    assert c2["status"] == status
    assert c2["years"][0]["comparisons"][0]["comparator"] == ">="


def test_c2_zero_revenue_is_unknown() -> None:
    park = park_years()
    park[2022]["operating_revenue"] = D(0)
    c2 = cond(run(park), "C2")
    assert c2["status"] == "unknown" and c2["missing"][0]["code"] == "division-by-zero"


def test_a_category_where_a_number_is_needed_is_unknown() -> None:
    park = park_years()
    park[2022]["leading_industry_revenue"] = "n/a"
    c2 = cond(run(park), "C2")
    assert c2["status"] == "unknown" and c2["missing"][0]["code"] == "not-a-number"


# ------------------------------------------------------------------------------------------- C3


def test_c3_share_exactly_thirty_percent_passes_the_threshold() -> None:
    park = park_years()
    for i, y in enumerate(YEARS):  # 0.29, 0.30, 0.31, 0.32: rising; 2021 exactly at the threshold
        park[y].update(operating_revenue=D(1000), hightech_industry_revenue=D(290) + 10 * i)
    c3 = cond(run(park), "C3")
    assert c3["status"] == "pass"
    first = c3["years"][0]["comparisons"]
    assert (first[0]["value"], first[0]["threshold"], first[0]["status"]) == ("0.3", "0.3", "pass")
    park[2021]["hightech_industry_revenue"] = D("299.9999999")
    assert cond(run(park), "C3")["status"] == "fail"


def test_c3_a_share_that_stays_flat_is_not_rising() -> None:
    park = set_all(park_years(), operating_revenue=D(1000), hightech_industry_revenue=D(400))
    c3 = cond(run(park), "C3")
    assert c3["status"] == "fail"
    assert [c["status"] for c in c3["years"][1]["comparisons"]] == ["pass", "fail"]


def test_c3_what_must_rise_is_a_setting() -> None:
    park = park_years()
    for i, y in enumerate(YEARS):  # revenue rises, but total revenue rises faster: the share falls
        park[y].update(operating_revenue=D(1000) * 2 ** i, hightech_industry_revenue=D(500) + 100 * i)
    assert cond(run(park), "C3")["status"] == "fail"
    c3 = cond(run(park, settings=EligibilitySettings(c3_rising="revenue")), "C3")
    assert c3["status"] == "fail"  # the share falls below 30 % in 2022
    assert [c["status"] for c in c3["years"][0]["comparisons"]] == ["pass", "pass"]
    assert "hightech_industry_revenue strictly above" in c3["notes"][0]


def test_c3_compares_the_first_year_with_the_year_before_the_period_unless_set_otherwise() -> None:
    park = park_years()
    del park[2020]["hightech_industry_revenue"]
    c3 = cond(run(park), "C3")
    assert c3["status"] == "unknown"
    assert [(m["variable"], m["year"]) for m in c3["missing"]] == [("hightech_industry_revenue", 2020)]
    within = EligibilitySettings(c3_rising_from="within_period")
    c3 = cond(run(park, settings=within), "C3")
    assert c3["status"] == "pass" and len(c3["years"][0]["comparisons"]) == 1


# ------------------------------------------------------------------------------------------- C4


def test_c4_rd_growth_must_be_strictly_above_the_league() -> None:
    league = league_years()
    league[2021]["league_rd_growth"] = D("0.2")  # the park's R&D grows exactly 20 %
    c4 = cond(run(league=league), "C4")
    assert c4["status"] == "fail"
    league[2021]["league_rd_growth"] = D("0.19999")
    assert cond(run(league=league), "C4")["status"] == "pass"


def test_c4_missing_league_figure_names_the_league() -> None:
    league = league_years()
    del league[2023]["league_rd_growth"]
    c4 = cond(run(league=league), "C4")
    assert c4["status"] == "unknown"
    assert c4["missing"] == [{"code": "missing-input", "variable": "league_rd_growth", "unit_code": "152500",
                              "unit": "league", "year": 2023}]


def test_c4_negative_league_growth_and_shrinking_park() -> None:
    park = park_years()
    park[2022]["rd_expenditure"] = park[2021]["rd_expenditure"] * D("0.95")  # −5 %
    league = league_years()
    league[2022]["league_rd_growth"] = D("-0.06")
    assert cond(run(park, league), "C4")["years"][1]["status"] == "pass"


# ------------------------------------------------------------------------------------------- C5


@pytest.mark.parametrize(("hitech", "smes", "status"), [(10, 20, "pass"), (10, 19, "fail"), (0, 30, "pass")])
def test_c5_thirty_percent_of_all_enterprises_summed_as_reported(hitech: int, smes: int, status: str) -> None:
    park = set_all(park_years(), hitech_enterprises=D(hitech), tech_smes=D(smes), total_enterprises=D(100))
    c5 = cond(run(park), "C5")
    assert c5["status"] == status
    assert any("summed as reported" in n for n in c5["notes"])


def test_c5_no_enterprises_is_unknown() -> None:
    park = set_all(park_years(), total_enterprises=D(0))
    c5 = cond(run(park), "C5")
    assert c5["status"] == "unknown"
    assert {m["year"] for m in c5["missing"]} == {2021, 2022, 2023}


# ------------------------------------------------------------------------------------------- C6


@pytest.mark.parametrize(("platforms", "new_type", "status"), [(15, 5, "pass"), (15, 4, "fail"), (0, 20, "pass")])
def test_c6_twenty_platforms_or_new_type_institutions(platforms: int, new_type: int, status: str) -> None:
    park = set_all(park_years(), innovation_platforms=D(platforms), new_type_rd_institutions=D(new_type))
    assert cond(run(park), "C6")["status"] == status


def test_c6_counted_variables_are_a_setting() -> None:
    park = set_all(park_years(), innovation_platforms=D(20))
    for y in park:
        del park[y]["new_type_rd_institutions"]
    assert cond(run(park), "C6")["status"] == "unknown"
    platforms_only = EligibilitySettings(c6_variables=("innovation_platforms",))
    assert cond(run(park, settings=platforms_only), "C6")["status"] == "pass"


# ------------------------------------------------------------------------------------------- C7


def test_c7_patents_per_ten_thousand_employees_strictly_above_the_league() -> None:
    park = set_all(park_years(), invention_patents=D(50), employees=D(20000))  # 25 per 10,000
    c7 = cond(run(park), "C7")
    assert c7["status"] == "fail"
    comp = c7["years"][0]["comparisons"][0]
    assert (comp["value"], comp["comparator"], comp["threshold"]) == ("25", ">", "25")
    assert any("employees" in n and "residents" in n for n in c7["notes"])
    park = set_all(park, invention_patents=D(51))
    assert cond(run(park), "C7")["status"] == "pass"


def test_c7_no_employees_is_a_division_by_zero() -> None:
    park = set_all(park_years(), employees=D(0))
    c7 = cond(run(park), "C7")
    assert c7["status"] == "unknown"
    assert c7["missing"][0]["code"] == "division-by-zero" and c7["missing"][0]["expression"] == "employees / 10000"


def test_c7_exact_arithmetic_with_a_recurring_quotient() -> None:
    park = set_all(park_years(), invention_patents=D(25), employees=D(30000))  # 8.333… per 10,000
    league = league_years()
    for y in league:
        league[y]["league_invention_patents_per_10k"] = D("8.333333333333333333333333333333333")
    comp = cond(run(park, league), "C7")["years"][0]["comparisons"][0]
    assert comp["value"] == "8.333333333333333333333333333333333"  # 34 significant digits, not 28
    assert comp["status"] == "fail"  # equal to 34 digits: not strictly above


# ------------------------------------------------------------------------------------------- aggregation


def test_a_failure_in_one_year_and_an_unknown_in_another_fail_the_condition() -> None:
    park = park_years()
    park[2021]["leading_industry_revenue"] = D(0)
    del park[2022]["leading_industry_revenue"]
    c2 = cond(run(park), "C2")
    assert c2["status"] == "fail"
    assert [y["status"] for y in c2["years"]] == ["fail", "unknown", "pass"]


def test_latest_year_aggregation_counts_only_the_last_year() -> None:
    park = park_years()
    park[2021]["leading_industry_revenue"] = D(0)
    del park[2022]["leading_industry_revenue"]
    latest = EligibilitySettings(aggregation="latest_year")
    c2 = cond(run(park, settings=latest), "C2")
    assert c2["status"] == "pass" and c2["missing"] == []
    assert [y["counted"] for y in c2["years"]] == [False, False, True]


def test_the_period_is_a_setting() -> None:
    settings = EligibilitySettings(period_years=2)
    assert settings.period(2024) == [2022, 2023] and settings.years_read(2024) == [2021, 2022, 2023]
    body = run(settings=settings)
    assert body["period"] == [2022, 2023] and body["overall"] == ELIGIBLE


@pytest.mark.parametrize("bad", [{"period_years": 0}, {"aggregation": "mean"}, {"main_indicators": ()},
                                 {"c3_rising": "output"}, {"c3_rising_from": "never"}, {"c6_variables": ("a b",)}])
def test_settings_refuse_nonsense(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        EligibilitySettings(**bad)
