"""Rank statistics on tiny hand-made examples: R quantile type 7 worked out by hand, last with ties, units
unranked in some replications; the batched ranking equals the engine's ties-min ranking row by row."""

from __future__ import annotations

import numpy as np
import pytest

from services.scoring.methods import operations as ops
from services.scoring.uncertainty.analysis import rank_rows, rank_statistics

NAN = float("nan")


def test_percentiles_mean_and_last_by_hand() -> None:
    # rows: replications; columns: units A, B, C. In the last row B and C tie for last (rank 2).
    ranks = np.array([[1, 2, 3], [1, 3, 2], [2, 1, 3], [1, 2, 2]], dtype=np.float32)
    s = rank_statistics(ranks)
    # type 7, m = 4: h = 3p. A sorted 1,1,1,2: p05 h=0.15 → 1; p50 h=1.5 → 1; p95 h=2.85 → 1 + 0.85·(2 − 1)
    # B sorted 1,2,2,3: 1 + 0.15·1 = 1.15; 2; 2 + 0.85·1 = 2.85.  C sorted 2,2,3,3: 2; 2.5; 3
    assert s["p05"] == pytest.approx([1.0, 1.15, 2.0], abs=1e-12)
    assert s["median"] == pytest.approx([1.0, 2.0, 2.5], abs=1e-12)
    assert s["p95"] == pytest.approx([1.85, 2.85, 3.0], abs=1e-12)
    assert s["mean"] == pytest.approx([1.25, 2.0, 2.5], abs=1e-12)
    # last: A never; B in rows 2 and 4 (tie); C in rows 1, 3 and 4 (tie)
    assert s["last_share"].tolist() == [0.0, 0.5, 0.75]
    assert s["ranked"].tolist() == [4, 4, 4]


def test_units_unranked_in_some_replications() -> None:
    ranks = np.array([[1, NAN, NAN], [2, 1, NAN]], dtype=np.float32)
    s = rank_statistics(ranks)
    # A: 1, 2 → p05 = 1 + 0.05, median 1.5, p95 1.95; B: only 1; C: never ranked
    assert s["p05"][:2] == pytest.approx([1.05, 1.0], abs=1e-12)
    assert s["median"][:2] == pytest.approx([1.5, 1.0], abs=1e-12)
    assert s["p95"][:2] == pytest.approx([1.95, 1.0], abs=1e-12)
    assert np.isnan([s["p05"][2], s["median"][2], s["p95"][2], s["mean"][2]]).all()
    assert s["ranked"].tolist() == [2, 1, 0]
    # row 1: A alone is ranked, so last; row 2: A (2) is last, B (1) is not; C is never last
    assert s["last_share"].tolist() == [1.0, 0.0, 0.0]


def test_a_replication_ranking_nobody() -> None:
    s = rank_statistics(np.full((3, 2), np.nan, dtype=np.float32))
    assert s["ranked"].tolist() == [0, 0] and s["last_share"].tolist() == [0.0, 0.0]


def test_rank_rows_ties_share_the_lowest_rank() -> None:
    got = rank_rows(np.array([[3.0, 5.0, 5.0, NAN, 1.0], [0.0, -0.0, 2.0, 2.0, 2.0]]))
    assert got[0, [0, 1, 2, 4]].tolist() == [3.0, 1.0, 1.0, 4.0] and np.isnan(got[0, 3])
    assert got[1].tolist() == [4.0, 4.0, 1.0, 1.0, 1.0]


def test_rank_rows_equals_the_engine_ranking() -> None:
    rng = np.random.default_rng(5)
    basis = rng.integers(0, 12, (40, 30)).astype(np.float64)  # many ties
    basis[rng.random(basis.shape) < 0.1] = np.nan
    got = rank_rows(basis)
    for r in range(basis.shape[0]):
        np.testing.assert_array_equal(got[r], ops.rank_min(basis[r], descending=True))
