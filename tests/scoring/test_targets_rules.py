"""Policy targets (SPEC 6): the bundled definitions validate; scope; the pure evaluation of each measure
(level, growth as a CAGR, increase, each year), met / not met / unknown with the missing inputs. No database."""

from __future__ import annotations

import copy
from decimal import Decimal as D
from typing import Any

import pytest
from pydantic import ValidationError

from services.scoring.eligibility.checks import UnitData
from services.scoring.targets import definition, rules
from services.scoring.targets.definition import Target

DOC, FRAMEWORK = definition.bundled()
APPLIES_TO = {v.name: v.applies_to for v in FRAMEWORK.variables}
BY_ID = {t.id: t for t in DOC.targets}
ORDOS = {"code": "G152059", "kind": "hitech", "level": "national", "status": "accredited", "league_code": "150600"}
XILINHOT = {"code": "NM-7", "kind": "economic_development", "level": "regional", "status": "accredited",
            "league_code": "152500"}
CHIFENG = {"code": "S158023", "kind": "hitech", "level": "regional", "status": "accredited", "league_code": "150400"}
HOHHOT_ETDZ = {"code": "G151005", "kind": "etdz", "level": "national", "status": "accredited", "league_code": "150100"}


def run(target_id: str, year: int, zone: dict[int, dict[str, Any]], league: dict[int, dict[str, Any]] | None = None,
        ) -> dict[str, Any]:
    result = rules.evaluate(BY_ID[target_id], year, UnitData("G152059", "zone", zone),
                            UnitData("150600", "league", league or {}), UnitData("150000", "region", {}), APPLIES_TO)
    return result.as_dict()


# ------------------------------------------------------------------------------------------- definitions


def test_the_bundled_targets_cover_the_four_sources_and_read_declared_variables_only() -> None:
    assert {t.source.seed for t in DOC.targets} == {"000", "001", "003", "004"}
    assert len(BY_ID) == len(DOC.targets)
    declared = FRAMEWORK.variables_by_name
    for t in DOC.targets:
        if t.computable:
            f = t.parsed()
            assert (f.names | f.prev_names) <= set(declared), t.id
            assert t.deadline in (2024, 2025, 2027)
        else:
            assert t.why_not_computable and t.formula is None
    not_computable = {t.id for t in DOC.targets if not t.computable}
    assert {"000-national-zones-count", "004-national-ranking", "003-national-ranking",
            "000-hitech-enterprises-share-all-zones"} <= not_computable
    assert BY_ID["004-tech-smes-increase"].alternative_of == "004-tech-smes"


def raw_targets() -> dict[str, Any]:
    return copy.deepcopy(DOC.model_dump(mode="json", exclude_none=True))


@pytest.mark.parametrize(("change", "message"), [
    (lambda t: t.update(formula="rd_expenditure / turnover"), "uses undeclared turnover"),
    (lambda t: t.update(formula="fiscal_data_level"), "category"),
    (lambda t: t.update(formula="rd_expenditure / ("), "not a formula"),
])
def test_a_formula_over_undeclared_variables_is_refused_at_load(change: Any, message: str) -> None:
    raw = raw_targets()
    change(raw["targets"][0])
    with pytest.raises(ValueError, match=message):
        definition.load(raw, FRAMEWORK)


def test_growth_reads_one_year_and_each_year_compares_years() -> None:
    raw = raw_targets()
    growth = next(t for t in raw["targets"] if t.get("measure") == "growth")
    growth["formula"] = "gdp / prev(gdp)"
    with pytest.raises(ValueError, match="no prev"):
        definition.load(raw, FRAMEWORK)
    raw = raw_targets()
    each = next(t for t in raw["targets"] if t.get("measure") == "each_year")
    each["formula"] = "innovation_platforms"
    with pytest.raises(ValueError, match="reads prev"):
        definition.load(raw, FRAMEWORK)


@pytest.mark.parametrize("change", [
    lambda t: t.update(extra="field"),
    lambda t: t.pop("threshold"),
    lambda t: t.update(computable=False),
    lambda t: t["scope"][0].update(kind=["castle"]),
    lambda t: t.update(comparator="=="),
])
def test_the_document_is_strict(change: Any) -> None:
    raw = raw_targets()
    change(raw["targets"][0])
    with pytest.raises(ValidationError):
        definition.load(raw, FRAMEWORK)


def test_duplicate_ids_and_dangling_alternatives_are_refused() -> None:
    raw = raw_targets()
    raw["targets"].append(raw["targets"][0])
    with pytest.raises(ValidationError, match="appear twice"):
        definition.load(raw, FRAMEWORK)
    raw = raw_targets()
    raw["targets"][0]["alternative_of"] = "004-nothing"
    with pytest.raises(ValidationError, match="names no target"):
        definition.load(raw, FRAMEWORK)


def test_a_target_without_why_when_not_computable_is_refused() -> None:
    raw = raw_targets()
    t = next(t for t in raw["targets"] if t.get("computable") is False)
    del t["why_not_computable"]
    with pytest.raises(ValidationError):
        definition.load(raw, FRAMEWORK)


# ------------------------------------------------------------------------------------------- scope


def ids(zone: dict[str, Any]) -> set[str]:
    return {t.id for t in DOC.targets if t.applies_to(zone)}


def test_scope_by_zone_kind_level_league_and_code() -> None:
    ordos = ids(ORDOS)
    assert "004-operating-revenue" in ordos and "000-rd-intensity-national" in ordos
    assert not any(i.startswith(("001-", "003-")) for i in ordos) and "000-rd-intensity-regional" not in ordos
    xilinhot = ids(XILINHOT)
    assert xilinhot and all(i.startswith("001-") for i in xilinhot)
    # a future high-tech zone of Xilingol League matches too
    assert ids({**XILINHOT, "code": "NM-99", "kind": "hitech"}) >= xilinhot
    chifeng = ids(CHIFENG)
    assert "000-rd-intensity-regional" in chifeng and not any(i.startswith(("001-", "003-", "004-")) for i in chifeng)
    etdz = ids(HOHHOT_ETDZ)
    assert etdz and all(i.startswith("003-") for i in etdz)


# ------------------------------------------------------------------------------------------- level


@pytest.mark.parametrize(("rd", "status", "gap"), [("150000", "met", "0"), ("149994", "not_met", "0.000001"),
                                                   ("300000", "met", "-0.025")])
def test_level_at_least_threshold(rd: str, status: str, gap: str) -> None:
    body = run("004-rd-intensity", 2024, {2024: {"rd_expenditure": D(rd), "operating_revenue": D(6000000)}})
    assert (body["status"], body["threshold"], body["gap"]) == (status, "0.025", gap)
    assert body["deadline"] == 2024 and body["deadline_passed"] is False and body["source"]["seed"] == "004"


def test_level_strictly_above_for_a_breakthrough() -> None:
    # 营业收入突破600亿元: exactly 60 bn has not broken through
    assert run("004-operating-revenue", 2024, {2024: {"operating_revenue": D(6000000)}})["status"] == "not_met"
    assert run("004-operating-revenue", 2024, {2024: {"operating_revenue": D("6000000.0001")}})["status"] == "met"


def test_level_unknown_lists_every_missing_input_with_its_unit() -> None:
    body = run("003-fdi-share-of-league", 2027, {2027: {}})
    assert body["status"] == "unknown" and body["value"] is None and body["gap"] is None
    assert {(m["variable"], m["unit_code"], m["unit"], m["year"]) for m in body["missing"]} == {
        ("fdi_used", "G152059", "zone", 2027), ("league_fdi_used", "150600", "league", 2027)}


def test_level_reads_the_league_and_divides_by_zero_safely() -> None:
    body = run("003-fdi-share-of-league", 2026, {2026: {"fdi_used": D(30)}}, {2026: {"league_fdi_used": D(100)}})
    assert (body["status"], body["value"]) == ("met", "0.3")
    body = run("003-fdi-share-of-league", 2026, {2026: {"fdi_used": D(30)}}, {2026: {"league_fdi_used": D(0)}})
    assert body["status"] == "unknown" and body["missing"][0]["code"] == "division-by-zero"
    assert body["missing"][0]["unit_code"] == "150600"


def test_level_with_prev_reads_the_year_before() -> None:
    body = run("003-industrial-output-growth", 2025, {2024: {"industrial_output": D(100)},
                                                      2025: {"industrial_output": D(115)}})
    assert (body["status"], body["value"]) == ("met", "0.15")
    body = run("003-industrial-output-growth", 2025, {2025: {"industrial_output": D(115)}})
    assert body["missing"] == [{"code": "missing-input", "variable": "industrial_output", "unit_code": "G152059",
                                "unit": "zone", "year": 2024, "no_data_for_year": True}]


# ------------------------------------------------------------------------------------------- growth (CAGR)


def test_growth_is_a_compound_annual_rate_from_the_plans_base_year() -> None:
    body = run("001-hitech-enterprises-growth", 2022, {2020: {"hitech_enterprises": D(100)},
                                                       2022: {"hitech_enterprises": D(169)}})
    assert (body["status"], body["value"], body["base_year"], body["plan_base_year"]) == ("met", "0.3", 2020, 2020)
    assert (body["base_value"], body["end_value"], body["required_value"], body["gap"]) == ("100", "169", "169", "0")
    body = run("001-hitech-enterprises-growth", 2022, {2020: {"hitech_enterprises": D(100)},
                                                       2022: {"hitech_enterprises": D(168)}})
    assert body["status"] == "not_met" and D(body["gap"]) > 0


def test_growth_met_exactly_at_the_threshold_even_when_the_root_is_inexact() -> None:
    # 1.3 ** 3 = 2.197: the cube root need not come back as exactly 1.3, the verdict is taken on the ratio
    body = run("001-invention-patent-grants-growth", 2023, {2020: {"invention_patent_grants": D(1000)},
                                                            2023: {"invention_patent_grants": D(2197)}})
    assert body["status"] == "met" and abs(D(body["value"]) - D("0.3")) < D("1e-30")
    body = run("001-invention-patent-grants-growth", 2023, {2020: {"invention_patent_grants": D(1000)},
                                                            2023: {"invention_patent_grants": D("2196.999")}})
    assert body["status"] == "not_met"


def test_growth_falls_back_to_the_first_year_with_data_and_says_so() -> None:
    body = run("003-gdp-growth", 2026, {2024: {"gdp": D(100)}, 2026: {"gdp": D(121)}})
    assert (body["status"], body["value"], body["base_year"]) == ("met", "0.1", 2024)  # 10 % a year, 2024–2026
    assert "2023" in body["reason"] and "2024" in body["reason"]
    assert body["missing"][0]["variable"] == "gdp" and body["missing"][0]["year"] == 2023


def test_growth_from_zero_skips_to_a_positive_base() -> None:
    body = run("003-gdp-growth", 2026, {2023: {"gdp": D(0)}, 2025: {"gdp": D(50)}, 2026: {"gdp": D(60)}})
    assert (body["base_year"], body["value"]) == (2025, "0.2")


def test_growth_unknown_without_a_base_or_an_end_or_before_the_plan() -> None:
    assert run("003-gdp-growth", 2026, {2026: {"gdp": D(121)}})["status"] == "unknown"
    body = run("003-gdp-growth", 2026, {2023: {"gdp": D(100)}})
    assert body["status"] == "unknown" and body["missing"][0]["year"] == 2026
    body = run("003-gdp-growth", 2023, {2023: {"gdp": D(100)}})
    assert body["status"] == "unknown" and "base year" in body["reason"]


def test_a_total_collapse_is_minus_one_hundred_percent() -> None:
    body = run("003-gdp-growth", 2025, {2023: {"gdp": D(100)}, 2025: {"gdp": D(0)}})
    assert (body["status"], body["value"]) == ("not_met", "-1")


# ------------------------------------------------------------------------------------------- increase


def test_increase_since_the_plans_base_year() -> None:
    zone = {2021: {"hitech_enterprises": D(100)}, 2024: {"hitech_enterprises": D(190)}}
    body = run("004-hitech-enterprises-increase", 2024, zone)
    assert (body["status"], body["value"], body["gap"], body["required_value"]) == ("met", "90", "0", "190")
    zone[2024]["hitech_enterprises"] = D(189)
    assert run("004-hitech-enterprises-increase", 2024, zone)["status"] == "not_met"


def test_increase_needs_the_base_year_itself() -> None:
    body = run("004-hitech-enterprises-increase", 2024, {2022: {"hitech_enterprises": D(100)},
                                                         2024: {"hitech_enterprises": D(300)}})
    assert body["status"] == "unknown"
    assert [(m["variable"], m["year"]) for m in body["missing"]] == [("hitech_enterprises", 2021)]
    assert run("004-hitech-enterprises-increase", 2021, {})["status"] == "unknown"


def test_increase_of_a_sum() -> None:
    zone = {2021: {"incubators": D(1), "maker_spaces": D(1)}, 2024: {"incubators": D(2), "maker_spaces": D(2)}}
    assert run("004-incubation-carriers-new", 2024, zone)["value"] == "2"


# ------------------------------------------------------------------------------------------- each year


def test_each_year_must_hold_in_every_year_of_the_plan() -> None:
    zone = {2021: {"incubated_enterprises": D(40)}, 2022: {"incubated_enterprises": D(50)},
            2023: {"incubated_enterprises": D("62.5")}}
    body = run("004-incubated-enterprises-growth", 2023, zone)
    assert (body["status"], body["value"]) == ("met", "0.25")
    assert [(y["year"], y["status"]) for y in body["years"]] == [(2022, "pass"), (2023, "pass")]
    zone[2024] = {"incubated_enterprises": D(70)}
    assert run("004-incubated-enterprises-growth", 2024, zone)["status"] == "not_met"
    del zone[2022]
    body = run("004-incubated-enterprises-growth", 2023, zone)
    assert body["status"] == "unknown"
    assert {(m["variable"], m["year"]) for m in body["missing"]} == {("incubated_enterprises", 2022)}


def test_each_year_before_the_plan_starts_is_unknown() -> None:
    assert run("001-new-rd-institutions-each-year", 2020, {})["status"] == "unknown"


# ------------------------------------------------------------------------------------------- the rest


def test_a_target_that_is_not_computable_says_why() -> None:
    body = run("004-national-ranking", 2024, {})
    assert body["status"] == "not_computable" and body["computable"] is False and body["reason"]


def test_after_the_deadline_the_answer_says_so() -> None:
    body = run("004-rd-intensity", 2025, {2025: {"rd_expenditure": D(1), "operating_revenue": D(10)}})
    assert body["deadline_passed"] is True


@pytest.mark.parametrize(("target_id", "year", "expected"), [
    ("004-rd-intensity", 2024, {2023, 2024}),
    ("003-gdp-growth", 2026, {2023, 2024, 2025, 2026}),
    ("004-hitech-enterprises-increase", 2022, {2021, 2022}),
    ("004-national-ranking", 2024, set()),
])
def test_years_needed(target_id: str, year: int, expected: set[int]) -> None:
    assert rules.years_needed(BY_ID[target_id], year) == expected


def test_target_model_is_frozen() -> None:
    with pytest.raises(ValidationError):
        BY_ID["004-rd-intensity"].threshold = D(1)  # type: ignore[misc]
    assert isinstance(BY_ID["004-rd-intensity"], Target)
