"""The demonstration data set `make run` loads: plausible synthetic figures for every zone in the 002
framework's scope (and the league/region reference figures), so that a newcomer sees indicators and
eligibility at once. Every revision is marked `synthetic`; the first real post for a zone-year becomes
its next revision and replaces it. Deterministic (seeded by unit and year); loads only zone-years that
have no data at all, so a second `make run` adds nothing."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

from services.scoring.clients.registry import RegistryClient
from services.scoring.data import repository as repo
from services.scoring.data import service
from services.scoring.data.service import REGION_CODE, SHANGHAI, Incoming, UnitKind
from services.scoring.frameworks import service as frameworks
from services.scoring.frameworks.service import DEFAULT_FRAMEWORK
from shared.auth import Principal, Role
from shared.db import Database

DEMO = Principal(sub="demo-data", role=Role.service)
YEARS = 4  # the four calendar years before this one


def _q(x: float, places: int = 2) -> Decimal:
    return Decimal(repr(round(x, places)))


def zone_figures(code: str, year: int) -> dict[str, Any]:
    """One zone-year: a zone-specific size and growth path, ratios in the ranges seen in the region."""
    size = random.Random(f"size:{code}").uniform(0.3, 3.0)  # the zone's scale, stable across years
    growth = 1 + random.Random(f"growth:{code}").uniform(-0.02, 0.12)
    rng = random.Random(f"{code}:{year}")
    t = growth ** (year - 2020) * size
    revenue = 1_500_000 * t * rng.uniform(0.95, 1.05)  # 10k CNY: ~15 bn CNY for a mid-sized zone
    employees = int(25_000 * t * rng.uniform(0.95, 1.05))
    industrial = revenue * rng.uniform(0.55, 0.8)
    stock = rng.uniform(50, 400)
    hitech = int(30 * t * rng.uniform(0.8, 1.2))
    smes = int(60 * t * rng.uniform(0.8, 1.2))
    return {
        "operating_revenue": _q(revenue), "rd_expenditure": _q(revenue * rng.uniform(0.005, 0.025)),
        "fiscal_st_expenditure": _q(8_000 * t * rng.uniform(0.6, 1.4)),
        "general_budget_expenditure": _q(400_000 * t * rng.uniform(0.8, 1.2)),
        "fiscal_data_level": rng.choice(["zone", "county"]),
        "incubation_area_m2": _q(rng.uniform(5_000, 60_000), 0), "incubated_enterprises": rng.randint(10, 120),
        "rd_personnel_fte": _q(employees * rng.uniform(0.01, 0.06), 1), "employees": employees,
        "innovation_platforms": rng.randint(5, 40), "legal_entities": int(900 * t * rng.uniform(0.8, 1.2)),
        "invention_patents": int(400 * t * rng.uniform(0.7, 1.3)),
        "tech_contract_turnover": _q(20_000 * t * rng.uniform(0.5, 1.5)),
        "hitech_enterprises": hitech, "tech_smes": smes,
        "hightech_mfg_revenue": _q(industrial * rng.uniform(0.05, 0.35)), "industrial_revenue": _q(industrial),
        "hightech_service_revenue": _q(revenue * rng.uniform(0.01, 0.1)),
        "vc_backed_enterprises": rng.randint(0, 15), "industrial_output": _q(industrial * rng.uniform(1.0, 1.15)),
        "developed_area_ha": _q(rng.uniform(800, 4_000), 1), "stock_land_ha": _q(stock, 1),
        "revitalized_land_ha": _q(stock * rng.uniform(0.05, 0.6), 1),
        "co2_emissions": _q(2_000_000 * t * rng.uniform(0.8, 1.2), 0),
        "rd_commissioned_domestic_institutes": _q(revenue * rng.uniform(0, 0.001)),
        "rd_commissioned_domestic_universities": _q(revenue * rng.uniform(0, 0.001)),
        "rd_commissioned_domestic_enterprises": _q(revenue * rng.uniform(0, 0.001)),
        "rd_commissioned_overseas": _q(revenue * rng.uniform(0, 0.0002)),
        "tech_import_spend": _q(revenue * rng.uniform(0, 0.0005)),
        "tech_absorption_spend": _q(revenue * rng.uniform(0, 0.0002)),
        "introduced_platforms": rng.randint(0, 5), "introduced_hitech_enterprises": rng.randint(0, 6),
        "introduced_tech_smes": rng.randint(0, 12), "hitech_exports": _q(revenue * rng.uniform(0, 0.03)),
        "absorbed_tech_contract_turnover": _q(5_000 * t * rng.uniform(0.3, 1.7)),
        "st_service_institutions": rng.randint(3, 30),
        "disposable_fiscal_capacity": _q(30_000 * t * rng.uniform(0.6, 1.4)),
        "leading_industry_revenue": _q(revenue * rng.uniform(0.6, 0.85)),
        "hightech_industry_revenue": _q(revenue * rng.uniform(0.2, 0.4)),
        "total_enterprises": int(1_200 * t * rng.uniform(0.8, 1.2)), "new_type_rd_institutions": rng.randint(0, 8),
    }


def reference_figures(unit: str, year: int) -> dict[str, Any]:
    rng = random.Random(f"reference:{unit}:{year}")
    if unit == REGION_CODE:
        return {"region_growth_operating_revenue": _q(rng.uniform(0.03, 0.09), 4),
                "region_growth_industrial_output": _q(rng.uniform(0.03, 0.1), 4),
                "region_hitech_enterprises": rng.randint(1_800, 2_600)}
    return {"league_rd_growth": _q(rng.uniform(-0.02, 0.15), 4),
            "league_invention_patents_per_10k": _q(rng.uniform(1.0, 8.0), 2),
            "league_fdi_used": _q(rng.uniform(5_000, 90_000), 1)}


async def load_demo(db: Database, registry: RegistryClient, *, this_year: int | None = None) -> dict[str, int]:
    """Synthetic figures for the zone-years (and reference figures) that have no data; returns counts."""
    this_year = this_year or dt.datetime.now(SHANGHAI).year
    years = range(this_year - YEARS, this_year)
    counts = {"zone_years": 0, "reference_years": 0}
    async with db.transaction(write=True) as session:
        row, doc = await frameworks.current(session, DEFAULT_FRAMEWORK)
        cohort = (doc.scope.registry or [])[0]  # the evaluated cohort: regional high-tech zones
        zones = await registry.list_zones(kind=",".join(cohort.kind), level=",".join(cohort.level))
        leagues = sorted(await registry.leagues())
        for year in years:
            existing = await repo.latest_revisions(session, DEFAULT_FRAMEWORK, year)
            plan: list[tuple[UnitKind, list[str], Any]] = [
                ("unit", sorted({z["code"] for z in zones}), zone_figures),
                ("league", leagues, reference_figures), ("region", [REGION_CODE], reference_figures)]
            for kind, units, make in plan:
                items = [Incoming(None, None, u, make(u, year), "synthetic demonstration data")
                         for u in units if u not in existing]
                if not items:
                    continue
                await service.post(session, registry, framework=row, doc=doc, kind=kind, year=year,
                                   items=items, principal=DEMO, channel="demo", dry_run=False,
                                   yoy_factor=Decimal(1000), synthetic=True)
                counts["zone_years" if kind == "unit" else "reference_years"] += len(items)
    return counts
