"""COINr's documented uncertainty specification (vignette "sensitivity", `asem-coinr-sa`) on ASEM with the
`asem-coinr` method: the nominal ranks are COINr's, the draws cover every alternative, and replications
equal the engine's own runs of the variants they drew (winmax, z-scores, geometric mean, noisy weights)."""

from __future__ import annotations

import numpy as np
import pytest

from services.scoring.frameworks.definition import FrameworkDocument
from services.scoring.methods import definition as md
from services.scoring.methods.cohort import CohortInput
from services.scoring.methods.engine import Compiled, Variant
from services.scoring.uncertainty import spec as us
from services.scoring.uncertainty.analysis import UncertaintyResult, run
from tests.scoring.methods.test_asem_parity import table
from tests.scoring.uncertainty.conftest import asem_cohort

METHOD = md.bundled()["asem-coinr"]
SPEC = us.bundled()["asem-coinr-sa"]


@pytest.fixture(scope="module")
def result(asem: FrameworkDocument) -> UncertaintyResult:
    return run(asem, METHOD, asem_cohort(asem), SPEC)


def test_the_specification_is_coinrs(result: UncertaintyResult) -> None:
    assert SPEC.replications == 100  # get_sensitivity(coin, SA_specs, N = 100, SA_type = "UA")
    assert [t.winmax for t in SPEC.treat.alternatives or []] == [1, 2, 3, 4, 5]  # type: ignore[union-attr]
    assert SPEC.normalise == [md.MinMax(method="minmax", lo=1, hi=100), md.ZScore(method="zscore", mean=10, sd=2)]
    assert SPEC.aggregate == ["amean", "gmean"]
    assert {(e.level, e.noise) for e in SPEC.weights_noise or []} == {(2, 0.25), (3, 0.25)}


def test_nominal_ranks_are_coinrs_and_every_alternative_is_drawn(result: UncertaintyResult) -> None:
    coinr = table("results.csv")
    assert [int(r) for r in result.nominal_rank] == [int(coinr[u]["Rank_Index"]) for u in result.units]
    for dim, k in (("treat", 5), ("normalise", 2), ("aggregate", 2)):
        drawn = result.draws.choices[dim]
        assert drawn is not None and set(drawn.tolist()) == set(range(k))
    n = len(result.units)
    assert (result.ranked == 100).all()  # z-scores around 10 stay positive: every geometric mean scores
    for row in result.ranks:  # each replication a ranking of all units
        assert sorted(row.tolist())[0] == 1 and max(row) <= n
    assert (result.p05_rank <= result.median_rank).all() and (result.median_rank <= result.p95_rank).all()
    assert result.last_share.sum() >= 1.0 - 1e-12  # someone is last in every replication
    assert (result.p95_rank > result.p05_rank).any()


def test_replications_equal_the_engine_runs_of_their_variants(asem: FrameworkDocument,
                                                              result: UncertaintyResult) -> None:
    reps = SPEC.replications
    rng = np.random.default_rng(SPEC.seed)
    treat, norm, agg = rng.integers(0, 5, reps), rng.integers(0, 2, reps), rng.integers(0, 2, reps)
    u = rng.random((reps, len(asem.nodes)))
    noise = np.array([0.25 if asem.levels[n.code] in (2, 3) else 0.0 for n in asem.nodes])
    for r in range(0, reps, 7):
        operations = [md.Treat(op="treat", default=md.SkewKurt(method="coinr_skew_kurt", winmax=int(treat[r]) + 1))
                      if o.op == "treat" else md.Aggregate(op="aggregate", method=("amean", "gmean")[agg[r]])
                      if o.op == "aggregate" else o for o in METHOD.operations]
        compiled = Compiled(asem, METHOD.model_copy(update={"operations": operations}))
        weights = {n.code: float(n.weight) + (u[r, j] * 2 - 1) * noise[j] * float(n.weight)
                   for j, n in enumerate(asem.nodes)}
        engine = compiled.run(asem_cohort(asem), Variant(normalise=(SPEC.normalise or [])[norm[r]], weights=weights))
        np.testing.assert_array_equal(result.ranks[r], engine.rank(), err_msg=str(r))


def test_seconds_per_replication_is_reported(result: UncertaintyResult) -> None:
    assert 0 < result.seconds_per_replication == result.seconds / 100
    assert result.summary()["spec"]["replications"] == 100


def test_a_warm_cohort_gives_the_same_answer(asem: FrameworkDocument, result: UncertaintyResult) -> None:
    cohort: CohortInput = asem_cohort(asem)
    run(asem, METHOD, cohort, SPEC.model_copy(update={"replications": 3}))  # stages now cached
    again = run(asem, METHOD, cohort, SPEC)
    assert np.array_equal(again.ranks, result.ranks, equal_nan=True)
