"""The request refused with a JSON pointer and a reason per problem, checked for shape and against the
framework and method; a refused analysis computes nothing (the cohort's cache stays empty)."""

from __future__ import annotations

from typing import Any

import pytest

from services.scoring.frameworks.definition import FrameworkDocument
from services.scoring.methods import definition as md
from services.scoring.methods.cohort import CohortInput
from services.scoring.uncertainty import spec as us
from services.scoring.uncertainty.analysis import run

OK: dict[str, Any] = {"replications": 10, "seed": 1}


def problems(raw: Any) -> dict[str, str]:
    with pytest.raises(us.SpecInvalid) as exc:
        us.parse(raw)
    return {p.pointer: p.reason for p in exc.value.problems}


def against(raw: Any, framework: FrameworkDocument, method: str, units: int | None = None) -> dict[str, str]:
    with pytest.raises(us.SpecInvalid) as exc:
        us.check(raw, framework, md.bundled()[method], units)
    out: dict[str, str] = {}
    for p in exc.value.problems:  # several problems at one pointer are joined
        out[p.pointer] = " | ".join(filter(None, [out.get(p.pointer), f"{p.code}: {p.reason}"]))
    return out


@pytest.mark.parametrize(("raw", "pointer", "says"), [
    ({"replications": 0}, "/replications", "greater than or equal to 1"),
    ({"replications": 20_001}, "/replications", "less than or equal to 20000"),
    ({"seed": 1}, "/replications", "required"),
    ({**OK, "seed": -1}, "/seed", "greater than or equal to 0"),
    ({**OK, "seed": 2**63}, "/seed", "less than or equal to"),
    ({**OK, "weights_noise": [{"level": 2, "noise": -0.1}]}, "/weights_noise/0/noise", "greater than or equal to 0"),
    ({**OK, "weights_noise": [{"level": 2, "noise": 1}]}, "/weights_noise/0/noise", "less than 1"),
    ({**OK, "weights_noise": [{"level": 2, "node": "Conn", "noise": 0.1}]}, "/weights_noise/0", "exactly one"),
    ({**OK, "weights_noise": []}, "/weights_noise", "at least 1"),
    ({**OK, "normalise": []}, "/normalise", "at least 1"),
    ({**OK, "impute": []}, "/impute", "at least 1"),
    ({**OK, "aggregate": []}, "/aggregate", "at least 1"),
    ({**OK, "aggregate": ["median"]}, "/aggregate/0", "points_sum"),
    ({**OK, "treat": {"alternatives": []}}, "/treat/alternatives", "at least 1"),
    ({**OK, "treat": {}}, "/treat", "exactly one"),
    ({**OK, "treat": {"on_probability": 1.5}}, "/treat/on_probability", "less than or equal to 1"),
    ({**OK, "normalise": [{"method": "minmax"}, {"method": "softmax"}]}, "/normalise/1/method", "softmax"),
    ({**OK, "normalise": [{"method": "minmax", "scale": 2}]}, "/normalise/0/scale", "not permitted"),
    ({**OK, "sampling": "sobol"}, "/sampling", "not permitted"),
    ({**OK, "normalise": [{"method": "minmax"}] * 13}, "/normalise", "at most 12"),
])
def test_shape_problems_name_the_field(raw: Any, pointer: str, says: str) -> None:
    got = problems(raw)
    assert pointer in got, got
    assert says in got[pointer]


def test_problems_against_the_framework_and_method(asem: FrameworkDocument, nmg: FrameworkDocument) -> None:
    got = against({**OK, "weights_noise": [{"level": 9, "noise": 0.1}, {"node": "Nope", "noise": 0.1},
                                           {"level": 2, "noise": 0.1}, {"level": 2, "noise": 0.2}],
                   "impute": [{"rule": "group_mean", "group": "NoSuchGroup"}],
                   "aggregate": ["amean", "points_sum"]}, asem, "asem-coinr")
    assert got["/weights_noise/0/level"].startswith("unknown-level: asem-coinr has no level 9")
    assert got["/weights_noise/1/node"].startswith("unknown-node")
    assert got["/weights_noise/3/level"].startswith("duplicate")
    assert got["/impute/0/group"].startswith("unknown-group-variable")
    assert "framework-has-no-points: points_sum needs a framework with points" in got["/aggregate/1"]
    assert "normalisation-unbounded: the method's normalisation" in got["/aggregate/1"]
    assert len(got) == 5, got
    # a geometric mean over a normalisation whose minimum is always 0 could never score the weakest unit
    got = against({**OK, "normalise": [{"method": "minmax", "lo": 1, "hi": 100}, {"method": "prank"}],
                   "aggregate": ["amean", "gmean"]}, asem, "asem-coinr")
    assert list(got) == ["/normalise/1"] and "gmean" in got["/normalise/1"]
    got = against({**OK, "aggregate": ["gmean"]}, asem, "asem-coinr")  # the method's own minmax 0–100
    assert list(got) == ["/aggregate/0"] and "the method's normalisation" in got["/aggregate/0"]
    # points_sum multiplies by points: an unbounded normalisation cannot feed it
    got = against({**OK, "normalise": [{"method": "minmax"}, {"method": "zscore"}]}, nmg, "nmg-default")
    assert list(got) == ["/normalise/1"] and got["/normalise/1"].startswith("normalisation-unbounded")
    got = against({"replications": 20_000}, nmg, "nmg-default", units=2_001)
    assert got["/replications"].startswith("too-many-replications") and "at most 19990" in got["/replications"]


def test_zscore_with_a_geometric_mean_is_allowed_as_in_coinrs_example(asem: FrameworkDocument) -> None:
    spec = us.check({**OK, "normalise": [{"method": "zscore", "mean": 10, "sd": 2}], "aggregate": ["gmean"]},
                    asem, md.bundled()["asem-coinr"])
    assert spec.aggregate == ["gmean"]


def test_a_refused_analysis_computes_nothing(asem: FrameworkDocument, asem_data: CohortInput) -> None:
    spec = us.parse({**OK, "weights_noise": [{"level": 7, "noise": 0.1}]})
    with pytest.raises(us.SpecInvalid) as exc:
        run(asem, md.bundled()["asem-coinr"], asem_data, spec)
    assert [p.pointer for p in exc.value.problems] == ["/weights_noise/0/level"]
    assert asem_data._cache == {}


def test_the_bundled_coinr_specification_suits_asem(asem: FrameworkDocument) -> None:
    spec = us.bundled()["asem-coinr-sa"]
    assert us.validate(spec, asem, md.bundled()["asem-coinr"], units=51) == []
