"""Policy targets as data (SPEC 6): `definitions/targets.json`, validated when loaded against the
framework whose variables the formulas read (every name declared; growth and increase measures read one
year's quantity, not prev()). Pure apart from reading the two bundled files."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.contracts import ZoneKind, ZoneLevel, ZoneStatus
from services.scoring.frameworks import formulas
from services.scoring.frameworks.definition import FrameworkDocument
from services.scoring.frameworks.formulas import Formula, FormulaError
from shared.decimals import ExactDecimalField

DEFINITIONS = Path(__file__).resolve().parent / "definitions"
FRAMEWORKS = Path(__file__).resolve().parents[1] / "frameworks" / "definitions"
TARGET_ID = r"^[0-9]{3}-[a-z0-9][a-z0-9\-]{1,80}$"

Measure = Literal["level", "growth", "increase", "each_year"]
MEASURES: dict[str, str] = {
    "level": "the formula's value in the year asked (prev(x) reads the year before)",
    "growth": "average annual growth: the compound rate (v(Y) / v(B)) ^ (1 / (Y − B)) − 1 from the first "
              "year B ≥ base_year with a value to the year asked Y",
    "increase": "v(Y) − v(base_year): the net increase since the plan's base year",
    "each_year": "the formula (with prev()) must meet the threshold in every year from base_year + 1 to the "
                 "year asked; the value shown is the latest year's",
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Label(Strict):
    zh: Annotated[str, Field(min_length=1, max_length=300)]
    en: Annotated[str, Field(min_length=1, max_length=300)]


class Source(Strict):
    seed: Literal["000", "001", "002", "003", "004"]
    document: Annotated[str, Field(min_length=1, max_length=200)]
    article: Annotated[str, Field(min_length=1, max_length=100)]
    quote: Annotated[str, Field(min_length=1, max_length=400)]


class ScopeFilter(Strict):
    """Which zones a target concerns: every given field must match (empty: any)."""

    zones: list[str] = []
    kind: list[ZoneKind] = []
    level: list[ZoneLevel] = []
    status: list[ZoneStatus] = []
    league: list[Annotated[str, Field(pattern=r"^[0-9]{6}$")]] = []

    def matches(self, zone: dict[str, Any]) -> bool:
        return ((not self.zones or zone.get("code") in self.zones)
                and (not self.kind or zone.get("kind") in self.kind)
                and (not self.level or zone.get("level") in self.level)
                and (not self.status or zone.get("status") in self.status)
                and (not self.league or zone.get("league_code") in self.league))


class Target(Strict):
    id: Annotated[str, Field(pattern=TARGET_ID)]
    source: Source
    scope: Annotated[list[ScopeFilter], Field(min_length=1)]  # any of the filters
    label: Label
    deadline: Annotated[int, Field(ge=2000, le=2100)]
    computable: bool = True
    why_not_computable: Annotated[str | None, Field(max_length=600)] = None
    measure: Measure | None = None
    formula: Annotated[str | None, Field(max_length=500)] = None
    comparator: Literal[">=", ">", "<=", "<"] | None = None
    threshold: ExactDecimalField | None = None
    base_year: Annotated[int | None, Field(ge=2000, le=2100)] = None
    unit: Annotated[str | None, Field(max_length=40)] = None
    alternative_of: str | None = None
    note: Annotated[str | None, Field(max_length=1200)] = None

    @model_validator(mode="after")
    def _consistent(self) -> Target:
        fields = (self.measure, self.formula, self.comparator, self.threshold)
        if self.computable:
            if any(f is None for f in fields) or self.why_not_computable:
                raise ValueError(f"target {self.id}: a computable target has measure, formula, comparator and "
                                 "threshold, and no why_not_computable")
            if self.measure != "level" and self.base_year is None:
                raise ValueError(f"target {self.id}: a {self.measure} target names its base_year")
            if self.base_year is not None and self.base_year >= self.deadline:
                raise ValueError(f"target {self.id}: base_year is before the deadline")
        elif not self.why_not_computable or any(f is not None for f in fields):
            raise ValueError(f"target {self.id}: a target that is not computable says why and has no formula")
        return self

    def parsed(self) -> Formula:
        assert self.formula is not None
        return _parse(self.formula)

    def applies_to(self, zone: dict[str, Any]) -> bool:
        return any(f.matches(zone) for f in self.scope)


@cache
def _parse(text: str) -> Formula:
    return formulas.parse(text)


class TargetsDocument(Strict):
    version: Annotated[int, Field(ge=1)]
    framework: Annotated[str, Field(min_length=1, max_length=64)]
    note: Annotated[str | None, Field(max_length=2000)] = None
    targets: Annotated[list[Target], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique(self) -> TargetsDocument:
        ids = [t.id for t in self.targets]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"target ids appear twice: {', '.join(dupes)}")
        unknown = sorted({t.alternative_of for t in self.targets if t.alternative_of and t.alternative_of not in ids})
        if unknown:
            raise ValueError(f"alternative_of names no target: {', '.join(unknown)}")
        return self


def check_against(doc: TargetsDocument, framework: FrameworkDocument) -> list[str]:
    """Every problem of the targets' formulas against the framework's declared variables."""
    problems = []
    declared = framework.variables_by_name
    for target in doc.targets:
        if target.formula is None:
            continue
        try:
            formula = target.parsed()
        except FormulaError as exc:
            problems.append(f"target {target.id}: {exc}")
            continue
        names = formula.names | formula.prev_names
        unknown = sorted(n for n in names if n not in declared)
        if unknown:
            problems.append(f"target {target.id}: uses undeclared {', '.join(unknown)}")
        categorical = sorted(n for n in names if n in declared and declared[n].type == "category")
        if categorical:
            problems.append(f"target {target.id}: uses category variable(s) {', '.join(categorical)}")
        if target.measure in ("growth", "increase") and formula.prev_names:
            problems.append(f"target {target.id}: a {target.measure} target reads one year's quantity, no prev()")
        if target.measure == "each_year" and not formula.prev_names:
            problems.append(f"target {target.id}: an each_year target compares years, so it reads prev()")
    return problems


def load(raw: dict[str, Any], framework: FrameworkDocument) -> TargetsDocument:
    """Validate a targets document (pydantic, extra fields refused) and its formulas; ValueError lists all."""
    doc = TargetsDocument.model_validate(raw)
    if doc.framework != framework.id:
        raise ValueError(f"the targets read framework {doc.framework}, not {framework.id}")
    problems = check_against(doc, framework)
    if problems:
        raise ValueError("; ".join(problems))
    return doc


@cache
def bundled() -> tuple[TargetsDocument, FrameworkDocument]:
    """The shipped targets and the framework they read (validated once)."""
    raw = json.loads((DEFINITIONS / "targets.json").read_text(encoding="utf-8"))
    framework = FrameworkDocument.model_validate_json(
        (FRAMEWORKS / f"{raw.get('framework')}.json").read_text(encoding="utf-8"))
    return load(raw, framework), framework
