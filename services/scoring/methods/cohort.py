"""What the engine takes: a cohort's raw indicator values as columns of floats, with the reason code of
every undefined value, denominators, group memberships and experts' scores. Pure.

A column is one indicator, or one part of a compound indicator, keyed `cell_key(code, part)` ("2.3:a")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from services.scoring.frameworks.definition import FrameworkDocument
from services.scoring.methods.definition import REASONS

REASON_CODE: dict[str | None, int] = {None: 0, **{r: i + 1 for i, r in enumerate(REASONS)}}
REASON_NAME: tuple[str | None, ...] = (None, *REASONS)
MISSING_INPUT, DIVISION_BY_ZERO, QUALITATIVE = REASON_CODE["missing-input"], REASON_CODE["division-by-zero"], \
    REASON_CODE["qualitative"]


def cell_key(code: str, part: str | None = None) -> str:
    return code if part is None else f"{code}:{part}"


@dataclass
class CohortInput:
    """units: unit codes, in order. values: cell key → one float per unit (NaN: undefined). reasons: cell key
    → one reason code per unit (None where defined; a NaN without a reason counts as missing-input).
    denominators: variable → floats. groups: category variable → one label per unit (None: no group).
    expert_scores: unit → indicator → scores, or indicator → array units × experts (NaN-padded)."""

    units: Sequence[str]
    values: Mapping[str, Sequence[float] | NDArray[np.float64]]
    reasons: Mapping[str, Sequence[str | None]] = field(default_factory=dict)
    denominators: Mapping[str, Sequence[float] | NDArray[np.float64]] = field(default_factory=dict)
    groups: Mapping[str, Sequence[str | None]] = field(default_factory=dict)
    expert_scores: Mapping[str, Any] = field(default_factory=dict)
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    def expert_matrix(self, indicator: str) -> NDArray[np.float64] | None:
        """Experts' scores of one indicator as units × experts (NaN-padded), or None when nobody scored."""
        key = ("experts", indicator)
        if key not in self._cache:
            self._cache[key] = self._experts(indicator)
        return self._cache[key]

    def _experts(self, indicator: str) -> NDArray[np.float64] | None:
        direct = self.expert_scores.get(indicator)
        if isinstance(direct, np.ndarray):
            return direct.astype(np.float64, copy=False).reshape(len(self.units), -1)
        rows = [list((self.expert_scores.get(u) or {}).get(indicator) or []) for u in self.units]
        width = max((len(r) for r in rows), default=0)
        if not width:
            return None
        out = np.full((len(self.units), width), np.nan)
        for i, r in enumerate(rows):
            out[i, :len(r)] = r
        return out

    def group_codes(self, variable: str) -> NDArray[np.int64]:
        """Each unit's group as a number (−1: none), for the group imputations."""
        key = ("group", variable)
        if key not in self._cache:
            labels = list(self.groups.get(variable) or [None] * len(self.units))
            index: dict[str, int] = {}
            self._cache[key] = np.array([-1 if g is None or g == "" else index.setdefault(str(g), len(index))
                                         for g in labels], dtype=np.int64)
        return self._cache[key]

    def denominator(self, variable: str) -> NDArray[np.float64]:
        got = self.denominators.get(variable)
        return np.full(len(self.units), np.nan) if got is None else np.asarray(got, dtype=np.float64)

    @classmethod
    def from_raw_values(cls, framework: FrameworkDocument, units: Sequence[str], raw: Mapping[str, Sequence[Any]],
                        denominators: Mapping[str, Sequence[float]] | None = None,
                        groups: Mapping[str, Sequence[str | None]] | None = None,
                        expert_scores: Mapping[str, Any] | None = None) -> CohortInput:
        """From `indicators.compute.raw_values` per unit (unit → list of RawValue): exact decimals become
        floats, each Undefined its reason code."""
        values: dict[str, list[float]] = {}
        reasons: dict[str, list[str | None]] = {}
        for node in framework.indicators:
            for part in ([p.code for p in node.parts] if node.parts else [None]):
                values[cell_key(node.code, part)] = []
                reasons[cell_key(node.code, part)] = []
        for unit in units:
            seen = set()
            for rv in raw.get(unit, []):
                key = cell_key(rv.code, rv.part)
                if key in values:
                    values[key].append(float(rv.value) if rv.value is not None else np.nan)
                    reasons[key].append(rv.undefined.reason if rv.undefined is not None else None)
                    seen.add(key)
            for key in values.keys() - seen:
                values[key].append(np.nan)
                reasons[key].append("missing-input")
        return cls(units=list(units), values={k: np.array(v) for k, v in values.items()}, reasons=reasons,
                   denominators=dict(denominators or {}), groups=dict(groups or {}),
                   expert_scores=dict(expert_scores or {}))
