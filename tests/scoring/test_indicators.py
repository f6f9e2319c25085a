"""The 26 raw values: exact, explained, explicit about what cannot be computed; checked against a
computation written here from SPEC 3.1 (nothing imported from services/)."""

from __future__ import annotations

import decimal
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.scoring.conftest import REGIONAL_HITECH, Services

D = Decimal
COOPERATION = ("rd_commissioned_domestic_institutes", "rd_commissioned_domestic_universities",
               "rd_commissioned_domestic_enterprises", "rd_commissioned_overseas", "tech_import_spend",
               "tech_absorption_spend")
COUNTS = ("incubated_enterprises", "employees", "innovation_platforms", "legal_entities", "invention_patents",
          "hitech_enterprises", "tech_smes", "vc_backed_enterprises", "introduced_platforms",
          "introduced_hitech_enterprises", "introduced_tech_smes", "st_service_institutions")
AMOUNTS = ("operating_revenue", "rd_expenditure", "fiscal_st_expenditure", "general_budget_expenditure",
           "incubation_area_m2", "tech_contract_turnover", "industrial_revenue", "industrial_output",
           "developed_area_ha", "stock_land_ha", "co2_emissions", "hitech_exports", "absorbed_tech_contract_turnover",
           "disposable_fiscal_capacity", *COOPERATION)


def expected(cur: dict[str, Decimal], prev: dict[str, Decimal] | None) -> dict[str, Decimal | str]:
    """SPEC 3.1's formulas, one by one, in decimal with 34 digits; 'undefined:<reason>' when not computable."""
    out: dict[str, Decimal | str] = {}
    ctx = decimal.Context(prec=34)

    def div(a: Decimal | str, b: Decimal | str) -> Decimal | str:
        if isinstance(a, str):
            return a
        if isinstance(b, str):
            return b
        return "undefined:division-by-zero" if b == 0 else ctx.divide(a, b)

    def sub(a: Decimal | str, b: Decimal | str) -> Decimal | str:
        return a if isinstance(a, str) else b if isinstance(b, str) else ctx.subtract(a, b)

    def p(name: str) -> Decimal | str:
        return "undefined:no-previous-year" if prev is None else prev[name]

    c = cur
    out["1.1"] = div(c["rd_expenditure"], c["operating_revenue"])
    out["1.2"] = div(c["fiscal_st_expenditure"], c["general_budget_expenditure"])
    out["1.3a"] = div(c["incubated_enterprises"], ctx.divide(c["incubation_area_m2"], D(1000)))
    out["1.3b"] = c["incubation_area_m2"]
    out["1.4"] = div(c["rd_personnel_fte"], c["employees"])
    out["1.5"] = div(c["innovation_platforms"], ctx.divide(c["legal_entities"], D(100)))
    out["1.6"] = div(c["invention_patents"], ctx.divide(c["employees"], D(10000)))
    out["1.7"] = div(c["tech_contract_turnover"], c["employees"])
    out["2.1"] = sub(c["hitech_enterprises"], p("hitech_enterprises"))
    out["2.2"] = sub(c["tech_smes"], p("tech_smes"))
    share_mfg = div(c["hightech_mfg_revenue"], c["industrial_revenue"])
    share_svc = div(c["hightech_service_revenue"], c["operating_revenue"])
    prev_mfg = div(p("hightech_mfg_revenue"), p("industrial_revenue")) if prev else p("hightech_mfg_revenue")
    prev_svc = div(p("hightech_service_revenue"), p("operating_revenue")) if prev else p("operating_revenue")
    out["2.3a"], out["2.3b"] = share_mfg, sub(share_mfg, prev_mfg)
    out["2.4a"], out["2.4b"] = share_svc, sub(share_svc, prev_svc)
    out["2.5"] = c["vc_backed_enterprises"]
    out["2.6a"] = div(c["industrial_output"], c["developed_area_ha"])
    out["2.6b"] = div(c["revitalized_land_ha"], c["stock_land_ha"])
    out["2.7"] = div(sub(c["co2_emissions"], p("co2_emissions")), p("co2_emissions"))
    cooperation = D(0)
    for name in COOPERATION:
        cooperation = ctx.add(cooperation, c[name])
    out["3.1"] = div(cooperation, c["operating_revenue"])
    out["3.2"], out["3.3"], out["3.4"] = (c["introduced_platforms"], c["introduced_hitech_enterprises"],
                                          c["introduced_tech_smes"])
    out["3.5"] = div(c["hitech_exports"], c["operating_revenue"])
    out["3.6"] = c["absorbed_tech_contract_turnover"]
    out["4.1"] = c["st_service_institutions"]
    out["4.4"] = c["disposable_fiscal_capacity"]
    for code in ("2.8", "4.2", "4.3", "4.5"):
        out[code] = "undefined:qualitative"
    return out


def served(body: dict[str, Any]) -> dict[str, Decimal | str]:
    out: dict[str, Decimal | str] = {}
    for ind in body["indicators"]:
        for part in ind.get("parts") or [ind]:
            key = ind["code"] + (part["code"] if ind.get("parts") else "")
            out[key] = D(part["value"]) if part["value"] is not None else f"undefined:{part['undefined']['code']}"
    return out


amount = st.decimals(min_value=0, max_value=D("1e9"), places=4, allow_nan=False, allow_infinity=False)
count = st.integers(min_value=0, max_value=10**6)


@st.composite
def zone_year(draw: st.DrawFn) -> dict[str, Decimal]:
    v = {name: draw(amount) for name in AMOUNTS}
    v.update({name: D(draw(count)) for name in COUNTS})
    v["rd_personnel_fte"] = draw(st.decimals(min_value=0, max_value=v["employees"], places=1))
    v["hightech_mfg_revenue"] = draw(st.decimals(min_value=0, max_value=v["industrial_revenue"], places=4))
    v["hightech_service_revenue"] = draw(st.decimals(min_value=0, max_value=v["operating_revenue"], places=4))
    v["revitalized_land_ha"] = draw(st.decimals(min_value=0, max_value=v["stock_land_ha"], places=4))
    return v


def as_json(values: dict[str, Decimal]) -> dict[str, str]:
    return {k: format(v, "f") for k, v in values.items()}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cur=zone_year(), prev=st.one_of(st.none(), zone_year()))
async def test_served_raw_values_equal_a_straightforward_computation(services: Services, cur: dict[str, Decimal],
                                                                     prev: dict[str, Decimal] | None) -> None:
    year = 2024 if prev is not None else 2010  # 2009 never has data: 2010 is a first year
    if prev is not None:
        r = await services.scoring.put(f"/zones/{REGIONAL_HITECH}/years/{year - 1}/data",
                                       json={"values": as_json(prev)}, headers=services.headers())
        assert r.status_code in (200, 201), r.text
    r = await services.scoring.put(f"/zones/{REGIONAL_HITECH}/years/{year}/data", json={"values": as_json(cur)},
                                   headers=services.headers())
    assert r.status_code in (200, 201), r.text
    body = (await services.scoring.get(f"/zones/{REGIONAL_HITECH}/years/{year}/indicators",
                                       headers=services.headers("observer"))).json()
    assert served(body) == expected(cur, prev)


async def test_indicators_name_formulas_inputs_and_revisions(services: Services) -> None:
    base = {"operating_revenue": "1000", "rd_expenditure": "25", "co2_emissions": "100", "incubation_area_m2": "0",
            "incubated_enterprises": 3, "employees": 300, "rd_personnel_fte": "30"}
    path = f"/zones/{REGIONAL_HITECH}/years/"
    assert (await services.scoring.put(path + "2023/data", json={"values": base},
                                       headers=services.headers())).status_code == 201
    assert (await services.scoring.put(path + "2024/data", json={"values": {**base, "co2_emissions": "90"}},
                                       headers=services.headers())).status_code == 201
    body = (await services.scoring.get(path + "2024/indicators", headers=services.headers("observer"))).json()
    by = {i["code"]: i for i in body["indicators"]}
    assert by["1.1"]["value"] == "0.025" and by["1.1"]["formula"] == "rd_expenditure / operating_revenue"
    assert by["1.1"]["inputs"] == {"operating_revenue": "1000", "rd_expenditure": "25"}
    assert by["2.7"]["value"] == "-0.1" and by["2.7"]["previous_year_inputs"] == {"co2_emissions": "100"}
    assert by["2.7"]["direction"] == -1
    part_a = by["1.3"]["parts"][0]
    assert part_a["value"] is None and part_a["undefined"]["code"] == "division-by-zero"
    assert by["1.2"]["undefined"]["code"] == "missing-input"
    assert by["4.3"]["undefined"]["code"] == "qualitative"
    assert body["data_revision"]["revision"] == 1 and body["previous_year_revision"]["year"] == 2023
    assert body["synthetic"] is False
    first = (await services.scoring.get(path + "2023/indicators", headers=services.headers("observer"))).json()
    assert {i["code"]: i for i in first["indicators"]}["2.1"]["undefined"]["code"] in ("no-previous-year",
                                                                                        "missing-input")
    assert (await services.scoring.get(path + "2019/indicators",
                                       headers=services.headers("observer"))).status_code == 404
