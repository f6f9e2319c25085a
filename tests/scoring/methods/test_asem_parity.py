"""The `asem-coinr` method on COINr's ASEM data equals COINr 1.1.14's own `build_example_coin()` results,
every stage, to 1e-9 (issue #5 §1). `coinr_default/` is a copy of ../shared/data/asem/coinr_default; the
input is COINr's data at 15 significant digits (`ASEM_iData_unrounded.csv`): the service's copy, rounded
to 10 fraction digits for the decimal contract, moves small denominated values by up to 1.5e-9 relative."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from services.scoring.frameworks.definition import FrameworkDocument
from services.scoring.frameworks.service import ASEM_FRAMEWORK, bundled_documents
from services.scoring.methods.cohort import CohortInput
from services.scoring.methods.definition import bundled
from services.scoring.methods.engine import Variant, compile, run
from services.scoring.methods.result import Result

COINR = Path(__file__).resolve().parent / "coinr_default"
GROUPS = ("GDP_group", "GDPpc_group", "Pop_group", "EurAsia_group")
DENOMINATORS = ("Area", "Energy", "GDP", "Population")


def number(text: str) -> float:
    return math.nan if text in ("", "NA") else float(text)


def table(name: str) -> dict[str, dict[str, str]]:
    with (COINR / name).open(encoding="utf-8", newline="") as f:
        return {row["uCode"]: row for row in csv.DictReader(f)}


@pytest.fixture(scope="module")
def framework() -> FrameworkDocument:
    return FrameworkDocument.model_validate(next(d for d in bundled_documents() if d["id"] == ASEM_FRAMEWORK))


@pytest.fixture(scope="module")
def cohort(framework: FrameworkDocument) -> CohortInput:
    rows = list(table("ASEM_iData_unrounded.csv").values())
    return CohortInput(
        units=[r["uCode"] for r in rows],
        values={n.code: np.array([number(r[n.code]) for r in rows]) for n in framework.indicators},
        denominators={v: np.array([number(r[v]) for r in rows]) for v in DENOMINATORS},
        groups={g: [r[g] or None for r in rows] for g in GROUPS},
    )


@pytest.fixture(scope="module")
def result(framework: FrameworkDocument, cohort: CohortInput) -> Result:
    return run(framework, bundled()["asem-coinr"], cohort)


def assert_matches(result: Result, got: np.ndarray, columns: tuple[str, ...], name: str, *, rtol: float,
                   atol: float) -> None:
    expected = table(name)
    assert set(expected) == set(result.units)
    checked = 0
    for i, unit in enumerate(result.units):
        for j, column in enumerate(columns):
            want = number(expected[unit][column])
            if math.isnan(want):
                assert math.isnan(got[i, j]), (unit, column)
                continue
            assert got[i, j] == pytest.approx(want, rel=rtol, abs=atol), (name, unit, column)
            checked += 1
    assert checked > 0.9 * len(result.units) * len(columns)


@pytest.mark.parametrize(("stage", "name"), [
    ("denominated", "dset_Denominated.csv"), ("imputed", "dset_Imputed.csv"), ("treated", "dset_Treated.csv"),
])
def test_data_stages_equal_coinr(result: Result, stage: str, name: str) -> None:
    # raw-unit values range over 12 orders of magnitude: relative 1e-9 (COINr's files keep 15 digits)
    assert_matches(result, getattr(result, stage), result.cells, name, rtol=1e-9, atol=1e-300)


def test_normalised_indicators_and_every_aggregate_equal_coinr(result: Result) -> None:
    assert_matches(result, result.normalised, result.cells, "dset_Normalised.csv", rtol=1e-9, atol=1e-9)
    assert_matches(result, result.scores, result.nodes, "dset_Aggregated.csv", rtol=1e-9, atol=1e-9)
    agg = table("results.csv")
    for node in result.aggregates:  # pillars, sub-indices, the index
        got = result.score(node)
        for i, unit in enumerate(result.units):
            assert got[i] == pytest.approx(number(agg[unit][node]), rel=1e-9, abs=1e-9), (unit, node)


def test_ranks_equal_coinr(result: Result) -> None:
    agg = table("results.csv")
    for node in result.aggregates:
        ranks = result.rank(node)
        assert [int(r) for r in ranks] == [int(agg[u][f"Rank_{node}"]) for u in result.units], node


def test_treatment_log_equals_coinr(result: Result) -> None:
    with (COINR / "treat_details.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["iCode"] for r in rows} == set(result.treat_details)
    winsorised = {}
    for row in rows:
        d = result.treat_details[row["iCode"]]
        assert d.pass0 is (row["check_SkewKurt0.Pass"] == "TRUE")
        assert d.skew0 == pytest.approx(float(row["check_SkewKurt0.Skew"]), rel=1e-9, abs=1e-12)
        assert d.kurt0 == pytest.approx(float(row["check_SkewKurt0.Kurt"]), rel=1e-9, abs=1e-12)
        if row["winsorise.nwin"]:
            winsorised[row["iCode"]] = int(row["winsorise.nwin"])
            assert d.nwin == int(row["winsorise.nwin"])
            assert d.pass1 is (row["check_SkewKurt1.Pass"] == "TRUE")
            assert d.skew1 == pytest.approx(float(row["check_SkewKurt1.Skew"]), rel=1e-9)
            assert d.kurt1 == pytest.approx(float(row["check_SkewKurt1.Kurt"]), rel=1e-9)
        else:
            assert d.nwin is None
    assert not result.log_transformed  # COINr log-transforms none of ASEM's indicators
    cells = list(result.cells)
    for code, nwin in winsorised.items():  # the points moved, as many as COINr counts
        assert result.winsorised[:, cells.index(code)].sum() == nwin


def test_imputation_by_group_mean_is_traced(result: Result, cohort: CohortInput) -> None:
    i, j = np.argwhere(result.imputed_mask)[0]
    unit, cell = result.units[i], result.cells[j]
    steps = result.trace(unit, cell)
    order = [s["op"] for s in steps]
    assert order[0] == "raw" and order[-1] == "aggregate"
    assert order.index("impute") < order.index("screen") < order.index("treat") < order.index("normalise")
    assert "denominate" not in order or order.index("denominate") < order.index("impute")
    impute = next(s for s in steps if s["op"] == "impute")
    assert impute["rule"] == {"rule": "group_mean", "group": "EurAsia_group"}
    group = cohort.groups["EurAsia_group"][i]
    peers = [result.denominated[k, j] for k in range(len(result.units))
             if cohort.groups["EurAsia_group"][k] == group and not math.isnan(result.denominated[k, j])]
    assert impute["value"] == pytest.approx(sum(peers) / len(peers), rel=1e-12)


def test_variants_reuse_the_compiled_method(framework: FrameworkDocument, cohort: CohortInput,
                                            result: Result) -> None:
    compiled = compile(framework, bundled()["asem-coinr"])
    same = compiled.run(cohort)
    assert np.array_equal(same.scores, result.scores, equal_nan=True)
    untreated = compiled.run(cohort, Variant(treat=False))
    assert not untreated.treat_details and np.array_equal(untreated.treated, untreated.imputed, equal_nan=True)
    heavier = compiled.run(cohort, Variant(weights={"Conn": 3.0}))
    conn, sust = result.score("Conn"), result.score("Sust")
    assert heavier.total == pytest.approx((3 * conn + sust) / 4, rel=1e-12)
