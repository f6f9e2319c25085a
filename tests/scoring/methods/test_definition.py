"""Method documents: the shipped ones are valid for their frameworks; each bad document names the JSON
pointer of its problem and the reason."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from services.scoring.frameworks.definition import FrameworkDocument
from services.scoring.frameworks.service import bundled_documents
from services.scoring.methods.definition import DEFINITIONS, MethodInvalid, bundled, parse, validate


@pytest.fixture(scope="module")
def frameworks() -> dict[str, FrameworkDocument]:
    return {d["id"]: FrameworkDocument.model_validate(d) for d in bundled_documents()}


def raw(method_id: str = "nmg-default") -> dict[str, Any]:
    return json.loads((DEFINITIONS / f"{method_id}.json").read_text(encoding="utf-8"))


def test_shipped_methods_are_valid_for_their_frameworks(frameworks: dict[str, FrameworkDocument]) -> None:
    methods = bundled()
    assert {"nmg-default", "nmg-efficacy", "nmg-prank", "asem-coinr"} <= set(methods)
    assert sum(1 for m in methods.values() if m.frameworks == ["nmg-hitech-2022"]) >= 3
    for method in methods.values():
        assert method.frameworks != "any"
        for fid in method.frameworks:
            assert validate(method, frameworks[fid]) == []


def problems(doc: dict[str, Any], framework: FrameworkDocument | None = None) -> list[tuple[str, str]]:
    with pytest.raises(MethodInvalid) as exc:
        parse(doc, framework)
    return [(p.pointer, p.code) for p in exc.value.problems]


def op_index(doc: dict[str, Any], kind: str) -> int:
    return next(i for i, o in enumerate(doc["operations"]) if o["op"] == kind)


def edit(method_id: str, kind: str, **changes: Any) -> tuple[dict[str, Any], int]:
    doc = copy.deepcopy(raw(method_id))
    i = op_index(doc, kind)
    doc["operations"][i].update(changes)
    return doc, i


def test_unknown_operation(frameworks: dict[str, FrameworkDocument]) -> None:
    doc = raw()
    doc["operations"].insert(1, {"op": "shuffle"})
    assert problems(doc) == [("/operations/1/op", "unknown-operation")]


def test_unknown_normalisation_and_extra_field() -> None:
    doc, i = edit("nmg-default", "normalise", default={"method": "softmax"})
    assert problems(doc) == [(f"/operations/{i}/default/method", "unknown-choice")]
    doc, i = edit("nmg-default", "normalise", colour="red")
    assert problems(doc) == [(f"/operations/{i}/colour", "extra_forbidden")]


def test_negative_weight(frameworks: dict[str, FrameworkDocument]) -> None:
    doc, i = edit("asem-coinr", "aggregate", weights={"Conn": -1})
    assert problems(doc, frameworks["asem-coinr"]) == [(f"/operations/{i}/weights/Conn", "negative-weight")]


def test_inverted_goalposts(frameworks: dict[str, FrameworkDocument]) -> None:
    doc, i = edit("nmg-default", "normalise", overrides={"2.7": {"method": "goalposts", "lo": 0.1, "hi": 0.1}})
    assert problems(doc, frameworks["nmg-hitech-2022"]) == [(f"/operations/{i}/overrides/2.7/hi", "bounds-inverted")]
    doc, i = edit("asem-coinr", "normalise", default={"method": "minmax", "lo": 100, "hi": 0})
    assert problems(doc) == [(f"/operations/{i}/default/hi", "bounds-inverted")]


def test_unknown_indicator_in_an_override(frameworks: dict[str, FrameworkDocument]) -> None:
    doc, i = edit("nmg-default", "treat", overrides={"9.9": {"method": "none"}})
    assert problems(doc, frameworks["nmg-hitech-2022"]) == [(f"/operations/{i}/overrides/9.9", "unknown-indicator")]
    doc, i = edit("nmg-default", "compound", overrides={"1.1": {"a": 1}})
    assert problems(doc, frameworks["nmg-hitech-2022"]) == [(f"/operations/{i}/overrides/1.1", "unknown-indicator")]


def test_unknown_group_variable(frameworks: dict[str, FrameworkDocument]) -> None:
    doc, i = edit("asem-coinr", "impute", default={"rule": "group_mean", "group": "Continent"})
    assert problems(doc, frameworks["asem-coinr"]) == [(f"/operations/{i}/default/group", "unknown-group-variable")]
    # a numeric variable is no group either
    doc, i = edit("asem-coinr", "impute", by_reason={"missing-input": {"rule": "group_median", "group": "GDP"}})
    assert problems(doc, frameworks["asem-coinr"]) == [
        (f"/operations/{i}/by_reason/missing-input/group", "unknown-group-variable")]


def test_operations_out_of_order_and_twice() -> None:
    doc = raw()
    doc["operations"].append({"op": "treat", "default": {"method": "none"}})
    found = problems(doc)
    last = len(doc["operations"]) - 1
    assert (f"/operations/{last}/op", "duplicate-operation") in found
    assert (f"/operations/{last}/op", "operation-order") in found
    doc = raw()
    doc["operations"] = [o for o in doc["operations"] if o["op"] != "aggregate"]
    assert ("/operations", "missing-operation") in problems(doc)


def test_points_sum_needs_a_bounded_normalisation_and_a_framework_with_points(
        frameworks: dict[str, FrameworkDocument]) -> None:
    doc, i = edit("nmg-default", "normalise", default={"method": "zscore"})
    assert problems(doc, frameworks["nmg-hitech-2022"]) == [(f"/operations/{i}/default", "normalisation-unbounded")]
    doc = raw()
    doc["frameworks"] = "any"
    found = problems(doc, frameworks["asem-coinr"])
    assert (f"/operations/{op_index(doc, 'aggregate')}/method", "framework-has-no-points") in found


def test_gmean_needs_positive_values(frameworks: dict[str, FrameworkDocument]) -> None:
    doc, _ = edit("asem-coinr", "aggregate", method="gmean")
    n = op_index(doc, "normalise")
    assert problems(doc, frameworks["asem-coinr"]) == [(f"/operations/{n}/default", "normalisation-not-positive")]
    doc["operations"][n]["default"] = {"method": "minmax", "lo": 1, "hi": 100}
    assert parse(doc, frameworks["asem-coinr"]).op("aggregate").method == "gmean"


def test_method_declared_for_another_framework(frameworks: dict[str, FrameworkDocument]) -> None:
    assert ("/frameworks", "framework-not-suited") in problems(raw("asem-coinr"), frameworks["nmg-hitech-2022"])


def test_shape_problems_point_at_the_field() -> None:
    doc, i = edit("asem-coinr", "screen", min_availability=1.5)
    assert problems(doc) == [(f"/operations/{i}/min_availability", "less_than_equal")]
    doc = raw()
    doc["version"] = 0
    assert problems(doc) == [("/version", "greater_than_equal")]
    doc = raw()
    del doc["id"]
    assert problems(doc) == [("/id", "missing")]


def test_a_parsed_method_is_immutable() -> None:
    method = bundled()["nmg-default"]
    with pytest.raises(Exception, match="frozen"):
        method.version = 2  # type: ignore[misc]
