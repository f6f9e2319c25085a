"""The operations of composite-indicator practice as pure NumPy functions, each following its COINr
counterpart (COINr 1.1.14, bluefoxr/COINr: R/denominate.R, R/impute.R, R/screen_units.R, R/treat.R,
R/normalise.R, R/aggregate.R). Matrices are units × columns; NaN is R's NA. No I/O, no warnings: empty
slices give NaN without numpy's RuntimeWarning (the test suite turns warnings into errors).

Outlier treatment (`check_skew_kurt`, `winsorise`, `log_ct`, `treat`) is in `treatment.py`."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


def _counts(x: Array) -> tuple[NDArray[np.bool_], Array]:
    ok = ~np.isnan(x)
    return ok, ok.sum(axis=0).astype(np.float64)


def col_mean(x: Array) -> Array:
    """Column means over non-missing values (R `mean(x, na.rm = TRUE)`); NaN for an empty column."""
    ok, n = _counts(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, x, 0.0).sum(axis=0) / n


def col_sd(x: Array) -> Array:
    """Column sample standard deviations, n − 1 in the denominator (R `stats::sd(x, na.rm = TRUE)`)."""
    ok, n = _counts(x)
    d = np.where(ok, x - col_mean(x), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt((d * d).sum(axis=0) / (n - 1))


def col_median(x: Array) -> Array:
    """Column medians over non-missing values (R `stats::median(x, na.rm = TRUE)`); NaN when empty."""
    out = np.full(x.shape[1], np.nan)
    for j in range(x.shape[1]):
        v = x[:, j][~np.isnan(x[:, j])]
        if v.size:
            out[j] = np.median(v)
    return out


def col_min(x: Array) -> Array:
    return np.where(np.isnan(x), np.inf, x).min(axis=0, initial=np.inf)


def col_max(x: Array) -> Array:
    return np.where(np.isnan(x), -np.inf, x).max(axis=0, initial=-np.inf)


# ------------------------------------------------------------------------------------------ denominate


def denominate(x: Array, d: Array, scale: float = 1.0) -> Array:
    """COINr `Denominate`: x / (d / scale), column by column. Where the denominator is zero or missing the
    result is NaN (R would give ±Inf or NaN; the engine records the reason division-by-zero)."""
    dd = d / scale
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((dd == 0) | np.isnan(dd), np.nan, x / np.where(dd == 0, 1.0, dd))


# ------------------------------------------------------------------------------------------ impute


def impute_value(x: Array, value: float | Array) -> Array:
    """Replace NaN by a value per column (COINr `i_mean`/`i_median` with the statistic given)."""
    return np.where(np.isnan(x), value, x)


def impute_mean(x: Array) -> Array:
    """COINr `i_mean`: every NA of a column becomes the mean of its non-NA values."""
    return impute_value(x, col_mean(x))


def impute_median(x: Array) -> Array:
    """COINr `i_median`: every NA of a column becomes the median of its non-NA values."""
    return impute_value(x, col_median(x))


def group_fill(x: Array, groups: NDArray[np.int64], statistic: str) -> Array:
    """The value each cell would be imputed with under COINr `i_mean_grp` / `i_median_grp`: the mean
    (median) of the non-NA values of the unit's group in that column. `groups` holds a group number per
    unit, −1 where the unit has no group (COINr's `skip_f_na`: such units are never imputed)."""
    fill = np.full(x.shape, np.nan)
    for g in np.unique(groups[groups >= 0]):
        rows = groups == g
        stat = col_mean(x[rows]) if statistic == "mean" else col_median(x[rows])
        fill[rows] = stat
    return fill


def impute_group(x: Array, groups: NDArray[np.int64], statistic: str = "mean") -> Array:
    """COINr `i_mean_grp(x, f)` / `i_median_grp`: NA replaced by the statistic of the unit's group."""
    return np.where(np.isnan(x), group_fill(x, groups, statistic), x)


# ------------------------------------------------------------------------------------------ screen


def availability(x: Array) -> Array:
    """COINr `get_data_avail`: per unit (row) 1 − (number of NA) / (number of columns)."""
    return 1.0 - np.isnan(x).sum(axis=1) / x.shape[1]


def screen(x: Array, min_availability: float) -> NDArray[np.bool_]:
    """COINr `Screen(unit_screen = "byNA", dat_thresh)`: a unit is kept when Dat_Avail ≥ dat_thresh."""
    return availability(x) >= min_availability


# ------------------------------------------------------------------------------------------ normalise
# As COINr's `Normalise.numeric`, the caller multiplies x by the indicator's direction (±1) first, so that
# every function below sees "higher is better"; goalposts take the direction as COINr's n_goalposts does.


def n_minmax(x: Array, lo: float = 0.0, hi: float = 100.0) -> Array:
    """COINr `n_minmax(x, l_u = c(lo, hi))`: (x − min)/(max − min)·(hi − lo) + lo per column; NaN where
    the column has no range (COINr returns NaN with a warning)."""
    mn, mx = col_min(x), col_max(x)
    rng = mx - mn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(rng > 0, (x - mn) / np.where(rng > 0, rng, 1.0), np.nan) * (hi - lo) + lo


def n_efficacy(x: Array, base: float = 60.0, span: float = 40.0, scaled: bool = True) -> Array:
    """功效系数法 (efficacy coefficient): base + span·(x − min)/(max − min), i.e. 60..100 by default;
    `scaled` divides by base + span (0.6..1), so that it can multiply an indicator's points."""
    d = n_minmax(x, 0.0, 1.0) * span + base
    return d / (base + span) if scaled else d


def n_zscore(x: Array, mean: float = 0.0, sd: float = 1.0) -> Array:
    """COINr `n_zscore(x, m_sd = c(mean, sd))`: (x − mean(x))/sd(x)·sd + mean, sd with n − 1."""
    s = col_sd(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (x - col_mean(x)) / np.where(s > 0, s, np.nan) * sd + mean


def n_frontier(x: Array) -> Array:
    """COINr `n_fracmax`: distance to the frontier as x / max(x) per column."""
    mx = col_max(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mx != 0, x / np.where(mx != 0, mx, 1.0), np.nan)


def rank_min(x: Array, descending: bool = False) -> Array:
    """R `rank(x, ties.method = "min", na.last = "keep")` per column (or of a vector): tied values share
    the lowest rank; NaN stays NaN. `descending` ranks the highest value first (COINr's results)."""
    one = x.ndim == 1
    m = x[:, None] if one else x
    out = np.full(m.shape, np.nan)
    for j in range(m.shape[1]):
        col = m[:, j]
        ok = np.flatnonzero(~np.isnan(col))
        if not ok.size:
            continue
        v = -col[ok] if descending else col[ok]
        order = np.argsort(v, kind="stable")
        sv = v[order]
        starts = np.r_[True, sv[1:] != sv[:-1]]
        first = np.maximum.accumulate(np.where(starts, np.arange(sv.size), 0))
        r = np.empty(sv.size)
        r[order] = first + 1
        out[ok, j] = r
    return out[:, 0] if one else out


def n_prank(x: Array) -> Array:
    """COINr `n_prank`: percentile rank (rank_min(x) − 1)/(n − 1), n the non-NA count; NaN when n < 2."""
    r = rank_min(x)
    n = (~np.isnan(x)).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 1, (r - 1) / np.where(n > 1, n - 1, 1), np.nan)


def n_goalposts(x: Array, lo: float, hi: float, scale: float = 1.0, direction: int = 1,
                truncate: bool = True) -> Array:
    """COINr `n_goalposts(x, gposts = c(lo, hi, scale), direction)`: (x − lo)/(hi − lo), or for direction
    −1 (x arriving multiplied by −1, the posts flipped) (x + hi)/(hi − lo) = (hi − x_orig)/(hi − lo);
    truncated to [0, 1] (`trunc2posts`), times `scale`. Goalposts are in the indicator's own units.
    COINr's direction −1 branch also negates the scale (giving scores ≤ 0); we keep the scale positive."""
    y = (x + hi) / (hi - lo) if direction == -1 else (x - lo) / (hi - lo)
    if truncate:
        y = np.clip(y, 0.0, 1.0)
    return y * scale


# ------------------------------------------------------------------------------------------ aggregate


def a_amean(v: Array, w: Array) -> Array:
    """COINr `a_amean` row by row: Σ w·x / Σ w over the children present; missing children are dropped and
    the remaining weights renormalised; NaN when none is present. v: units × children; w: children ×
    parents (0 where a child does not belong to a parent); returns units × parents."""
    ok = ~np.isnan(v)
    with np.errstate(invalid="ignore", divide="ignore"):
        num = np.where(ok, v, 0.0) @ w
        den = ok.astype(np.float64) @ w
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def a_gmean(v: Array, w: Array) -> Array:
    """COINr `a_gmean` row by row: exp(Σ w·log x / Σ w) over the children present (NaN when none; COINr
    stops on a value ≤ 0, here such a row gives NaN)."""
    ok = ~np.isnan(v)
    bad = (np.where(ok, v, 1.0) <= 0).astype(np.float64) @ (w > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        num = np.where(ok & (v > 0), np.log(np.where(ok & (v > 0), v, 1.0)), 0.0) @ w
        den = ok.astype(np.float64) @ w
        out = np.exp(num / np.where(den > 0, den, 1.0))
    return np.where((den > 0) & (bad == 0), out, np.nan)


# ------------------------------------------------------------------------------------------ combine, round


def combine_scores(s: Array, how: str) -> Array:
    """Experts' scores (units × experts, NaN-padded) → one per unit (SPEC 8.3): mean, median, or the
    trimmed mean dropping one highest and one lowest score (the plain mean below three scores)."""
    ok = ~np.isnan(s)
    n = ok.sum(axis=1)
    total = np.where(ok, s, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        if how == "mean":
            return np.where(n > 0, total / np.maximum(n, 1), np.nan)
        if how == "trimmed_mean":
            hi = np.where(ok, s, -np.inf).max(axis=1, initial=-np.inf)
            lo = np.where(ok, s, np.inf).min(axis=1, initial=np.inf)
            trimmed = (total - hi - lo) / np.maximum(n - 2, 1)
            return np.where(n >= 3, trimmed, np.where(n > 0, total / np.maximum(n, 1), np.nan))
    out = np.full(s.shape[0], np.nan)
    for i in np.flatnonzero(n):
        out[i] = np.median(s[i][ok[i]])
    return out


_NEAR = 1e-6


def round_half_up(x: Array, places: int = 2) -> NDArray[np.int64]:
    """Half-up rounding of `Decimal(repr(v))` to `places` decimals, as integers in units of 10^−places
    (exact, so sums of rounded points add up). Vectorised: floor(v·10^p + 0.5) decides every value not
    within 1e-6 of a half; those few are settled by Decimal from the shortest repr, as the rule says.
    NaN → 0 (callers flag missing values separately)."""
    factor = 10.0 ** places
    y = np.where(np.isnan(x), 0.0, x) * factor
    out = np.floor(y + 0.5)
    frac = y - np.floor(y)
    near = np.abs(frac - 0.5) < _NEAR
    if near.any():  # each distinct near-half value settled once
        quantum = Decimal(1).scaleb(-places)
        ties, back = np.unique(np.where(np.isnan(x), 0.0, x)[near], return_inverse=True)
        settled = [float(Decimal(repr(float(v))).quantize(quantum, rounding=ROUND_HALF_UP).scaleb(places))
                   for v in ties]
        out[near] = np.array(settled)[back.ravel()]
    return out.astype(np.int64)


def cents_to_decimal(value: int, places: int = 2) -> Decimal:
    return Decimal(int(value)).scaleb(-places)
