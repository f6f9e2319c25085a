"""Eligibility to apply for accreditation (002 art. 4): the quantitative conditions C1–C7 of SPEC 2.3,
evaluated over the years before the application year, and the attested ones listed for the reviewers.

Pure: the park's figures by year and the reference figures (its league's, the region's) in, a result out.
Every choice the measure leaves open (SPEC 8) is a field of `EligibilitySettings`, reported with each
answer. Exact decimal arithmetic (34 significant digits); comparisons are exact.

Thresholds: 002 writes 不低于 / 以上 / 达到…以上 (at least: ≥, the number itself included, as Chinese
legal usage counts 以上) and 高于 (strictly above: >).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal
from functools import cache
from typing import Any, Literal

from services.scoring.eligibility import attested
from services.scoring.eligibility.checks import (
    FAIL,
    PASS,
    UNKNOWN,
    Comparison,
    Status,
    UnitData,
    combine,
    compare,
    dec,
)
from services.scoring.frameworks import formulas
from services.scoring.frameworks.formulas import Formula

ELIGIBLE, NOT_ELIGIBLE, UNDETERMINED = "eligible", "not_eligible", "undetermined"
REGION_CODE = "150000"


@dataclass(frozen=True, slots=True)
class EligibilitySettings:
    """The decisions 002 art. 4 leaves open (SPEC 2.3 and 8), with their documented defaults.

    - `period_years` (3): the conditions are read over the `period_years` calendar years before the
      application year Y (Y−3..Y−1), by analogy with 近三年 in art. 4(一)4 and art. 5(五)5; growth
      conditions also read the year before the period (Y−4).
    - `aggregation` ("every_year"): a condition passes when it holds in every year of the period; it fails
      when it fails in any year; otherwise (some year unknown, none failing) it is unknown.
      "latest_year": only Y−1 decides; the other years are shown but not counted.
    - `main_indicators` (operating_revenue, industrial_output): C1's 主要经济指标. For each, growth =
      x / prev(x) − 1 must be strictly above the region's average growth of that indicator in the same
      year (reference variable `region_growth_<indicator>`); every indicator must exceed it.
    - `c3_rising` ("share"): what must rise in C3's 逐年增加: the share hightech_industry_revenue /
      operating_revenue, or "revenue" (hightech_industry_revenue itself); strictly, year on year.
    - `c3_rising_from` ("year_before_period"): the first year of the period is compared with Y−4 like the
      growth conditions; "within_period" compares only the years of the period with each other.
    - the thresholds of C2, C3, C5, C6 as 002 states them, and C6's counted variables (summed as reported).
    """

    period_years: int = 3
    aggregation: Literal["every_year", "latest_year"] = "every_year"
    main_indicators: tuple[str, ...] = ("operating_revenue", "industrial_output")
    c3_rising: Literal["share", "revenue"] = "share"
    c3_rising_from: Literal["year_before_period", "within_period"] = "year_before_period"
    c2_min_share: Decimal = Decimal("0.70")
    c3_min_share: Decimal = Decimal("0.30")
    c5_min_share: Decimal = Decimal("0.30")
    c6_min_count: Decimal = Decimal(20)
    c6_variables: tuple[str, ...] = ("innovation_platforms", "new_type_rd_institutions")

    def __post_init__(self) -> None:
        if not 1 <= self.period_years <= 10:
            raise ValueError("period_years is between 1 and 10")
        if self.aggregation not in ("every_year", "latest_year"):
            raise ValueError("aggregation is every_year or latest_year")
        if not self.main_indicators or not all(n.isidentifier() for n in self.main_indicators):
            raise ValueError("main_indicators names at least one variable")
        if self.c3_rising not in ("share", "revenue"):
            raise ValueError("c3_rising is share or revenue")
        if self.c3_rising_from not in ("year_before_period", "within_period"):
            raise ValueError("c3_rising_from is year_before_period or within_period")
        if not self.c6_variables or not all(n.isidentifier() for n in self.c6_variables):
            raise ValueError("c6_variables names at least one variable")

    def period(self, year: int) -> list[int]:
        """The years the conditions read for application year `year` (oldest first)."""
        return list(range(year - self.period_years, year))

    def years_read(self, year: int) -> list[int]:
        """Every year whose data the evaluation reads: the period and the year before it."""
        return list(range(year - self.period_years - 1, year))

    def reference_variable(self, indicator: str) -> str:
        return f"region_growth_{indicator}"

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        return {k: (dec(v) if isinstance(v, Decimal) else list(v) if isinstance(v, tuple) else v)
                for k, v in out.items()}


@dataclass(frozen=True, slots=True)
class YearResult:
    year: int
    status: Status
    counted: bool
    comparisons: tuple[Comparison, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"year": self.year, "status": self.status, "counted": self.counted,
                "comparisons": [c.as_dict() for c in self.comparisons]}


@dataclass(frozen=True, slots=True)
class ConditionResult:
    code: str
    article: str
    label: dict[str, str]
    status: Status
    years: tuple[YearResult, ...]
    notes: tuple[str, ...] = ()

    def missing(self) -> list[dict[str, Any]]:
        """Every gap of the counted years, once each."""
        out: dict[tuple[Any, ...], dict[str, Any]] = {}
        for y in self.years:
            if y.counted:
                for c in y.comparisons:
                    for g in c.gaps:
                        out.setdefault((g.code, g.subject, g.unit_code, g.year), g.as_dict())
        return list(out.values())

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "article": self.article, "label": self.label, "status": self.status,
                "missing": self.missing(), "notes": list(self.notes), "years": [y.as_dict() for y in self.years]}


@dataclass(frozen=True, slots=True)
class EligibilityResult:
    year: int
    period: tuple[int, ...]
    overall: str
    conditions: tuple[ConditionResult, ...]
    settings: EligibilitySettings
    to_be_attested: tuple[dict[str, Any], ...] = field(default=attested.ITEMS)

    def as_dict(self) -> dict[str, Any]:
        return {"year": self.year, "period": list(self.period), "overall": self.overall,
                "overall_meaning": OVERALL_MEANING[self.overall],
                "conditions": [c.as_dict() for c in self.conditions], "settings": self.settings.as_dict(),
                "to_be_attested": list(self.to_be_attested)}


OVERALL_MEANING = {
    ELIGIBLE: "every quantitative condition (C1–C7) passes; the attested conditions still need their documents",
    NOT_ELIGIBLE: "at least one quantitative condition fails",
    UNDETERMINED: "no condition fails, but at least one cannot be decided from the data (see `missing`)",
}


@cache
def _formula(text: str) -> Formula:
    return formulas.parse(text)


def _aggregate(code: str, article: str, label: dict[str, str], settings: EligibilitySettings,
               by_year: list[tuple[int, list[Comparison]]], notes: list[str]) -> ConditionResult:
    last = by_year[-1][0]
    years = tuple(YearResult(year, combine(c.status for c in comps),
                             settings.aggregation == "every_year" or year == last, tuple(comps))
                  for year, comps in by_year)
    status = combine(y.status for y in years if y.counted)
    return ConditionResult(code, article, label, status, years, tuple(notes))


def c1_growth(park: UnitData, region: UnitData, year: int, settings: EligibilitySettings) -> ConditionResult:
    # 002 art. 4(二)1: 主要经济指标增速高于自治区平均水平
    by_year = []
    for y in settings.period(year):
        comps = [compare(f"growth of {name} > the region's average growth",
                         _formula(f"{name} / prev({name}) - 1"), [park], y, ">",
                         reference=(region, settings.reference_variable(name)))
                 for name in settings.main_indicators]
        by_year.append((y, comps))
    return _aggregate("C1", "002 art. 4(二)1", {
        "zh": "主要经济指标增速高于自治区平均水平",
        "en": "Growth of the main economic indicators above the regional average"}, settings, by_year, [
        f"main indicators: {', '.join(settings.main_indicators)}; growth = x / prev(x) − 1 for each year, "
        "strictly above (高于) the region's average growth of the same indicator that year; all must exceed it"])


def c2_leading_industry(park: UnitData, year: int, settings: EligibilitySettings) -> ConditionResult:
    # 002 art. 4(二)2: 主导产业营业总收入占园区营业总收入比例不低于70%
    f = _formula("leading_industry_revenue / operating_revenue")
    by_year = [(y, [compare("leading-industry share of revenue ≥ threshold", f, [park], y, ">=",
                            threshold=settings.c2_min_share)]) for y in settings.period(year)]
    return _aggregate("C2", "002 art. 4(二)2", {
        "zh": "主导产业营业总收入占园区营业总收入比例不低于70%",
        "en": "Leading-industry revenue at least 70 % of the park's revenue"}, settings, by_year, [])


def c3_hightech_industry(park: UnitData, year: int, settings: EligibilitySettings) -> ConditionResult:
    # 002 art. 4(二)3: 高新技术产业营业总收入占园区营业总收入的30%以上，并逐年增加
    share = _formula("hightech_industry_revenue / operating_revenue")
    rising = _formula("hightech_industry_revenue / operating_revenue - prev(hightech_industry_revenue) / "
                      "prev(operating_revenue)" if settings.c3_rising == "share"
                      else "hightech_industry_revenue - prev(hightech_industry_revenue)")
    period = settings.period(year)
    by_year = []
    for y in period:
        comps = [compare("high-tech industry share of revenue ≥ threshold", share, [park], y, ">=",
                         threshold=settings.c3_min_share)]
        if settings.c3_rising_from == "year_before_period" or y != period[0]:
            comps.append(compare(f"{settings.c3_rising} rises on the previous year (逐年增加)", rising, [park], y,
                                 ">", threshold=Decimal(0)))
        by_year.append((y, comps))
    what = ("the share hightech_industry_revenue / operating_revenue" if settings.c3_rising == "share"
            else "hightech_industry_revenue")
    first = ("the first year of the period is compared with the year before it"
             if settings.c3_rising_from == "year_before_period" else "only the years of the period are compared")
    return _aggregate("C3", "002 art. 4(二)3", {
        "zh": "高新技术产业营业总收入占园区营业总收入的30%以上，并逐年增加",
        "en": "High-tech industry revenue at least 30 % of the park's revenue, and rising year on year"},
        settings, by_year, [f"逐年增加 read as: {what} strictly above the previous year's; {first}",
                            "the high-tech industry development plan (same article) is attested: see to_be_attested"])


def c4_rd_growth(park: UnitData, league: UnitData, year: int, settings: EligibilitySettings) -> ConditionResult:
    # 002 art. 4(三)1: 研究开发经费投入增长幅度高于所在盟市增长水平
    f = _formula("rd_expenditure / prev(rd_expenditure) - 1")
    by_year = [(y, [compare("growth of rd_expenditure > the league's R&D growth", f, [park], y, ">",
                            reference=(league, "league_rd_growth"))]) for y in settings.period(year)]
    return _aggregate("C4", "002 art. 4(三)1", {
        "zh": "研究开发经费投入增长幅度高于所在盟市增长水平",
        "en": "Growth of R&D expenditure above the league's growth"}, settings, by_year, [
        "growth = rd_expenditure / prev(rd_expenditure) − 1, strictly above the league's R&D growth that year"])


def c5_tech_enterprises(park: UnitData, year: int, settings: EligibilitySettings) -> ConditionResult:
    # 002 art. 4(三)2: 高新技术企业和科技型中小企业数量占园区企业总数的30%以上
    f = _formula("(hitech_enterprises + tech_smes) / total_enterprises")
    by_year = [(y, [compare("(high-tech enterprises + tech-based SMEs) share of all enterprises ≥ threshold", f,
                            [park], y, ">=", threshold=settings.c5_min_share)]) for y in settings.period(year)]
    return _aggregate("C5", "002 art. 4(三)2", {
        "zh": "高新技术企业和科技型中小企业数量占园区企业总数的30%以上",
        "en": "High-tech enterprises and tech-based SMEs at least 30 % of all enterprises in the park"},
        settings, by_year, [
            "the two counts are summed as reported: an enterprise that is both is counted twice unless the "
            "statistics bureau's figures already count it once (the bureau's rule decides; record it with the data)",
            "total_enterprises is 园区企业总数 (all enterprises, not only legal entities)"])


def c6_platforms(park: UnitData, year: int, settings: EligibilitySettings) -> ConditionResult:
    # 002 art. 4(三)3: 自治区级及以上科技创新平台或新型研发机构达到20家以上
    f = _formula(" + ".join(settings.c6_variables))
    by_year = [(y, [compare("platforms and new-type R&D institutions ≥ threshold", f, [park], y, ">=",
                            threshold=settings.c6_min_count)]) for y in settings.period(year)]
    return _aggregate("C6", "002 art. 4(三)3", {
        "zh": "自治区级及以上科技创新平台或新型研发机构达到20家以上",
        "en": "Regional-or-above S&T innovation platforms or new-type R&D institutions: at least 20"},
        settings, by_year, [
            f"counted: {' + '.join(settings.c6_variables)}, summed as reported (或: either kind counts); a "
            "new-type institution also counted among the platforms counts twice unless the bureau excludes it",
            "the talent and project capacity of the same article are attested: see to_be_attested"])


def c7_patents(park: UnitData, league: UnitData, year: int, settings: EligibilitySettings) -> ConditionResult:
    # 002 art. 4(三)5: 每万人有效发明专利拥有量高于所在盟市平均值
    f = _formula("invention_patents / (employees / 10000)")
    by_year = [(y, [compare("valid invention patents per 10,000 > the league's average", f, [park], y, ">",
                            reference=(league, "league_invention_patents_per_10k"))])
               for y in settings.period(year)]
    return _aggregate("C7", "002 art. 4(三)5", {
        "zh": "每万人有效发明专利拥有量高于所在盟市平均值",
        "en": "Valid invention patents per 10,000 people above the league's average"}, settings, by_year, [
        "the park's figure is per 10,000 employees (从业人员期末数); the league's is per 10,000 residents "
        "(每万人: its population): the two bases differ",
        "the S&T achievements management and service system of the same article is attested"])


def evaluate(year: int, park: UnitData, league: UnitData, region: UnitData,
             settings: EligibilitySettings | None = None) -> EligibilityResult:
    """C1–C7 for application year `year` (002 art. 4) and the overall verdict on the quantitative part."""
    settings = settings or EligibilitySettings()
    conditions = (
        c1_growth(park, region, year, settings),
        c2_leading_industry(park, year, settings),
        c3_hightech_industry(park, year, settings),
        c4_rd_growth(park, league, year, settings),
        c5_tech_enterprises(park, year, settings),
        c6_platforms(park, year, settings),
        c7_patents(park, league, year, settings),
    )
    verdict = combine(c.status for c in conditions)
    overall = {PASS: ELIGIBLE, FAIL: NOT_ELIGIBLE, UNKNOWN: UNDETERMINED}[verdict]
    return EligibilityResult(year, tuple(settings.period(year)), overall, conditions, settings)


__all__ = ["ELIGIBLE", "FAIL", "NOT_ELIGIBLE", "PASS", "REGION_CODE", "UNDETERMINED", "UNKNOWN",
           "ConditionResult", "EligibilityResult", "EligibilitySettings", "UnitData", "YearResult", "evaluate"]
