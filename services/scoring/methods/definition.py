"""A scoring method as data (issue #5 §1, SPEC 8.1): the ordered operations that turn a cohort's raw
indicator values into normalised values, points, aggregates and ranks. Validated when loaded, against the
framework it is applied to; immutable once used (a change is a new version). Pure apart from reading the
bundled files in `definitions/`.

`parse(raw, framework)` returns the document or raises `MethodInvalid` whose `problems` each name a JSON
pointer into the document and the reason; `validate(method, framework)` gives those of a parsed document."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError

from services.scoring.frameworks.definition import FrameworkDocument
from services.scoring.methods.specs import (  # re-exported: the document's pieces
    REASONS,
    TRANSFORMS,
    Aggregate,
    CohortMean,
    CohortMedian,
    Compound,
    Denominate,
    Efficacy,
    Finite,
    Fixed,
    Frontier,
    Goalposts,
    GroupMean,
    GroupMedian,
    Impute,
    ImputeRule,
    Label,
    Leave,
    MinMax,
    Missing,
    Normalise,
    NormaliseSpec,
    NoTreatment,
    Operation,
    PRank,
    Qualitative,
    Reason,
    Round,
    Screen,
    SkewKurt,
    Strict,
    Text,
    Treat,
    TreatSpec,
    ZScore,
)

__all__ = [  # the document, its checks, and (re-exported from specs) its pieces
    "DEFINITIONS",
    "METHOD_ID",
    "REASONS",
    "TRANSFORMS",
    "Aggregate",
    "CohortMean",
    "CohortMedian",
    "Compound",
    "Denominate",
    "Efficacy",
    "Finite",
    "Fixed",
    "Frontier",
    "Goalposts",
    "GroupMean",
    "GroupMedian",
    "Impute",
    "ImputeRule",
    "Label",
    "Leave",
    "MethodDocument",
    "MethodInvalid",
    "MethodProblem",
    "MinMax",
    "Missing",
    "NoTreatment",
    "Normalise",
    "NormaliseSpec",
    "Operation",
    "PRank",
    "Qualitative",
    "Reason",
    "Round",
    "Screen",
    "SkewKurt",
    "Strict",
    "Text",
    "Treat",
    "TreatSpec",
    "ZScore",
    "bundled",
    "parse",
    "validate",
]
DEFINITIONS = Path(__file__).resolve().parent / "definitions"
METHOD_ID = r"^[a-z0-9][a-z0-9\-]{1,62}$"


class MethodDocument(Strict):
    id: Annotated[str, Field(pattern=METHOD_ID)]
    version: Annotated[int, Field(ge=1, le=2**31 - 1)]  # an INTEGER column (int4 on PostgreSQL)
    name: Label
    description: Text | None = None
    frameworks: list[str] | Literal["any"] = "any"
    operations: Annotated[list[Operation], Field(min_length=2, max_length=20)]

    def op(self, kind: str) -> Any:
        """The operation of that kind, or None."""
        return next((o for o in self.operations if o.op == kind), None)

    @property
    def missing_policy(self) -> str:
        found = self.op("missing")
        return found.policy if found else "zero_flagged"


# ------------------------------------------------------------------------------------------ validation


@dataclass(frozen=True, slots=True)
class MethodProblem:
    path: tuple[str | int, ...]
    reason: str
    code: str

    @property
    def pointer(self) -> str:
        """RFC 6901 JSON pointer into the method document."""
        return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in self.path)


class MethodInvalid(ValueError):
    def __init__(self, problems: list[MethodProblem]) -> None:
        super().__init__("; ".join(f"{p.pointer}: {p.reason}" for p in problems))
        self.problems = problems


_ORDER_RULES = "denominate, impute, screen and treat come before normalise; round comes after aggregate"


def _bounded_unit(spec: Any) -> str | None:
    """Why a normalisation cannot feed points_sum (value × points needs values within [0, 1]), or None."""
    if isinstance(spec, MinMax) and (spec.lo < 0 or spec.hi > 1):
        return f"minmax onto [{spec.lo:g}, {spec.hi:g}] is not within [0, 1]"
    if isinstance(spec, Efficacy) and not spec.scaled:
        return "efficacy without `scaled` gives 60..100, not within [0, 1]"
    if isinstance(spec, Goalposts) and spec.scale > 1:
        return f"goalposts scaled by {spec.scale:g} exceed 1"
    if isinstance(spec, ZScore):
        return "zscore is unbounded"
    if isinstance(spec, Frontier):
        return "frontier (x / max) is unbounded below when values can be negative"
    return None


def _positive(spec: Any) -> bool:
    """Whether a normalisation gives strictly positive values (COINr's a_gmean refuses zero or less)."""
    return (isinstance(spec, MinMax) and spec.lo > 0) or (isinstance(spec, Efficacy) and spec.base > 0)


def validate(method: MethodDocument, framework: FrameworkDocument | None = None) -> list[MethodProblem]:
    """Every problem of a parsed method, alone and against the framework (empty list: valid)."""
    out: list[MethodProblem] = []

    def bad(path: tuple[str | int, ...], reason: str, code: str) -> None:
        out.append(MethodProblem(path, reason, code))

    ops = method.operations
    kinds = [o.op for o in ops]
    for i, kind in enumerate(kinds):
        if kind in kinds[:i]:
            bad(("operations", i, "op"), f"operation {kind} appears twice", "duplicate-operation")
    for required in ("normalise", "aggregate"):
        if required not in kinds:
            bad(("operations",), f"a method needs a {required} operation", "missing-operation")
    if "normalise" in kinds and "aggregate" in kinds:
        n_at, a_at = kinds.index("normalise"), kinds.index("aggregate")
        for i, kind in enumerate(kinds):
            if (kind in TRANSFORMS and i > n_at) or (kind == "aggregate" and i < n_at) or (
                    kind == "round" and i < a_at):
                bad(("operations", i, "op"), f"{kind} is out of order: {_ORDER_RULES}", "operation-order")

    for i, o in enumerate(ops):
        if isinstance(o, Normalise):
            specs: list[tuple[tuple[str | int, ...], Any]] = [(("default",), o.default)]
            specs += [(("overrides", k), s) for k, s in o.overrides.items()]
            for where, spec in specs:
                at: tuple[str | int, ...] = ("operations", i, *where)
                if isinstance(spec, MinMax | Goalposts) and spec.lo >= spec.hi:
                    what = "goalposts" if isinstance(spec, Goalposts) else "minmax bounds"
                    bad((*at, "hi"), f"{what} inverted: lo ({spec.lo:g}) is not below hi ({spec.hi:g})",
                        "bounds-inverted")
        if isinstance(o, Aggregate):
            for node, w in o.weights.items():
                if w < 0:
                    bad(("operations", i, "weights", node), f"weight {w:g} is negative", "negative-weight")
        if isinstance(o, Compound):
            splits: list[tuple[tuple[str | int, ...], dict[str, float]]] = [(("split",), o.split)]
            splits += [(("overrides", k), s) for k, s in o.overrides.items()]
            for where, split in splits:
                at = ("operations", i, *where)
                for part, share in split.items():
                    if share < 0:
                        bad((*at, part), f"share {share:g} is negative", "negative-weight")
                if split and sum(split.values()) <= 0:
                    bad(at, "the shares sum to zero", "zero-shares")
    if framework is not None:
        out += _against_framework(method, framework)
    return out


def _against_framework(method: MethodDocument, fw: FrameworkDocument) -> list[MethodProblem]:
    out: list[MethodProblem] = []

    def bad(path: tuple[str | int, ...], reason: str, code: str) -> None:
        out.append(MethodProblem(path, reason, code))

    if method.frameworks != "any" and fw.id not in method.frameworks:
        bad(("frameworks",), f"the method is not declared for framework {fw.id}", "framework-not-suited")
    indicators = {n.code: n for n in fw.indicators}
    groups = {v.name for v in fw.variables if v.type == "category"}
    numeric = {v.name for v in fw.variables if v.type != "category"}

    def known_indicators(i: int, key: str, codes: Any) -> None:
        for code in codes:
            if code not in indicators:
                bad(("operations", i, key, code), f"{code} is not an indicator of {fw.id}", "unknown-indicator")

    def group_rule(path: tuple[str | int, ...], rule: Any) -> None:
        if isinstance(rule, GroupMean | GroupMedian) and rule.group not in groups:
            bad((*path, "group"), f"{rule.group} is not a category (group) variable of {fw.id}",
                "unknown-group-variable")

    agg = method.op("aggregate")
    norm = method.op("normalise")
    qual = method.op("qualitative")
    for i, o in enumerate(method.operations):
        if isinstance(o, Denominate):
            known_indicators(i, "overrides", o.overrides)
            for code, var in o.overrides.items():
                if var is not None and var not in numeric:
                    bad(("operations", i, "overrides", code), f"{var} is not a numeric variable of {fw.id}",
                        "unknown-variable")
        elif isinstance(o, Impute):
            known_indicators(i, "overrides", o.overrides)
            group_rule(("operations", i, "default"), o.default)
            for reason, rule in o.by_reason.items():
                group_rule(("operations", i, "by_reason", reason), rule)
            for code, rule in o.overrides.items():
                group_rule(("operations", i, "overrides", code), rule)
        elif isinstance(o, Treat | Normalise):
            known_indicators(i, "overrides", o.overrides)
        elif isinstance(o, Compound):
            for code, split in o.overrides.items():
                node = indicators.get(code)
                if node is None or not node.parts:
                    bad(("operations", i, "overrides", code), f"{code} is not a compound indicator of {fw.id}",
                        "unknown-indicator")
                    continue
                for part in split:
                    if part not in {p.code for p in node.parts}:
                        bad(("operations", i, "overrides", code, part), f"{code} has no part {part}", "unknown-part")
            for node in indicators.values():
                if node.parts and node.code not in o.overrides:
                    used = [p.code for p in node.parts if o.optional_parts or not p.optional]
                    missing = [p for p in used if p not in o.split]
                    if missing:
                        bad(("operations", i, "split"), f"no share for part(s) {', '.join(missing)} of {node.code}",
                            "unknown-part")
        elif isinstance(o, Aggregate):
            for code in o.weights:
                if code not in fw.nodes_by_code:
                    bad(("operations", i, "weights", code), f"{code} is not a node of {fw.id}", "unknown-node")
            if o.method == "points_sum":
                if fw.points_total is None:
                    bad(("operations", i, "method"), f"points_sum needs a framework with points; {fw.id} has "
                        "weights", "framework-has-no-points")
                if norm is not None:
                    n_at = method.operations.index(norm)
                    for key, spec in [("default", norm.default), *norm.overrides.items()]:
                        why = _bounded_unit(spec)
                        if why:
                            path = ("operations", n_at, "default") if key == "default" else (
                                "operations", n_at, "overrides", key)
                            bad(path, f"points_sum multiplies by points: {why}", "normalisation-unbounded")
            if o.method == "gmean" and norm is not None:
                n_at = method.operations.index(norm)
                for key, spec in [("default", norm.default), *norm.overrides.items()]:
                    if not _positive(spec):
                        path = ("operations", n_at, "default") if key == "default" else (
                            "operations", n_at, "overrides", key)
                        bad(path, "gmean needs strictly positive normalised values (e.g. minmax with lo > 0, "
                            "efficacy)", "normalisation-not-positive")
    qualitative = [n for n in indicators.values() if n.kind == "qualitative"]
    if qualitative and (qual is None or qual.scale == "points"):
        for node in qualitative:
            if node.points is None:
                at = ("operations", method.operations.index(qual)) if qual else ("operations",)
                bad(at, f"qualitative indicator {node.code} has no points to scale experts' scores by",
                    "framework-has-no-points")
    if agg is not None and agg.method in ("amean", "gmean"):
        for node in fw.nodes:
            if node.parent is not None and agg.weights.get(node.code, node.weight) is None:
                bad(("operations", method.operations.index(agg), "weights"),
                    f"node {node.code} has no weight in {fw.id} and none is given", "missing-weight")
    return out


def _document_path(raw: Any, loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    """The part of pydantic's `loc` that indexes the document (union tags and type names dropped)."""
    path: list[str | int] = []
    here: Any = raw
    for p in loc:
        if isinstance(here, dict) and p in (here.get("op"), here.get("method"), here.get("rule")) and p not in here:
            continue  # the tag of a discriminated union
        if isinstance(here, dict) and isinstance(p, str) and p in here:
            path.append(p)
            here = here[p]
        elif isinstance(here, list) and isinstance(p, int) and 0 <= p < len(here):
            path.append(p)
            here = here[p]
        elif isinstance(here, dict) and isinstance(p, str) and p not in _TAG_LIKE:
            path.append(p)  # a missing field, or a key of a mapping not in the document
            here = None
    return tuple(path)


_TAG_LIKE = {"str", "int", "float", "bool", "list[str]", "literal['any']", "dict[str,str]"}


def _problems_of(raw: Any, exc: ValidationError) -> list[MethodProblem]:
    out = []
    for err in exc.errors(include_url=False):
        path = _document_path(raw, tuple(err["loc"]))
        ctx = err.get("ctx", {})
        if err["type"] == "union_tag_invalid":
            field = str(ctx.get("discriminator", "")).strip("'")
            code = "unknown-operation" if field == "op" else "unknown-choice"
            what = "operation" if field == "op" else field
            out.append(MethodProblem((*path, field), f"unknown {what} {ctx.get('tag')!r}", code))
        elif err["type"] == "union_tag_not_found":
            field = str(ctx.get("discriminator", "")).strip("'")
            out.append(MethodProblem((*path, field), f"{field} is required", "missing"))
        else:
            out.append(MethodProblem(path, str(err["msg"]), str(err["type"])))
    return out


def parse(raw: Any, framework: FrameworkDocument | None = None) -> MethodDocument:
    """A method document checked in full (shape, then against the framework), or MethodInvalid."""
    try:
        method = MethodDocument.model_validate(raw)
    except ValidationError as exc:
        raise MethodInvalid(_problems_of(raw, exc)) from None
    problems = validate(method, framework)
    if problems:
        raise MethodInvalid(problems)
    return method


@cache
def bundled() -> dict[str, MethodDocument]:
    """The methods shipped with the service (`definitions/*.json`), by id; shape-checked here, and against
    their frameworks by the tests and by whoever applies them."""
    out = {}
    for path in sorted(DEFINITIONS.glob("*.json")):
        method = parse(json.loads(path.read_text(encoding="utf-8")))
        out[method.id] = method
    return out
