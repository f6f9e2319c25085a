"""The guards of the process definition: named, pure functions of what is known about an application
(no I/O). Each returns None when it holds, else the reason it fails, for /actions and for the 409."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class MaterialFact:
    item: str
    version: int
    round: int  # the application's review round when it was uploaded


@dataclass(frozen=True, slots=True)
class GuardContext:
    """What the guards read: the application's state and round, its materials, panel and opinions."""

    state: str
    round: int
    required_items: tuple[str, ...] = ()
    revised_items: tuple[str, ...] = ()
    materials: tuple[MaterialFact, ...] = ()
    experts: frozenset[str] = field(default_factory=frozenset)  # assigned, not removed
    opinions: frozenset[str] = field(default_factory=frozenset)  # experts who gave an opinion this round
    min_experts: int = 1
    # the latest version of each item when the revision was requested (None: no revision requested)
    revision_baseline: Mapping[str, int] | None = None
    # joint transitions (002 art. 6(三)): the roles that have signed each one in the current state
    signed: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


Guard = Callable[[GuardContext], str | None]


def required_materials_present(ctx: GuardContext) -> str | None:
    """Every required item of the checklist has at least one uploaded version (002 art. 5)."""
    present = {m.item for m in ctx.materials}
    missing = [item for item in ctx.required_items if item not in present]
    return f"missing materials: {', '.join(missing)}" if missing else None


def experts_assigned(ctx: GuardContext) -> str | None:
    """The expert panel has at least `min_experts` members (002 art. 6(二))."""
    if len(ctx.experts) < ctx.min_experts:
        return f"no expert panel: {len(ctx.experts)} expert(s) assigned, at least {ctx.min_experts} needed"
    return None


def all_opinions_in(ctx: GuardContext) -> str | None:
    """Every assigned expert has given an opinion in the current round."""
    if not ctx.experts:
        return "no expert is assigned"
    outstanding = sorted(ctx.experts - ctx.opinions)
    if outstanding:
        return f"opinions outstanding in round {ctx.round} from: {', '.join(outstanding)}"
    return None


def revised_plans_uploaded(ctx: GuardContext) -> str | None:
    """Each plan the revision concerns has a version newer than the one current when the revision was
    requested (002 art. 6(二): the league revises its development plan and implementation plan).

    Versions, not clocks: the baseline is the latest version of each item recorded with the request."""
    if ctx.revision_baseline is None:
        return "no revision was requested: there is no baseline of the plans to revise"
    baseline = ctx.revision_baseline
    missing = [item for item in ctx.revised_items
               if not any(m.item == item and m.version > baseline.get(item, 0) for m in ctx.materials)]
    return f"no revised version since the revision was requested: {', '.join(missing)}" if missing else None


def latest_versions(materials: tuple[MaterialFact, ...]) -> dict[str, int]:
    """The latest version of each item: the baseline a revision is measured against (002 art. 6(二))."""
    out: dict[str, int] = {}
    for m in materials:
        out[m.item] = max(out.get(m.item, 0), m.version)
    return dict(sorted(out.items()))


GUARDS: dict[str, Guard] = {
    g.__name__: g for g in (required_materials_present, experts_assigned, all_opinions_in, revised_plans_uploaded)
}

# The rows of the database each guard reads beyond the application and its panel ("materials": every
# version; "opinions": the current round's), so a transition loads only what its guards need.
READS: dict[str, frozenset[str]] = {
    "required_materials_present": frozenset({"materials"}),
    "experts_assigned": frozenset(),
    "all_opinions_in": frozenset({"opinions"}),
    "revised_plans_uploaded": frozenset({"materials"}),
}
if READS.keys() != GUARDS.keys():  # a new guard says what it reads
    raise RuntimeError(f"guards.READS does not cover {sorted(GUARDS.keys() ^ READS.keys())}")


def describe(name: str) -> str:
    """The guard's rule in one sentence (its docstring's first paragraph)."""
    doc = GUARDS[name].__doc__ or name
    return " ".join(doc.split("\n\n")[0].split())
