"""Frameworks as versioned data: the bundled 002 and ASEM frameworks, registering new ones (JSON and
COINr's metadata table), validation naming every problem, immutability."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from services.scoring.frameworks.definition import FrameworkDocument
from services.scoring.frameworks.service import DEFINITIONS, bundled_documents
from services.scoring.models import Base
from shared.testing import dump_rows
from tests.scoring.conftest import Services

ST = "st_department"


def small_framework(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": "demo-index", "name": {"zh": "示例", "en": "Demo"}, "points_total": "10",
        "scope": {"units": [{"code": "A", "name": {"en": "A"}}, {"code": "B", "name": {"en": "B"}}]},
        "variables": [{"name": "x", "label": {"en": "x"}, "min": "0"}, {"name": "y", "label": {"en": "y"}}],
        "nodes": [
            {"code": "index", "name": {"en": "Index"}, "points": "10"},
            {"code": "g", "name": {"en": "Group"}, "parent": "index", "points": "10"},
            {"code": "i1", "name": {"en": "x per y"}, "parent": "g", "points": "6", "kind": "ratio",
             "formula": "x / y"},
            {"code": "i2", "name": {"en": "x growth"}, "parent": "g", "points": "4", "kind": "growth",
             "formula": "x - prev(x)"},
        ],
    }
    doc.update(changes)
    return doc


def test_the_002_framework_file_is_valid_and_complete() -> None:
    doc = FrameworkDocument.model_validate(json.loads((DEFINITIONS / "nmg-hitech-2022.json").read_text("utf-8")))
    groups = {n.code: n.points for n in doc.nodes if n.parent == "index"}
    assert groups == {"1": Decimal(30), "2": Decimal(35), "3": Decimal(20), "4": Decimal(15)}
    assert len(doc.indicators) == 26 and doc.root.points == 100
    assert sorted(n.code for n in doc.indicators if n.kind == "qualitative") == ["2.8", "4.2", "4.3", "4.5"]
    assert sorted(n.code for n in doc.indicators if n.kind == "compound") == ["1.3", "2.3", "2.4", "2.6"]
    assert [n.code for n in doc.indicators if n.direction == -1] == ["2.7"]
    assert all(n.name.zh and n.name.en and n.article for n in doc.nodes)


def test_the_asem_framework_has_four_levels_and_49_indicators() -> None:
    doc = FrameworkDocument.model_validate(bundled_documents()[1])
    assert len(doc.indicators) == 49 and doc.levels["Index"] == 4
    assert len(doc.scope.units or []) == 51
    assert {v.name for v in doc.variables if v.purpose == ["denominator"]} == {"Area", "Energy", "GDP", "Population"}


async def test_frameworks_are_public_in_zh_and_en(services: Services) -> None:
    r = await services.scoring.get("/frameworks")
    assert r.status_code == 200
    items = {f["id"]: f for f in r.json()["items"]}
    assert items["nmg-hitech-2022"]["indicators"] == 26 and items["nmg-hitech-2022"]["points_total"] == "100"
    assert items["asem-coinr"]["levels"] == 4
    one = (await services.scoring.get("/frameworks/nmg-hitech-2022")).json()
    node = next(n for n in one["document"]["nodes"] if n["code"] == "2.7")
    assert node["name"]["zh"] == "园区二氧化碳排放增长率" and node["direction"] == -1
    assert one["node_levels"]["index"] == 3 and one["version"] == 1
    assert (await services.scoring.get("/frameworks/nope")).status_code == 404


async def test_register_new_version_and_replay(services: Services) -> None:
    post = services.scoring.post
    r = await post("/frameworks", json=small_framework(), headers=services.headers(ST))
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 1 and r.headers["location"] == "/frameworks/demo-index?version=1"
    again = await post("/frameworks", json=small_framework(), headers=services.headers(ST))
    assert again.status_code == 200 and again.json()["version"] == 1
    changed = small_framework(name={"en": "Demo v2"})
    r2 = await post("/frameworks", json=changed, headers=services.headers(ST))
    assert r2.status_code == 201 and r2.json()["version"] == 2
    first = (await services.scoring.get("/frameworks/demo-index?version=1")).json()
    assert first["document"]["name"] == {"zh": "示例", "en": "Demo"}  # version 1 unchanged
    versions = (await services.scoring.get("/frameworks/demo-index/versions")).json()["items"]
    assert [v["version"] for v in versions] == [1, 2]


def _broken() -> list[tuple[str, dict[str, Any], str]]:
    points = small_framework()
    points["nodes"][2]["points"] = "5"
    undeclared = small_framework()
    undeclared["nodes"][2]["formula"] = "x / z"
    cycle = small_framework(derived=[{"name": "p", "formula": "q + 1"}, {"name": "q", "formula": "p * 2"}])
    unsafe = small_framework()
    unsafe["nodes"][2]["formula"] = "__import__('os').getcwd()"
    two_roots = small_framework()
    two_roots["nodes"][1]["parent"] = None
    return [("points", points, "sum to 9"), ("undeclared", undeclared, "undeclared z"),
            ("cycle", cycle, "cycle"), ("unsafe", unsafe, "not allowed"), ("roots", two_roots, "one root")]


@pytest.mark.parametrize(("case", "doc", "message"), _broken(), ids=[c[0] for c in _broken()])
async def test_invalid_frameworks_are_refused_and_change_nothing(services: Services, case: str, doc: dict[str, Any],
                                                                 message: str) -> None:
    before = await dump_rows(services.scoring_url, Base.metadata)
    r = await services.scoring.post("/frameworks", json=doc, headers=services.headers(ST))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert any(message in e["reason"] for e in r.json()["errors"]), r.json()
    assert await dump_rows(services.scoring_url, Base.metadata) == before


async def test_only_the_st_department_registers(services: Services) -> None:
    for role in ("statistics_bureau", "observer", "expert"):
        r = await services.scoring.post("/frameworks", json=small_framework(), headers=services.headers(role))
        assert r.status_code == 403
    assert (await services.scoring.post("/frameworks", json=small_framework())).status_code == 401


async def test_coinr_metadata_table_as_csv(services: Services) -> None:
    table = (Path(DEFINITIONS) / "asem" / "ASEM_iMeta.csv").read_bytes()
    units = "".join(f'1,"U{i}","Unit {i}",,,,,,,"Unit"\n' for i in range(3)).encode()
    r = await services.scoring.post("/frameworks?id=asem-copy&name_en=ASEM%20copy", content=table + units,
                                    headers={**services.headers(ST), "Content-Type": "text/csv"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["indicators"] == 49 and body["levels"] == 4 and body["units"] == 3


async def test_coinr_metadata_rows_as_json(services: Services) -> None:
    rows = [
        {"iCode": "Index", "iName": "Index", "Type": "Aggregate", "Parent": None, "Weight": 1},
        {"iCode": "P1", "iName": "Pillar", "Type": "Aggregate", "Parent": "Index", "Weight": 1},
        {"iCode": "Pop", "iName": "Population", "Type": "Denominator"},
        {"iCode": "Gdp", "iName": "GDP", "Type": "Indicator", "Parent": "P1", "Weight": 2, "Direction": 1,
         "Denominator": "Pop"},
        {"iCode": "Debt", "iName": "Debt", "Type": "Indicator", "Parent": "P1", "Weight": 1, "Direction": -1},
    ]
    body = {"id": "tiny-coinr", "name": {"en": "Tiny"}, "coinr_meta": rows,
            "scope": {"units": [{"code": "X", "name": {"en": "X"}}]}}
    r = await services.scoring.post("/frameworks", json=body, headers=services.headers(ST))
    assert r.status_code == 201, r.text
    nodes = {n["code"]: n for n in r.json()["document"]["nodes"]}
    assert nodes["Gdp"]["denominator"] == "Pop" and nodes["Debt"]["direction"] == -1
    bad = copy.deepcopy(body)
    bad["coinr_meta"][3]["Type"] = "Indicatr"
    r = await services.scoring.post("/frameworks", json=bad, headers=services.headers(ST))
    assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "#/rows/3/Type"


async def test_the_documented_body_is_the_accepted_one(services: Services) -> None:
    """POST /frameworks documents its body (OpenAPI, recursive node tree in components): the bundled
    documents and a small one conform to the documented JSON schema, and both documented examples
    (JSON rows and a CSV table) register as they are."""
    document = (await services.scoring.get("/openapi.json")).json()
    content = document["paths"]["/frameworks"]["post"]["requestBody"]["content"]
    schema = {**content["application/json"]["schema"], "components": document["components"]}
    for doc in (*bundled_documents(), small_framework()):
        jsonschema_rs.validate(schema, doc)
    with pytest.raises(jsonschema_rs.ValidationError):
        jsonschema_rs.validate(schema, {"id": "x"})
    example = content["application/json"]["examples"]["coinr_meta"]["value"]
    r = await services.scoring.post("/frameworks", json=example, headers=services.headers(ST))
    assert r.status_code == 201, r.text
    r = await services.scoring.post("/frameworks?id=tiny-csv&name_en=Tiny", content=content["text/csv"]["example"],
                                    headers={**services.headers(ST), "Content-Type": "text/csv"})
    assert r.status_code == 201 and r.json()["indicators"] == 1 and r.json()["units"] == 1, r.text
