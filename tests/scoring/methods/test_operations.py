"""Each operation against a reference written here from COINr's definition (plain Python, not the code
under test), and properties with hypothesis."""

from __future__ import annotations

import math
import statistics
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.scoring.methods import operations as ops
from services.scoring.methods import treatment as tr

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False)


def spread(values: list[float]) -> bool:
    return max(values) - min(values) > 1e-6 * max(1.0, max(abs(v) for v in values))


# ------------------------------------------------------------------ skewness, kurtosis (e1071 type 2)


def ref_skew(x: list[float]) -> float:
    n = len(x)
    m = sum(x) / n
    m2 = sum((v - m) ** 2 for v in x) / n
    m3 = sum((v - m) ** 3 for v in x) / n
    return m3 / m2 ** 1.5 * math.sqrt(n * (n - 1)) / (n - 2)


def ref_kurt(x: list[float]) -> float:
    n = len(x)
    m = sum(x) / n
    m2 = sum((v - m) ** 2 for v in x) / n
    m4 = sum((v - m) ** 4 for v in x) / n
    g2 = m4 / m2 ** 2 - 3
    return ((n + 1) * g2 + 6) * (n - 1) / ((n - 2) * (n - 3))


@settings(max_examples=60, deadline=None)
@given(st.lists(finite, min_size=4, max_size=40).filter(spread))
def test_skew_and_kurtosis_follow_e1071_type_2(values: list[float]) -> None:
    assert tr.skew(np.array(values)) == pytest.approx(ref_skew(values), rel=1e-7, abs=1e-7)
    assert tr.kurt(np.array(values)) == pytest.approx(ref_kurt(values), rel=1e-7, abs=1e-7)


def test_skew_ignores_missing_values_and_needs_spread() -> None:
    x = [1.0, 2.0, 7.0, 30.0, 4.0]
    assert tr.skew(np.array([*x, np.nan])) == pytest.approx(ref_skew(x))
    assert math.isnan(tr.skew(np.array([2.0, 2.0, 2.0, 2.0])))
    passing, _, _ = tr.check_skew_kurt(np.array([2.0, 2.0, 2.0, 2.0]))
    assert passing is None  # R's NA: COINr returns the vector untreated


def test_check_fails_only_when_both_thresholds_are_exceeded() -> None:
    x = np.array([*range(1, 11), 30.0, 100.0])  # COINr's vignette example
    passing, sk, ku = tr.check_skew_kurt(x)
    assert sk >= 2 and ku >= 3.5 and passing is False
    passing, sk, ku = tr.check_skew_kurt(x, skew_max=2, kurt_max=ref_kurt(list(x)) + 0.1)
    assert passing is True  # skew too high but kurtosis below its threshold: passes (OR)


# ------------------------------------------------------------------ winsorise, log_CT, treat


def ref_winsorise(x: list[float], winmax: int) -> tuple[list[float], int]:
    """COINr's loop, in plain Python: move the top (or bottom) tie group to the next value."""
    x = list(x)
    last_hi: set[int] = set()
    last_lo: set[int] = set()
    nwin = 0

    def fails(v: list[float]) -> bool:
        return abs(ref_skew(v)) >= 2 and ref_kurt(v) >= 3.5

    while fails(x) and nwin < winmax:
        if ref_skew(x) >= 0:
            top = max(x)
            last_hi = {i for i, v in enumerate(x) if v == top}
            nxt = max(v for v in x if v != top)
            x = [nxt if i in last_hi else v for i, v in enumerate(x)]
        else:
            bottom = min(x)
            last_lo = {i for i, v in enumerate(x) if v == bottom}
            nxt = min(v for v in x if v != bottom)
            x = [nxt if i in last_lo else v for i, v in enumerate(x)]
        nwin = len(last_hi) + len(last_lo)
    return x, nwin


@pytest.mark.parametrize("values", [
    [*range(1, 11), 30, 100],
    [*range(1, 21), 90, 90, 400],  # a tie group at the top moves as one
    [-500, -480, *range(1, 30)],  # low outliers: winsorised from below
    [*range(1, 15), 1000, 2000, 4000, 8000, 16000, 32000, 64000],  # cannot pass within 5 points
])
def test_winsorise_moves_one_tie_group_at_a_time(values: list[float]) -> None:
    expected, nwin = ref_winsorise([float(v) for v in values], 5)
    got = tr.winsorise(np.array(values, dtype=float), winmax=5)
    assert got.x.tolist() == expected
    assert got.nwin == nwin
    assert (got.high | got.low).sum() >= 1


def test_treat_falls_back_to_log_ct_of_the_original_values() -> None:
    x = np.array([*range(1, 15), 1000, 2000, 4000, 8000, 16000, 32000, 64000], dtype=float)
    treated, detail, _ = tr.treat(x, winmax=1)
    lo, hi = x.min(), x.max()
    assert detail.pass0 is False and detail.pass1 is False and detail.log
    assert treated.tolist() == pytest.approx([math.log(v - lo + 0.01 * (hi - lo)) for v in x])
    treated, detail, _ = tr.treat(x, winmax=1, fallback="none")
    assert not detail.log and treated.max() < x.max()


def test_treat_leaves_a_passing_indicator_alone() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    treated, detail, wins = tr.treat(x)
    assert treated.tolist() == x.tolist() and detail.pass0 is True and detail.nwin is None and not wins.any()


# ------------------------------------------------------------------ normalisations


@settings(max_examples=60, deadline=None)
@given(st.lists(finite, min_size=2, max_size=30).filter(spread), st.floats(-10, 10), st.floats(0.5, 100))
def test_minmax_maps_onto_the_bounds_and_reverses_with_direction(values: list[float], lo: float, width: float) -> None:
    x = np.array(values)[:, None]
    hi = lo + width
    y = ops.n_minmax(x, lo, hi)[:, 0]
    assert y.min() == pytest.approx(lo) and y.max() == pytest.approx(hi)
    assert all(lo - 1e-9 <= v <= hi + 1e-9 for v in y)
    mn, mx = min(values), max(values)
    assert y.tolist() == pytest.approx([(v - mn) / (mx - mn) * (hi - lo) + lo for v in values])
    flipped = ops.n_minmax(-x, 0, 1)[:, 0]  # direction −1: the engine multiplies by −1 first, as COINr
    assert flipped.tolist() == pytest.approx([(mx - v) / (mx - mn) for v in values], abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.lists(finite, min_size=3, max_size=30).filter(spread))
def test_zscore_has_mean_zero_and_sd_one(values: list[float]) -> None:
    z = ops.n_zscore(np.array(values)[:, None])[:, 0]
    assert statistics.fmean(z) == pytest.approx(0, abs=1e-9)
    assert statistics.stdev(z) == pytest.approx(1, rel=1e-9)
    z = ops.n_zscore(np.array(values)[:, None], mean=100, sd=10)[:, 0]
    assert statistics.fmean(z) == pytest.approx(100) and statistics.stdev(z) == pytest.approx(10)


def test_prank_ties_share_the_lowest_rank() -> None:
    x = np.array([[3.0], [1.0], [3.0], [2.0], [np.nan]])
    assert ops.n_prank(x)[:4, 0].tolist() == pytest.approx([2 / 3, 0, 2 / 3, 1 / 3])
    assert math.isnan(ops.n_prank(x)[4, 0])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-5, 5), min_size=2, max_size=30))
def test_ranks_follow_r_ties_min(values: list[int]) -> None:
    x = np.array(values, dtype=float)
    ascending = ops.rank_min(x)
    descending = ops.rank_min(x, descending=True)
    for i, v in enumerate(values):
        assert ascending[i] == 1 + sum(1 for w in values if w < v)
        assert descending[i] == 1 + sum(1 for w in values if w > v)


def test_goalposts_truncate_scale_and_flip() -> None:
    x = np.array([0.0, 0.2, 0.5, 0.8, 1.0])
    assert ops.n_goalposts(x, 0.2, 0.8, 100).tolist() == pytest.approx([0, 0, 50, 100, 100])
    # direction −1: x arrives multiplied by −1; 0.2 (low is good) scores full
    assert ops.n_goalposts(-x, 0.2, 0.8, 1, direction=-1).tolist() == pytest.approx([1, 1, 0.5, 0, 0])
    assert ops.n_goalposts(x, 0.2, 0.8, truncate=False).tolist() == pytest.approx([-1 / 3, 0, 0.5, 1, 4 / 3])


def test_frontier_and_efficacy() -> None:
    x = np.array([[2.0], [5.0], [10.0]])
    assert ops.n_frontier(x)[:, 0].tolist() == pytest.approx([0.2, 0.5, 1.0])
    assert ops.n_efficacy(x, scaled=False)[:, 0].tolist() == pytest.approx([60, 60 + 40 * 3 / 8, 100])
    assert ops.n_efficacy(x)[:, 0].tolist() == pytest.approx([0.6, (60 + 40 * 3 / 8) / 100, 1.0])


# ------------------------------------------------------------------ aggregation


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.none(), st.floats(0, 100)), st.floats(0.01, 10)), min_size=1, max_size=8))
def test_amean_drops_missing_children_and_renormalises(pairs: list[tuple[float | None, float]]) -> None:
    v = np.array([[np.nan if x is None else x for x, _ in pairs]])
    w = np.array([[wt] for _, wt in pairs])
    got = ops.a_amean(v, w)[0, 0]
    present = [(x, wt) for x, wt in pairs if x is not None]
    if not present:
        assert math.isnan(got)
    else:
        total = sum(wt for _, wt in present)
        assert got == pytest.approx(sum(x * wt / total for x, wt in present), abs=1e-9)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(positive, st.floats(0.01, 10)), min_size=1, max_size=8))
def test_gmean_is_at_most_amean(pairs: list[tuple[float, float]]) -> None:
    v = np.array([[x for x, _ in pairs]])
    w = np.array([[wt] for _, wt in pairs])
    g, a = ops.a_gmean(v, w)[0, 0], ops.a_amean(v, w)[0, 0]
    total = sum(wt for _, wt in pairs)
    assert g == pytest.approx(math.exp(sum(wt * math.log(x) for x, wt in pairs) / total), rel=1e-9)
    assert g <= a * (1 + 1e-12)


def test_gmean_refuses_zero() -> None:
    assert math.isnan(ops.a_gmean(np.array([[0.0, 4.0]]), np.array([[1.0], [1.0]]))[0, 0])


# ------------------------------------------------------------------ impute, screen, denominate, combine


def test_group_mean_imputation_uses_the_units_group_only() -> None:
    x = np.array([[1.0], [np.nan], [3.0], [10.0], [np.nan], [np.nan]])
    groups = np.array([0, 0, 0, 1, 1, -1])
    out = ops.impute_group(x, groups)[:, 0]
    assert out[1] == 2.0 and out[4] == 10.0 and math.isnan(out[5])  # no group: never imputed (skip_f_na)
    assert ops.impute_group(x, groups, "median")[1, 0] == 2.0
    assert ops.impute_mean(x)[1, 0] == pytest.approx(14 / 3)
    assert ops.impute_median(x)[1, 0] == 3.0


def test_screen_by_data_availability() -> None:
    x = np.array([[1.0, 2.0, 3.0, 4.0], [1.0, np.nan, 3.0, 4.0], [np.nan, np.nan, 3.0, 4.0]])
    assert ops.availability(x).tolist() == [1.0, 0.75, 0.5]
    assert ops.screen(x, 0.75).tolist() == [True, True, False]


def test_denominate_divides_and_refuses_zero() -> None:
    out = ops.denominate(np.array([10.0, 10.0, np.nan]), np.array([4.0, 0.0, 2.0]))
    assert out[0] == 2.5 and math.isnan(out[1]) and math.isnan(out[2])
    assert ops.denominate(np.array([10.0]), np.array([4.0]), scale=1000)[0] == 2500


def test_experts_scores_combine() -> None:
    s = np.array([[1.0, 2.0, 9.0, 3.0], [4.0, np.nan, np.nan, np.nan], [np.nan] * 4, [2.0, 8.0, np.nan, np.nan]])
    assert ops.combine_scores(s, "mean")[:2].tolist() == [3.75, 4.0]
    assert ops.combine_scores(s, "median")[0] == 2.5
    trimmed = ops.combine_scores(s, "trimmed_mean")
    assert trimmed[0] == 2.5 and trimmed[1] == 4.0 and trimmed[3] == 5.0  # below three scores: plain mean
    assert all(math.isnan(ops.combine_scores(s, how)[2]) for how in ("mean", "median", "trimmed_mean"))


# ------------------------------------------------------------------ rounding


def ref_round(x: float) -> int:
    return int(Decimal(repr(x)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP).scaleb(2))


@pytest.mark.parametrize("x", [1.005, 2.675, 0.125, -0.125, 1.115, 4.345, 0.0, 29.995, 1e-9, -2.675])
def test_round_half_up_from_the_shortest_repr(x: float) -> None:
    assert ops.round_half_up(np.array([x]))[0] == ref_round(x)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1000, 1000, allow_nan=False), min_size=1, max_size=20))
def test_rounded_points_add_up(values: list[float]) -> None:
    cents = ops.round_half_up(np.array(values))
    assert cents.tolist() == [ref_round(v) for v in values]
    assert sum(ops.cents_to_decimal(int(c)) for c in cents) == ops.cents_to_decimal(int(cents.sum()))
