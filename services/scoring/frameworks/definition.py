"""A framework as data: its input variables, derived quantities, checks, scope and its tree of
indicators → groups → … → index. Validated when loaded or posted; pure, no I/O.

The 002 framework (`definitions/nmg-hitech-2022.json`) and any other (COINr's ASEM example, posted as
JSON or as COINr's metadata table) are documents of this one shape."""

from __future__ import annotations

import re
from decimal import Decimal
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.contracts import ZoneKind, ZoneLevel, ZoneStatus
from services.scoring.frameworks import formulas
from services.scoring.frameworks.formulas import Formula, FormulaError, Rule
from shared.decimals import ExactDecimalField

IDENTIFIER = r"^[A-Za-z][A-Za-z0-9_]{0,62}$"
NODE_CODE = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}$"
FRAMEWORK_ID = r"^[a-z0-9][a-z0-9\-]{1,62}$"
_IDENT = re.compile(IDENTIFIER)

IndicatorKind = Literal["ratio", "count", "growth", "compound", "qualitative", "value"]
VariableType = Literal["decimal", "integer", "category"]
AppliesTo = Literal["unit", "league", "region"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Label(Strict):
    zh: Annotated[str | None, Field(max_length=300)] = None
    en: Annotated[str, Field(min_length=1, max_length=300)]

    def text(self, lang: str) -> str:
        return (self.zh or self.en) if lang == "zh" else self.en


class Variable(Strict):
    """An intake variable: one value per unit (or league, or the region) per year."""

    name: Annotated[str, Field(pattern=IDENTIFIER)]
    label: Label
    unit: Annotated[str | None, Field(max_length=60)] = None
    type: VariableType = "decimal"
    min: ExactDecimalField | None = None
    max: ExactDecimalField | None = None
    categories: list[str] | None = None  # a category variable without a list takes any text
    applies_to: AppliesTo = "unit"
    purpose: list[Literal["indicator", "condition", "target", "denominator", "group", "reference"]] = []
    note: Annotated[str | None, Field(max_length=1000)] = None

    @model_validator(mode="after")
    def _consistent(self) -> Variable:
        if self.type != "category" and self.categories:
            raise ValueError(f"variable {self.name}: only a category variable has categories")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"variable {self.name}: min is above max")
        return self


class Derived(Strict):
    """A named intermediate quantity (e.g. a share whose growth is an indicator part)."""

    name: Annotated[str, Field(pattern=IDENTIFIER)]
    formula: Annotated[str, Field(min_length=1, max_length=1000)]
    label: Label | None = None


class Check(Strict):
    """A consistency rule between variables of one year: `error` rejects the data, `warning` is stored."""

    code: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9\-]{1,62}$")]
    rule: Annotated[str, Field(min_length=3, max_length=1000)]
    severity: Literal["error", "warning"] = "error"
    label: Label | None = None


class Part(Strict):
    """One part of a compound indicator (SPEC 8.2)."""

    code: Annotated[str, Field(pattern=r"^[a-z]$")]
    name: Label
    formula: Annotated[str, Field(min_length=1, max_length=1000)]
    direction: Literal[1, -1] = 1
    unit: str | None = None
    optional: bool = False  # 1.3's area: points go to it only when a method says so (SPEC 8.2)


class Node(Strict):
    """A node of the tree: an indicator (a leaf) or an aggregate (group, pillar, …, the index)."""

    code: Annotated[str, Field(pattern=NODE_CODE)]
    name: Label
    parent: str | None = None
    weight: ExactDecimalField | None = None
    points: ExactDecimalField | None = None
    kind: IndicatorKind | None = None
    formula: Annotated[str | None, Field(max_length=1000)] = None
    parts: list[Part] | None = None
    direction: Literal[1, -1] = 1
    denominator: Annotated[str | None, Field(pattern=IDENTIFIER)] = None
    unit: Annotated[str | None, Field(max_length=60)] = None
    article: Annotated[str | None, Field(max_length=200)] = None
    note: Annotated[str | None, Field(max_length=1000)] = None


class RegistryFilter(Strict):
    kind: list[ZoneKind] = []
    level: list[ZoneLevel] = []
    status: list[ZoneStatus] = []

    def matches(self, zone: dict[str, Any]) -> bool:
        return ((not self.kind or zone.get("kind") in self.kind) and (not self.level or zone.get("level") in self.level)
                and (not self.status or zone.get("status") in self.status))


class ScopeUnit(Strict):
    code: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,31}$")]
    name: Label


class FrameworkScope(Strict):
    """Whose data the framework takes: registry zones matching any filter, or its own list of units."""

    registry: list[RegistryFilter] | None = None
    units: list[ScopeUnit] | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _one(self) -> FrameworkScope:
        if (self.registry is None) == (self.units is None):
            raise ValueError("scope: give either `registry` (filters on the register) or `units` (own list)")
        if self.units is not None and len({u.code for u in self.units}) != len(self.units):
            raise ValueError("scope.units: a unit code appears twice")
        return self

    def admits(self, zone: dict[str, Any]) -> bool:
        return any(f.matches(zone) for f in self.registry or [])


class Intake(Strict):
    """How tabular files name their columns: the unit code column, and columns to ignore."""

    unit_column: Annotated[str, Field(min_length=1, max_length=63)] = "code"
    ignored_columns: list[str] = []


class FrameworkDocument(Strict):
    id: Annotated[str, Field(pattern=FRAMEWORK_ID)]
    name: Label
    description: Label | None = None
    source: Annotated[str | None, Field(max_length=500)] = None
    points_total: ExactDecimalField | None = None
    scope: FrameworkScope
    intake: Intake = Intake()
    variables: Annotated[list[Variable], Field(min_length=1, max_length=2000)]
    derived: list[Derived] = []
    checks: list[Check] = []
    nodes: Annotated[list[Node], Field(min_length=2, max_length=5000)]

    @model_validator(mode="after")
    def _valid(self) -> FrameworkDocument:
        problems = validate(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # ---------------------------------------------------------------- views (computed once per document)

    @cached_property
    def variables_by_name(self) -> dict[str, Variable]:
        return {v.name: v for v in self.variables}

    @cached_property
    def nodes_by_code(self) -> dict[str, Node]:
        return {n.code: n for n in self.nodes}

    @cached_property
    def children(self) -> dict[str | None, list[Node]]:
        out: dict[str | None, list[Node]] = {}
        for node in self.nodes:
            out.setdefault(node.parent, []).append(node)
        return out

    @cached_property
    def indicators(self) -> list[Node]:
        return [n for n in self.nodes if n.code not in self.children]

    @cached_property
    def root(self) -> Node:
        return self.children[None][0]

    @cached_property
    def levels(self) -> dict[str, int]:
        """COINr's numbering: indicators are level 1, each aggregate one above its highest child."""
        memo: dict[str, int] = {}

        def level(code: str) -> int:
            if code not in memo:
                kids = self.children.get(code, [])
                memo[code] = 1 if not kids else 1 + max(level(k.code) for k in kids)
            return memo[code]

        for node in self.nodes:
            level(node.code)
        return memo

    @cached_property
    def compiled_derived(self) -> dict[str, Formula]:
        return {d.name: formulas.parse(d.formula) for d in self.derived}

    @cached_property
    def compiled_checks(self) -> list[tuple[Check, Rule]]:
        return [(c, formulas.parse_rule(c.rule)) for c in self.checks]

    def indicator_formulas(self, node: Node) -> list[tuple[str | None, Formula]]:
        """(part code or None, formula) of an indicator; a value indicator reads its own variable."""
        if node.kind == "qualitative":
            return []
        if node.parts:
            return [(p.code, formulas.parse(p.formula)) for p in node.parts]
        return [(None, formulas.parse(node.formula or node.code))]

    @cached_property
    def input_variables(self) -> list[Variable]:
        return [v for v in self.variables if v.applies_to == "unit"]


def validate(doc: FrameworkDocument) -> list[str]:
    """Every problem of a framework document: tree, points, formulas, names (empty list: valid)."""
    problems: list[str] = []
    names = [v.name for v in doc.variables]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        problems.append(f"variables declared twice: {', '.join(dupes)}")
    derived_names = [d.name for d in doc.derived]
    clash = sorted(set(derived_names) & set(names) | {n for n in derived_names if derived_names.count(n) > 1})
    if clash:
        problems.append(f"derived quantities clash with a variable or each other: {', '.join(clash)}")
    known = set(names) | set(derived_names)
    numeric = {v.name for v in doc.variables if v.type != "category"} | set(derived_names)

    def check_formula(where: str, text: str) -> Formula | None:
        try:
            formula = formulas.parse(text)
        except FormulaError as exc:
            problems.append(f"{where}: {exc}")
            return None
        unknown = sorted((formula.names | formula.prev_names) - known)
        if unknown:
            problems.append(f"{where}: uses undeclared {', '.join(unknown)}")
        categorical = sorted((formula.names | formula.prev_names) & (known - numeric))
        if categorical:
            problems.append(f"{where}: uses category variable(s) {', '.join(categorical)} in arithmetic")
        return formula

    compiled: dict[str, Formula] = {}
    for d in doc.derived:
        formula = check_formula(f"derived {d.name}", d.formula)
        if formula is not None:
            compiled[d.name] = formula
    try:
        formulas.dependency_order(compiled)
    except FormulaError as exc:
        problems.append(str(exc))
    else:
        # prev() of a quantity that itself reads prev() would need two years back: not in the language
        def reads_prev(name: str) -> bool:
            f = compiled.get(name)
            return f is not None and (bool(f.prev_names) or any(reads_prev(n) for n in f.names))

        for where, f in [*((f"derived {n}", f) for n, f in compiled.items())]:
            nested = sorted(n for n in f.prev_names if reads_prev(n))
            if nested:
                problems.append(f"{where}: prev() of {', '.join(nested)}, which itself reads prev()")
    for check in doc.checks:
        try:
            rule = formulas.parse_rule(check.rule)
        except FormulaError as exc:
            problems.append(f"check {check.code}: {exc}")
            continue
        unknown = sorted(rule.names - known)
        if unknown:
            problems.append(f"check {check.code}: uses undeclared {', '.join(unknown)}")

    codes = [n.code for n in doc.nodes]
    dupes = sorted({c for c in codes if codes.count(c) > 1})
    if dupes:
        problems.append(f"node codes appear twice: {', '.join(dupes)}")
    by_code = {n.code: n for n in doc.nodes}
    roots = [n.code for n in doc.nodes if n.parent is None]
    if len(roots) != 1:
        problems.append(f"the tree has one root (the index); found {len(roots)}: {', '.join(roots) or 'none'}")
    for node in doc.nodes:
        if node.parent is not None and node.parent not in by_code:
            problems.append(f"node {node.code}: parent {node.parent} is not a node")
    # no cycle: walking up from any node reaches the root
    for node in doc.nodes:
        seen: set[str] = set()
        current: Node | None = node
        while current is not None and current.parent is not None:
            if current.code in seen:
                problems.append(f"node {node.code}: its parents form a cycle")
                break
            seen.add(current.code)
            current = by_code.get(current.parent)
    parents = {n.parent for n in doc.nodes}
    for node in doc.nodes:
        leaf = node.code not in parents
        where = f"indicator {node.code}" if leaf else f"node {node.code}"
        if leaf:
            if node.kind is None:
                problems.append(f"{where}: an indicator names its kind")
            elif node.kind == "qualitative":
                if node.formula or node.parts:
                    problems.append(f"{where}: a qualitative indicator has no formula (experts' scores)")
            elif node.kind == "compound":
                if not node.parts or len(node.parts) < 2 or node.formula:
                    problems.append(f"{where}: a compound indicator has two or more parts and no formula")
            elif node.parts:
                problems.append(f"{where}: only a compound indicator has parts")
            else:
                check_formula(where, node.formula or node.code)
            for part in node.parts or []:
                check_formula(f"{where} part {part.code}", part.formula)
            if node.denominator is not None and node.denominator not in numeric:
                problems.append(f"{where}: denominator {node.denominator} is not a numeric variable")
        elif node.kind is not None or node.formula or node.parts:
            problems.append(f"{where}: only an indicator (a leaf) has a kind, formula or parts")
        if node.weight is not None and node.weight < 0:
            problems.append(f"{where}: weight is negative")
        if doc.points_total is not None and node.points is None:
            problems.append(f"{where}: the framework counts points ({doc.points_total}); this node has none")
    if doc.points_total is not None and not problems:
        for node in doc.nodes:
            kids = [n for n in doc.nodes if n.parent == node.code]
            if kids:
                total = sum((k.points or Decimal(0) for k in kids), Decimal(0))
                if total != node.points:
                    problems.append(f"node {node.code}: its children's points sum to {total}, not {node.points}")
        root = by_code[roots[0]]
        if root.points != doc.points_total:
            problems.append(f"the index has {root.points} points, not points_total {doc.points_total}")
    if doc.intake.unit_column in known:
        problems.append(f"intake.unit_column {doc.intake.unit_column} is also a variable")
    return problems


def parse_document(raw: dict[str, Any]) -> FrameworkDocument:
    return FrameworkDocument.model_validate(raw)
