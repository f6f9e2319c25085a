"""The pieces of a scoring method document (issue #5 §1): imputation rules, treatment and normalisation
specifications, and the operations, as strict pydantic models (unknown fields refused, frozen). Pure."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.scoring.frameworks import formulas

REASONS = (formulas.MISSING_INPUT, formulas.NO_PREVIOUS_YEAR, formulas.DIVISION_BY_ZERO, formulas.NOT_A_NUMBER,
           formulas.QUALITATIVE)
Reason = Literal["missing-input", "no-previous-year", "division-by-zero", "not-a-number", "qualitative"]
Finite = Annotated[float, Field(allow_inf_nan=False)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Label(Strict):
    zh: Annotated[str | None, Field(max_length=300)] = None
    en: Annotated[str, Field(min_length=1, max_length=300)]


class Text(Strict):
    zh: Annotated[str | None, Field(max_length=2000)] = None
    en: Annotated[str, Field(min_length=1, max_length=2000)]


# ------------------------------------------------------------------------------------------ imputation rules


class Leave(Strict):
    rule: Literal["leave"] = "leave"


class CohortMean(Strict):
    rule: Literal["cohort_mean"]


class CohortMedian(Strict):
    rule: Literal["cohort_median"]


class GroupMean(Strict):
    rule: Literal["group_mean"]
    group: Annotated[str, Field(min_length=1, max_length=63)]


class GroupMedian(Strict):
    rule: Literal["group_median"]
    group: Annotated[str, Field(min_length=1, max_length=63)]


class Fixed(Strict):
    rule: Literal["fixed"]
    value: Finite


ImputeRule = Annotated[Leave | CohortMean | CohortMedian | GroupMean | GroupMedian | Fixed, Field(discriminator="rule")]

# ------------------------------------------------------------------------------------------ treatment specs


class SkewKurt(Strict):
    """COINr's default: |skew| ≥ skew_max and kurtosis ≥ kurt_max fails; winsorise, then log_CT."""

    method: Literal["coinr_skew_kurt"]
    skew_max: Annotated[Finite, Field(gt=0)] = 2.0
    kurt_max: Finite = 3.5
    winmax: Annotated[int, Field(ge=0, le=1000)] | None = 5
    fallback: Literal["log_CT", "none"] = "log_CT"
    combine: bool = False  # COINr's combine_treat: log the winsorised values instead of the original


class NoTreatment(Strict):
    method: Literal["none"]


TreatSpec = Annotated[SkewKurt | NoTreatment, Field(discriminator="method")]

# ------------------------------------------------------------------------------------------ normalisations


class MinMax(Strict):
    method: Literal["minmax"]
    lo: Finite = 0.0
    hi: Finite = 1.0


class Efficacy(Strict):
    """功效系数法: base + span·(x − min)/(max − min); `scaled` divides by base + span (60..100 → 0.6..1)."""

    method: Literal["efficacy"]
    base: Annotated[Finite, Field(ge=0)] = 60.0
    span: Annotated[Finite, Field(gt=0)] = 40.0
    scaled: bool = True


class ZScore(Strict):
    method: Literal["zscore"]
    mean: Finite = 0.0
    sd: Annotated[Finite, Field(gt=0)] = 1.0


class PRank(Strict):
    method: Literal["prank"]


class Frontier(Strict):
    method: Literal["frontier"]


class Goalposts(Strict):
    method: Literal["goalposts"]
    lo: Finite
    hi: Finite
    scale: Annotated[Finite, Field(gt=0)] = 1.0
    truncate: bool = True


NormaliseSpec = Annotated[MinMax | Efficacy | ZScore | PRank | Frontier | Goalposts, Field(discriminator="method")]

# ------------------------------------------------------------------------------------------ operations


class Denominate(Strict):
    """Divide each indicator by the framework's denominator variable (COINr Denominate)."""

    op: Literal["denominate"]
    overrides: dict[str, str | None] = {}  # indicator → another denominator variable, or null: none


class Impute(Strict):
    op: Literal["impute"]
    default: ImputeRule = Leave()
    by_reason: dict[Reason, ImputeRule] = {}
    overrides: dict[str, ImputeRule] = {}  # indicator → rule for every reason (wins over by_reason)


class Screen(Strict):
    op: Literal["screen"]
    min_availability: Annotated[Finite, Field(ge=0, le=1)]


class Treat(Strict):
    op: Literal["treat"]
    default: TreatSpec = SkewKurt(method="coinr_skew_kurt")
    overrides: dict[str, TreatSpec] = {}


class Normalise(Strict):
    op: Literal["normalise"]
    default: NormaliseSpec = MinMax(method="minmax")
    overrides: dict[str, NormaliseSpec] = {}


class Missing(Strict):
    op: Literal["missing"]
    policy: Literal["zero_flagged", "drop_renormalise"] = "zero_flagged"


class Compound(Strict):
    """SPEC 8.2: the split of a compound indicator's points between its parts (shares are relative)."""

    op: Literal["compound"]
    split: dict[str, Finite] = {"a": 0.5, "b": 0.5}
    overrides: dict[str, dict[str, Finite]] = {}
    optional_parts: bool = False  # 1.3's area: points go to an optional part only when true


class Qualitative(Strict):
    """SPEC 8.3: how several experts' scores combine; `points` scales the score by the indicator's points."""

    op: Literal["qualitative"]
    combine: Literal["mean", "median", "trimmed_mean"] = "mean"
    scale: Literal["points", "cohort"] = "points"


class Aggregate(Strict):
    op: Literal["aggregate"]
    method: Literal["points_sum", "amean", "gmean"]
    weights: dict[str, Finite] = {}  # node → weight (amean/gmean) or points (points_sum), replacing the framework's


class Round(Strict):
    op: Literal["round"]
    places: Annotated[int, Field(ge=0, le=6)] = 2
    rule: Literal["half_up"] = "half_up"


Operation = Annotated[Denominate | Impute | Screen | Treat | Normalise | Missing | Compound | Qualitative | Aggregate
                      | Round, Field(discriminator="op")]
TRANSFORMS = ("denominate", "impute", "screen", "treat")  # data stages, applied in the order given
