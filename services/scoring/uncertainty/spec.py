"""What a Monte Carlo uncertainty analysis of a ranking varies (issue #5 §4): the request as data. Pure.

Each uncertain choice is optional; a replication draws one value of each (uniformly among alternatives,
as COINr's `get_sensitivity` with `Type = "discrete"`), independently:

- `impute`: imputation rules, one applied to every undefined value (the engine's `Variant.impute`);
- `treat`: outlier treatments, one applied to every indicator (e.g. COINr's `winmax` 1..5, or `none`),
  or `on_probability`: the method's own treatment with that probability, none otherwise;
- `normalise`: normalisations, one applied to every indicator (the engine's `Variant.normalise`);
- `aggregate`: aggregation methods (`amean`, `gmean`, `points_sum` where the framework allows);
- `weights_noise`: COINr's `get_noisy_weights`: each weight w of a level (COINr's numbering, indicators
  are 1) or of a node becomes w + (2u − 1)·f·w, u uniform on [0, 1), i.e. uniform within ±f·w; a node's
  own entry wins over its level's. With `points_sum` a node's weight is its points; a group's draw
  multiplies its indicators' points (the group's points are theirs summed).

`parse(raw)` gives the spec or raises `SpecInvalid` whose problems each name a JSON pointer into the request
(`MethodProblem`, as method documents do, so an endpoint answers 422 with `methods.store.problems_out`);
`validate(spec, framework, method)` adds what only the framework and the method can tell.

Shipped (`definitions/`, `bundled()`): `asem-coinr-sa` mirrors the uncertainty analysis of COINr 1.1.14's
vignette "sensitivity" on `build_example_coin()` (ASEM): SA_specs Winmax = 1:5 (`$Log$Treat$global_specs
$f1_para$winmax`), Normalisation = n_minmax c(1, 100) or n_zscore c(10, 2), Weights = get_noisy_weights(
Level = c(2, 3), NoiseFactor = c(0.25, 0.25)), Aggregation = a_amean or a_gmean; get_sensitivity(N = 100,
SA_type = "UA", dset = "Aggregated", iCode = "Index"). COINr samples among 100 pre-drawn weight sets; here
each replication draws its own."""

from __future__ import annotations

import json
from functools import cache
from itertools import product
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, model_validator

from services.scoring.frameworks.definition import FrameworkDocument
from services.scoring.methods import definition as md
from services.scoring.methods.definition import MethodProblem

DEFINITIONS = Path(__file__).resolve().parent / "definitions"
MAX_REPLICATIONS = 20_000
MAX_ALTERNATIVES = 12
MAX_CELLS = 40_000_000  # replications × units kept as ranks (float32: 160 MB)
SEED_MAX = 2**53 - 1  # an integer every JSON reader keeps exactly (RFC 8785, I-JSON)


class SpecInvalid(ValueError):
    def __init__(self, problems: list[MethodProblem]) -> None:
        super().__init__("; ".join(f"{p.pointer}: {p.reason}" for p in problems))
        self.problems = problems


class WeightNoise(md.Strict):
    """±`noise`·w, uniform, on every weight of a `level` or on one `node` (exactly one of the two)."""

    level: Annotated[int, Field(ge=1, le=20)] | None = None
    node: Annotated[str, Field(min_length=1, max_length=63)] | None = None
    noise: Annotated[md.Finite, Field(ge=0, lt=1)]

    @model_validator(mode="after")
    def _one_target(self) -> WeightNoise:
        if (self.level is None) == (self.node is None):
            raise ValueError("give exactly one of level or node")
        return self


class TreatChoice(md.Strict):
    """Alternatives drawn uniformly, or the method's own treatment switched on with a probability."""

    alternatives: Annotated[list[md.TreatSpec], Field(min_length=1, max_length=MAX_ALTERNATIVES)] | None = None
    on_probability: Annotated[md.Finite, Field(ge=0, le=1)] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> TreatChoice:
        if (self.alternatives is None) == (self.on_probability is None):
            raise ValueError("give exactly one of alternatives or on_probability")
        return self


Alternatives = Field(min_length=1, max_length=MAX_ALTERNATIVES)


class UncertaintySpec(md.Strict):
    replications: Annotated[int, Field(ge=1, le=MAX_REPLICATIONS)]
    seed: Annotated[int, Field(ge=0, le=SEED_MAX)] | None = None  # None: one is chosen and returned
    impute: Annotated[list[md.ImputeRule], Alternatives] | None = None
    treat: TreatChoice | None = None
    normalise: Annotated[list[md.NormaliseSpec], Alternatives] | None = None
    aggregate: Annotated[list[Literal["points_sum", "amean", "gmean"]], Alternatives] | None = None
    weights_noise: Annotated[list[WeightNoise], Field(min_length=1, max_length=100)] | None = None
    description: Annotated[str, Field(max_length=2000)] | None = None


def parse(raw: Any) -> UncertaintySpec:
    """The request checked for shape, or SpecInvalid naming each problem's JSON pointer."""
    try:
        return UncertaintySpec.model_validate(raw)
    except ValidationError as exc:
        raise SpecInvalid(md._problems_of(raw, exc)) from None


# ------------------------------------------------------------------------------------------ variant methods


def variant_method(method: md.MethodDocument, *, treat: Any = None, aggregate: str | None = None) -> md.MethodDocument:
    """The method with another treatment and/or aggregation method (its weights kept). `treat`: None keeps
    the method's; False removes it; True keeps the method's or adds COINr's default (the engine's
    `Variant(treat=True)`); a treatment spec applies to every indicator (`method: none` removes it)."""
    spec: Any = None
    if treat is True:
        spec = method.op("treat") or md.Treat(op="treat")
    elif treat is not None and treat is not False and treat.method != "none":
        spec = md.Treat(op="treat", default=treat)
    operations: list[Any] = []
    for o in method.operations:
        if o.op == "treat" and treat is not None:
            if spec is not None:
                operations.append(spec)  # replaced where the method has it
            continue
        if o.op == "normalise" and spec is not None and method.op("treat") is None:
            operations.append(spec)  # added right before normalisation
        if o.op == "aggregate" and aggregate is not None:
            o = md.Aggregate(op="aggregate", method=aggregate, weights=o.weights)  # type: ignore[arg-type]
        operations.append(o)
    return method.model_copy(update={"operations": operations})


def _never_positive(spec: Any) -> bool:
    """A normalisation whose cohort minimum is always ≤ 0: a geometric mean could never score the unit
    holding it (COINr's a_gmean stops on it). z-scores and others may be positive: those are run, and a
    unit meeting a value ≤ 0 is left unranked in that replication."""
    return (isinstance(spec, md.MinMax) and spec.lo <= 0) or isinstance(spec, md.PRank) or (
        isinstance(spec, md.Efficacy) and spec.base <= 0)


# ------------------------------------------------------------------------------------------ validation


def validate(spec: UncertaintySpec, framework: FrameworkDocument, method: md.MethodDocument,
             units: int | None = None) -> list[MethodProblem]:
    """Problems of a parsed spec against the framework and the method it varies (empty list: valid)."""
    out: list[MethodProblem] = []

    def bad(path: tuple[str | int, ...], reason: str, code: str) -> None:
        out.append(MethodProblem(path, reason, code))

    if units is not None and spec.replications * units > MAX_CELLS:
        bad(("replications",), f"{spec.replications} replications × {units} units exceeds {MAX_CELLS:,} ranks; "
            f"at most {MAX_CELLS // max(units, 1)} for this cohort", "too-many-replications")
    levels = set(framework.levels.values())
    seen_levels: set[int] = set()
    seen_nodes: set[str] = set()
    for i, entry in enumerate(spec.weights_noise or []):
        if entry.level is not None:
            if entry.level not in levels:
                bad(("weights_noise", i, "level"), f"{framework.id} has no level {entry.level} (levels "
                    f"{min(levels)}..{max(levels)}, indicators are 1)", "unknown-level")
            elif entry.level in seen_levels:
                bad(("weights_noise", i, "level"), f"level {entry.level} is given twice", "duplicate")
            seen_levels.add(entry.level)
        elif entry.node is not None:
            if entry.node not in framework.nodes_by_code:
                bad(("weights_noise", i, "node"), f"{entry.node} is not a node of {framework.id}", "unknown-node")
            elif entry.node in seen_nodes:
                bad(("weights_noise", i, "node"), f"node {entry.node} is given twice", "duplicate")
            seen_nodes.add(entry.node)
    for k, rule in enumerate(spec.impute or []):
        variant = method.model_copy(update={"operations": [md.Impute(op="impute", default=rule),
                                                           *method.operations]})
        for p in md.validate(variant, framework):
            if p.path[:2] == ("operations", 0):
                bad(("impute", k, *p.path[3:]), p.reason, p.code)
    _combinations(spec, framework, method, bad)
    return out


def _combinations(spec: UncertaintySpec, framework: FrameworkDocument, method: md.MethodDocument,
                  bad: Any) -> None:
    """Each normalisation × aggregation the spec can draw must suit the framework (e.g. points_sum needs
    points and values within [0, 1]; gmean needs values that can be positive)."""
    norms: list[tuple[int | None, Any]] = list(enumerate(spec.normalise)) if spec.normalise else [(None, None)]
    aggs: list[tuple[int | None, str | None]] = list(enumerate(spec.aggregate)) if spec.aggregate else \
        [(None, None)]
    reported: set[tuple[Any, ...]] = set()
    for (i, norm), (j, agg) in product(norms, aggs):
        variant = variant_method(method, aggregate=agg)
        if norm is not None:
            variant = variant.model_copy(update={"operations": [
                md.Normalise(op="normalise", default=norm) if o.op == "normalise" else o
                for o in variant.operations]})
        n_at = next(k for k, o in enumerate(variant.operations) if o.op == "normalise")
        a_at = next(k for k, o in enumerate(variant.operations) if o.op == "aggregate")
        kind = agg or method.op("aggregate").method
        with_agg = f"with aggregate {kind}: "
        for p in md.validate(variant, framework):
            if p.code == "normalisation-not-positive":
                normalise = variant.op("normalise")
                spec_n = normalise.default if p.path[2:3] == ("default",) else normalise.overrides.get(p.path[3])
                if not _never_positive(spec_n):
                    continue
            if i is None and j is None:
                continue  # the method itself
            if p.path[:2] == ("operations", n_at):
                where: tuple[str | int, ...] = ("normalise", i) if i is not None else ("aggregate", j or 0)
                reason = (with_agg + p.reason) if i is not None else f"the method's normalisation: {p.reason}"
            elif p.path[:2] == ("operations", a_at) and j is not None:
                where, reason = ("aggregate", j), p.reason
            else:
                continue  # a problem of the method itself, not of the spec
            if (where, p.code) not in reported:
                reported.add((where, p.code))
                bad(where, reason, p.code)


def check(raw: Any, framework: FrameworkDocument, method: md.MethodDocument,
          units: int | None = None) -> UncertaintySpec:
    """Shape, then against the framework and method: the spec, or SpecInvalid with every problem."""
    spec = parse(raw)
    problems = validate(spec, framework, method, units)
    if problems:
        raise SpecInvalid(problems)
    return spec


@cache
def bundled() -> dict[str, UncertaintySpec]:
    """The specifications shipped with the service (`definitions/*.json`), by file name."""
    return {path.stem: parse(json.loads(path.read_text(encoding="utf-8")))
            for path in sorted(DEFINITIONS.glob("*.json"))}
