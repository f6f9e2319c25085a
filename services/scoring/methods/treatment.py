"""Outlier treatment as in COINr (R/treat.R, 1.1.14): `skew` and `kurt` (e1071 type 2, as Excel),
`check_SkewKurt`, `winsorise` one tie group at a time, `log_CT`, and `Treat.numeric`'s two stages. Pure."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


def skew_kurt_columns(x: Array) -> tuple[Array, Array]:
    """Skewness and kurtosis of every column over its non-NaN values (COINr `skew`, `kurt`):
    d = x − mean, skew = √n·Σd³/(Σd²)^{3/2} · √(n(n − 1))/(n − 2),
    r = n·Σd⁴/(Σd²)², kurt = ((n + 1)(r − 3) + 6)(n − 1)/((n − 2)(n − 3)).
    NaN where a column has fewer than 3 (skew) or 4 (kurt) values or no spread (COINr stops or gives NA)."""
    ok = ~np.isnan(x)
    n = ok.sum(axis=0).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(ok, x, 0.0).sum(axis=0) / n
        d = np.where(ok, x - mean, 0.0)
        d2 = d * d
        s2 = d2.sum(axis=0)
        s3 = (d2 * d).sum(axis=0)
        s4 = (d2 * d2).sum(axis=0)
        sk = np.sqrt(n) * s3 / s2 ** 1.5 * np.sqrt(n * (n - 1)) / (n - 2)
        r = n * s4 / (s2 * s2)
        ku = ((n + 1) * (r - 3) + 6) * (n - 1) / ((n - 2) * (n - 3))
    sk = np.where((n >= 3) & (s2 > 0), sk, np.nan)
    ku = np.where((n >= 4) & (s2 > 0), ku, np.nan)
    return sk, ku


def skew(x: Array) -> float:
    return float(skew_kurt_columns(np.asarray(x, dtype=np.float64)[:, None])[0][0])


def kurt(x: Array) -> float:
    return float(skew_kurt_columns(np.asarray(x, dtype=np.float64)[:, None])[1][0])


def check_skew_kurt(x: Array, skew_max: float = 2.0, kurt_max: float = 3.5) -> tuple[bool | None, float, float]:
    """COINr `check_SkewKurt`: passes when |skew| < skew_max OR kurt < kurt_max (fails only when both are
    exceeded). None (R's NA) when skew or kurtosis cannot be computed."""
    sks, kus = skew_kurt_columns(np.asarray(x, dtype=np.float64)[:, None])
    return _judge(float(sks[0]), float(kus[0]), skew_max, kurt_max)


Check = tuple[bool | None, float, float]


def _judge(sk: float, ku: float, skew_max: float, kurt_max: float) -> Check:
    if np.isnan(sk) or np.isnan(ku):
        return None, sk, ku
    return bool(abs(sk) < skew_max or ku < kurt_max), sk, ku


@dataclass(frozen=True, slots=True)
class Winsorised:
    x: Array
    nwin: int
    high: NDArray[np.bool_]  # COINr's "winhi" points
    low: NDArray[np.bool_]  # "winlo"
    check: Check  # the last check, on x as returned


def winsorise(x: Array, winmax: int | None = 5, skew_max: float = 2.0, kurt_max: float = 3.5,
              first: Check | None = None) -> Winsorised:
    """COINr `winsorise`: while the check fails and nwin < winmax: if skew ≥ 0 the maximum value(s) (one
    tie group) take the next highest value, else the minimum value(s) the next lowest. As in COINr,
    `imax`/`imin` are the last groups moved (a moved point ties with the next one, so the group grows) and
    nwin = length(imax) + length(imin)."""
    x = np.array(x, dtype=np.float64)
    ok = ~np.isnan(x)
    check = first or check_skew_kurt(x, skew_max, kurt_max)
    passing, sk, _ = check
    imax = np.zeros(x.size, dtype=bool)
    imin = np.zeros(x.size, dtype=bool)
    nwin = 0
    while passing is False and (winmax is None or nwin < winmax):
        if sk >= 0:  # the skew of the current x (COINr recomputes it: the same number)
            top = np.max(x[ok])
            group = ok & (x == top)
            rest = x[ok & ~group]
            if not rest.size:
                break
            x[group] = rest.max()
            imax = group
        else:
            bottom = np.min(x[ok])
            group = ok & (x == bottom)
            rest = x[ok & ~group]
            if not rest.size:
                break
            x[group] = rest.min()
            imin = group
        nwin = int(imax.sum() + imin.sum())
        check = check_skew_kurt(x, skew_max, kurt_max)
        passing, sk, _ = check
    return Winsorised(x, nwin, imax & ~imin, imin, check)


def log_ct(x: Array) -> Array:
    """COINr `log_CT`: log(x − min(x) + 0.01·(max(x) − min(x))), NA ignored for min and max."""
    ok = ~np.isnan(x)
    if not ok.any():
        return np.array(x, dtype=np.float64)
    mn, mx = np.min(x[ok]), np.max(x[ok])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.log(x - mn + 0.01 * (mx - mn))


@dataclass(frozen=True, slots=True)
class TreatDetail:
    """One indicator's treatment, as COINr's Dets_Table: check 0 (before), 1 (after winsorising) and 2 (after
    the log fallback), nwin, whether log_CT was applied."""

    pass0: bool | None
    skew0: float
    kurt0: float
    nwin: int | None = None
    pass1: bool | None = None
    skew1: float | None = None
    kurt1: float | None = None
    log: bool = False
    pass2: bool | None = None
    skew2: float | None = None
    kurt2: float | None = None

    def as_dict(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.__slots__}


def treat(x: Array, skew_max: float = 2.0, kurt_max: float = 3.5, winmax: int | None = 5,
          fallback: str = "log_CT", combine: bool = False,
          first: tuple[float, float] | None = None) -> tuple[Array, TreatDetail, NDArray[np.bool_]]:
    """COINr `Treat.numeric` with f1 = winsorise, f2 = log_CT, f_pass = check_SkewKurt: check; if it fails,
    winsorise and check again; if it still fails, log_CT of the original x (of the winsorised x when
    `combine`) and check a last time. Returns the treated x, the details and the winsorised points. When the
    first check cannot be computed (too few values, no spread) x is returned untreated, as COINr does.
    `first`: the skew and kurtosis of x when the caller has them (computed for many columns at once)."""
    x = np.asarray(x, dtype=np.float64)
    none = np.zeros(x.size, dtype=bool)
    check = _judge(*first, skew_max, kurt_max) if first else check_skew_kurt(x, skew_max, kurt_max)
    pass0, sk0, ku0 = check
    if pass0 is not False:
        return x, TreatDetail(pass0, sk0, ku0), none
    w = winsorise(x, winmax, skew_max, kurt_max, first=check)
    pass1, sk1, ku1 = w.check
    if pass1 is None:  # COINr: f_pass returned NA → the untreated vector
        return x, TreatDetail(pass0, sk0, ku0, w.nwin, pass1, sk1, ku1), none
    if pass1 or fallback == "none":
        return w.x, TreatDetail(pass0, sk0, ku0, w.nwin, pass1, sk1, ku1), w.high | w.low
    logged = log_ct(w.x if combine else x)
    pass2, sk2, ku2 = check_skew_kurt(logged, skew_max, kurt_max)
    if pass2 is None:
        return x, TreatDetail(pass0, sk0, ku0, w.nwin, pass1, sk1, ku1, False, pass2, sk2, ku2), none
    winsorised = (w.high | w.low) if combine else none
    return logged, TreatDetail(pass0, sk0, ku0, w.nwin, pass1, sk1, ku1, True, pass2, sk2, ku2), winsorised
