"""The Monte Carlo on the 002 framework: reproducible from its seed, nominal when nothing varies, every
replication equal to the engine's own run of the variant it drew, and an independent NumPy computation of
the same replications (min-max, arithmetic mean, noisy weights) giving the same ranks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from services.scoring.frameworks.definition import FrameworkDocument
from services.scoring.methods import definition as md
from services.scoring.methods.cohort import CohortInput
from services.scoring.methods.engine import Variant, compile
from services.scoring.uncertainty import spec as us
from services.scoring.uncertainty.analysis import UncertaintyResult, run

NMG = md.bundled()["nmg-default"]
VARIED = {"normalise": [{"method": "minmax"}, {"method": "efficacy"}, {"method": "prank"}],
          "weights_noise": [{"level": 1, "noise": 0.25}], "treat": {"on_probability": 0.5}}


def analyse(framework: FrameworkDocument, cohort: CohortInput, method: md.MethodDocument = NMG,
            **raw: Any) -> UncertaintyResult:
    return run(framework, method, cohort, us.parse(raw))


def same(a: UncertaintyResult, b: UncertaintyResult) -> bool:
    arrays = ("ranks", "nominal_rank", "median_rank", "mean_rank", "p05_rank", "p95_rank", "last_share", "ranked")
    return a.seed == b.seed and all(np.array_equal(getattr(a, k), getattr(b, k), equal_nan=True) for k in arrays)


def test_same_seed_same_answer_bit_for_bit(nmg: FrameworkDocument, zones: Callable[[int], CohortInput]) -> None:
    a = analyse(nmg, zones(40), replications=300, seed=42, **VARIED)
    b = analyse(nmg, zones(40), replications=300, seed=42, **VARIED)
    assert same(a, b)
    assert a.ranks.tobytes() == b.ranks.tobytes() and a.median_rank.tobytes() == b.median_rank.tobytes()
    assert all(np.array_equal(a.draws.choices[k], b.draws.choices[k]) for k in ("treat", "normalise"))
    assert a.draws.noise is not None and b.draws.noise is not None
    assert np.array_equal(a.draws.noise, b.draws.noise)
    # and the ranks did move: the analysis is not trivially nominal
    assert (a.ranks != a.nominal_rank[None, :]).any()


def test_a_different_seed_draws_differently(nmg: FrameworkDocument, zones: Callable[[int], CohortInput]) -> None:
    a = analyse(nmg, zones(40), replications=300, seed=42, **VARIED)
    b = analyse(nmg, zones(40), replications=300, seed=43, **VARIED)
    assert a.draws.noise is not None and b.draws.noise is not None
    assert not np.array_equal(a.draws.noise, b.draws.noise)
    assert not np.array_equal(a.draws.choices["normalise"], b.draws.choices["normalise"])
    assert not np.array_equal(a.ranks, b.ranks)


def test_without_a_seed_one_is_chosen_returned_and_reproduces(nmg: FrameworkDocument,
                                                              zones: Callable[[int], CohortInput]) -> None:
    a = analyse(nmg, zones(25), replications=50, **VARIED)
    assert isinstance(a.seed, int) and 0 <= a.seed < 2**63
    assert a.summary()["seed"] == a.seed
    assert same(a, analyse(nmg, zones(25), replications=50, seed=a.seed, **VARIED))


def test_one_replication_without_uncertain_choices_is_the_nominal_ranking(
        nmg: FrameworkDocument, zones: Callable[[int], CohortInput]) -> None:
    cohort = zones(40)
    got = analyse(nmg, cohort, replications=1, seed=1)
    nominal = compile(nmg, NMG).run(zones(40)).rank()
    np.testing.assert_array_equal(got.nominal_rank, nominal)
    np.testing.assert_array_equal(got.ranks[0], nominal)
    for stat in (got.median_rank, got.p05_rank, got.p95_rank, got.mean_rank):
        np.testing.assert_array_equal(stat, nominal)
    assert got.last_share.tolist() == [1.0 if r == nominal.max() else 0.0 for r in nominal]


def test_zero_weight_noise_leaves_every_replication_nominal(nmg: FrameworkDocument,
                                                            zones: Callable[[int], CohortInput]) -> None:
    got = analyse(nmg, zones(40), replications=200, seed=9,
                  weights_noise=[{"level": 1, "noise": 0.0}, {"level": 2, "noise": 0.0}])
    assert (got.ranks == got.nominal_rank[None, :]).all()
    assert got.draws.noise is not None and not got.draws.noise.any()


@pytest.mark.parametrize("method_id", ["nmg-default", "nmg-prank"])  # prank: treatment "on" adds COINr's default
def test_every_replication_equals_the_engine_run_of_the_variant_it_drew(
        nmg: FrameworkDocument, zones: Callable[[int], CohortInput], method_id: str) -> None:
    cohort = zones(40)
    seed, reps = 5, 60
    method = md.bundled()[method_id]
    got = analyse(nmg, cohort, method, replications=reps, seed=seed, **VARIED)
    # the draws, in the documented order, with the same generator
    rng = np.random.default_rng(seed)
    on = rng.random(reps) < 0.5
    norm = rng.integers(0, 3, reps)
    u = rng.random((reps, len(nmg.nodes)))
    compiled = compile(nmg, method)
    indicators = {n.code for n in nmg.indicators}
    for r in range(reps):
        weights = {n.code: float(n.points) * (1.0 + (u[r, j] * 2 - 1) * 0.25)  # level 1: the indicators' points
                   for j, n in enumerate(nmg.nodes) if n.code in indicators}
        variant = Variant(normalise=md.MinMax(method="minmax") if norm[r] == 0 else
                          md.Efficacy(method="efficacy") if norm[r] == 1 else md.PRank(method="prank"),
                          treat=bool(on[r]), weights=weights)
        np.testing.assert_array_equal(got.ranks[r], compiled.run(zones(40), variant).rank(), err_msg=str(r))


def test_group_noise_scales_the_points_of_the_groups_indicators(nmg: FrameworkDocument,
                                                                zones: Callable[[int], CohortInput]) -> None:
    """points_sum has no group weights: a group's draw multiplies its indicators' points."""
    got = analyse(nmg, zones(30), replications=20, seed=3, weights_noise=[{"node": "2", "noise": 0.5}])
    rng = np.random.default_rng(3)
    u = rng.random((20, len(nmg.nodes)))
    j2 = [n.code for n in nmg.nodes].index("2")
    compiled = compile(nmg, NMG)
    for r in range(20):
        factor = 1.0 + (u[r, j2] * 2 - 1) * 0.5
        weights = {n.code: float(n.points) * factor for n in nmg.indicators if n.parent == "2"}
        np.testing.assert_array_equal(got.ranks[r], compiled.run(zones(30), Variant(weights=weights)).rank())


# ------------------------------------------------------------------ an independent computation


def small_cohort(framework: FrameworkDocument, n: int) -> CohortInput:
    rng = np.random.default_rng(8)
    return CohortInput(units=[f"U{i}" for i in range(n)],
                       values={c.code: rng.lognormal(0, 1, n) for c in framework.indicators})


def test_an_independent_numpy_computation_gives_the_same_rank_distribution(asem: FrameworkDocument) -> None:
    """min-max 0–100 + weighted arithmetic mean on ASEM's tree, weights ±20 % at levels 1–3: the sampling
    and the scoring written again here with the same Generator, ranks compared exactly."""
    method = md.parse({"id": "plain", "version": 1, "name": {"en": "plain"}, "operations": [
        {"op": "normalise", "default": {"method": "minmax", "lo": 0, "hi": 100}},
        {"op": "aggregate", "method": "amean"}]}, asem)
    n, reps, seed = 15, 400, 2024
    got = run(asem, method, small_cohort(asem, n), us.parse({
        "replications": reps, "seed": seed, "weights_noise": [{"level": lv, "noise": 0.2} for lv in (1, 2, 3)]}))

    raw = small_cohort(asem, n).values
    nodes = asem.nodes
    rng = np.random.default_rng(seed)
    u = rng.random((reps, len(nodes)))
    level = np.array([asem.levels[x.code] for x in nodes])
    w0 = np.array([float(x.weight) for x in nodes])
    weights = w0 + (u * 2 - 1) * np.where(level <= 3, 0.2, 0.0) * w0  # COINr's get_noisy_weights
    index = {x.code: j for j, x in enumerate(nodes)}
    score: dict[str, np.ndarray] = {}
    for x in asem.indicators:
        v = raw[x.code] * x.direction
        score[x.code] = np.broadcast_to((v - v.min()) / (v.max() - v.min()) * 100, (reps, n))

    def aggregate(code: str) -> np.ndarray:
        if code not in score:
            kids = [k.code for k in asem.children[code]]
            num = sum(aggregate(k) * weights[:, index[k]][:, None] for k in kids)
            den = sum(weights[:, index[k]] for k in kids)
            score[code] = num / den[:, None]
        return score[code]

    total = aggregate(asem.root.code)
    expected = 1 + (total[:, None, :] > total[:, :, None]).sum(axis=2)  # units scoring strictly higher, + 1
    np.testing.assert_array_equal(got.ranks, expected)
    assert len({tuple(row) for row in expected}) > 10  # the ranking does vary
    np.testing.assert_array_equal(got.median_rank, np.percentile(expected, 50, axis=0))
    np.testing.assert_array_equal(got.p95_rank, np.percentile(expected, 95, axis=0))
    np.testing.assert_array_equal(got.last_share, (expected == n).mean(axis=0))


def test_imputation_alternatives_can_leave_units_unranked(asem: FrameworkDocument, asem_data: CohortInput) -> None:
    """Without imputation some ASEM units fall below the 0.9 screening threshold: unranked in those
    replications, their statistics over the others."""
    impute = [{"rule": "leave"}, {"rule": "group_mean", "group": "EurAsia_group"}]
    got = run(asem, md.bundled()["asem-coinr"], asem_data, us.parse({"replications": 60, "seed": 4, "impute": impute}))
    choice = got.draws.choices["impute"]
    assert choice is not None
    dropped = np.isnan(got.ranks).any(axis=0)
    assert dropped.any() and not np.isnan(got.nominal_rank).any()
    # unranked exactly in the replications that did not impute, and ranked in all the others
    for j in np.flatnonzero(dropped):
        np.testing.assert_array_equal(np.isnan(got.ranks[:, j]), choice == 0)
        assert got.ranked[j] == (choice == 1).sum()
        assert got.median_rank[j] == pytest.approx(np.median(got.ranks[choice == 1, j]))
    assert (got.ranked[~dropped] == 60).all()
