"""Policy targets for a zone (SPEC 6): the bundled targets whose scope matches the zone, evaluated on the
zone's data, its league's and the region's (framework nmg-hitech-2022)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.eligibility.service import FRAMEWORK_ID, ZONE_FIELDS, load_inputs
from services.scoring.targets import definition, rules
from services.scoring.targets.definition import Target


def applicable(zone: dict[str, Any]) -> list[Target]:
    """The targets whose scope matches the zone (kind, level, status, league or the zone's own code)."""
    doc, _ = definition.bundled()
    return [t for t in doc.targets if t.applies_to(zone)]


async def zone_targets(session: AsyncSession, zone: dict[str, Any], year: int) -> dict[str, Any]:
    """The answer of GET /zones/{zone_id}/targets: each applicable target's value, threshold, gap, status."""
    doc, framework = definition.bundled()
    targets = applicable(zone)
    years: set[int] = set()
    for target in targets:
        years |= rules.years_needed(target, year)
    inputs = await load_inputs(session, zone["code"], zone["league_code"], years, role="zone")
    applies_to = {v.name: v.applies_to for v in framework.variables}
    results = [rules.evaluate(t, year, inputs.zone, inputs.league, inputs.region, applies_to).as_dict()
               for t in targets]
    counts = Counter(r["status"] for r in results)
    return {
        "zone": {k: zone.get(k) for k in ZONE_FIELDS}, "framework": FRAMEWORK_ID, "targets_version": doc.version,
        "year": year, "units": {"zone": zone["code"], "league": zone["league_code"], "region": "150000"},
        "summary": {s: counts.get(s, 0) for s in (rules.MET, rules.NOT_MET, rules.TARGET_UNKNOWN,
                                                  rules.NOT_COMPUTABLE)},
        "measures": definition.MEASURES, "gap_meaning": "threshold − value for ≥ and > (positive: still short), "
                                                        "value − threshold for ≤ and <",
        "targets": results, "data_revisions": inputs.revisions, "synthetic": inputs.synthetic,
    }
