"""Bulk import (CSV, XLSX, JSON) and export (CSV, XLSX) of zones, on SQLite and PostgreSQL."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import zipfile
from typing import Any

import httpx
import openpyxl
import pytest

from services.registry.models import Base
from services.registry.transfer import formats
from shared.problems import Problem
from shared.tabular import parse_content_type as _content_type
from shared.testing import Tokens, dump_rows

PROBLEM = "application/problem+json"
CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEADER = ("code,kind,level,status,name_zh,name_en,league_code,county_code,area_ha,leading_industries,"
          "management_committee,approval_doc,approval_date,approval_date_precision,source,confidence,boundary")
SQUARE = '"{""type"":""Polygon"",""coordinates"":[[[113.1,41.0],[113.2,41.0],[113.2,41.1],[113.1,41.0]]]}"'
GOOD_CSV = "\r\n".join([
    HEADER,
    f",industrial_park,none,candidate,集宁新材料产业园,Jining New Materials Park,150900,150902,1234.5600,新材料;冶金,"
    f"集宁区管委会,内政字〔2020〕1号,2020-03-01,month,测试,high,{SQUARE}",
    "S159901,hitech,regional,accredited,察右前旗高新技术产业开发区,,150900,,0.1,,,,,,,,",
]) + "\r\n"


def st(tokens: Tokens) -> dict[str, str]:
    return tokens.headers("st_department")


async def _post(client: httpx.AsyncClient, body: bytes, content_type: str, headers: dict[str, str],
                **params: str) -> httpx.Response:
    return await client.post("/zones/import", content=body, params=params,
                             headers={**headers, "Content-Type": content_type})


async def _zone(client: httpx.AsyncClient, code: str) -> dict[str, Any]:
    r = await client.get(f"/zones/{code}")
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _codes(client: httpx.AsyncClient) -> list[str]:
    return [z["code"] for z in (await client.get("/zones", params={"limit": 500})).json()["items"]]


def _errors(r: httpx.Response) -> set[tuple[Any, str, str]]:
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM, r.text
    return {(e["row"], e["field"], e["code"]) for e in r.json()["errors"]}


# ------------------------------------------------------------------------------------------ import


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
async def test_import_csv_in_each_encoding(registry: httpx.AsyncClient, tokens: Tokens, encoding: str) -> None:
    before = await _codes(registry)
    r = await _post(registry, GOOD_CSV.encode(encoding), CSV, st(tokens))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["created"] == 2 and body["dry_run"] is False and body["rows"] == 2
    new, given = body["codes"]
    assert new.startswith("NM-") and given == "S159901"
    zone = await _zone(registry, new)
    assert zone["name_zh"] == "集宁新材料产业园" and zone["area_ha"] == "1234.56"
    assert zone["leading_industries"] == ["新材料", "冶金"] and zone["county_code"] == "150902"
    assert zone["approval_date"] == "2020-03-01" and zone["approval_date_precision"] == "month"
    assert zone["boundary"]["type"] == "Polygon" and zone["status"] == "candidate"
    other = await _zone(registry, given)
    assert other["status"] == "accredited" and other["area_ha"] == "0.1" and other["name_en"] is None
    history = (await registry.get(f"/zones/{new}/history")).json()["events"]
    assert len(history) == 1 and history[0]["effective_date"] == "2020-03-01"
    assert sorted(await _codes(registry)) == sorted([*before, new, given])


async def test_import_xlsx(registry: httpx.AsyncClient, tokens: Tokens) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["code", "kind", "level", "name_zh", "league_code", "area_ha", "leading_industries",
                  "approval_date", "approval_date_precision", "boundary"])
    sheet.append(["NM-900", "industrial_park", "regional", "乌海化工园", 150300, 12.3, "化工；新材料",
                  dt.datetime(2019, 5, 1), "month", None])
    sheet.append([None, None, None, None, None])  # a blank row is skipped
    sheet.append([None, "economic_development", "none", "卓资经济开发区", "150900", 7, None, "2021/7/9", None,
                  json.dumps({"type": "Polygon", "coordinates": [[[112.5, 40.9], [112.6, 40.9], [112.6, 41.0],
                                                                  [112.5, 40.9]]]})])
    buffer = io.BytesIO()
    book.save(buffer)
    r = await _post(registry, buffer.getvalue(), XLSX, st(tokens))
    assert r.status_code == 201, r.text
    assert r.json()["codes"] == ["NM-900", "NM-901"]  # after the highest NM number, the file's included
    first, second = await _zone(registry, "NM-900"), await _zone(registry, "NM-901")
    assert first["area_ha"] == "12.3" and first["league_code"] == "150300"
    assert first["leading_industries"] == ["化工", "新材料"] and first["approval_date"] == "2019-05-01"
    assert second["area_ha"] == "7" and second["approval_date"] == "2021-07-09"
    assert second["boundary"]["coordinates"][0][0] == [112.5, 40.9]


async def test_import_json_object_and_array(registry: httpx.AsyncClient, tokens: Tokens) -> None:
    zone = {"kind": "industrial_park", "level": "none", "name_zh": "化德服装产业园", "league_code": "150900",
            "county_code": "150922", "area_ha": "88.125", "leading_industries": ["服装"],
            "boundary": {"type": "Polygon", "coordinates": [[[114.0, 41.9], [114.1, 41.9], [114.1, 42.0],
                                                             [114.0, 41.9]]]}}
    r = await _post(registry, json.dumps({"zones": [zone]}).encode(), "application/json", st(tokens))
    assert r.status_code == 201, r.text
    code = r.json()["codes"][0]
    assert (await _zone(registry, code))["area_ha"] == "88.125"
    r = await _post(registry, json.dumps([{**zone, "name_zh": "化德物流园", "area_ha": 5.5}]).encode(),
                    "application/json; charset=utf-8", st(tokens))
    assert r.status_code == 201, r.text
    assert (await _zone(registry, r.json()["codes"][0]))["area_ha"] == "5.5"


async def test_dry_run_stores_nothing(registry: httpx.AsyncClient, registry_db: str, tokens: Tokens) -> None:
    before = await dump_rows(registry_db, Base.metadata)
    r = await _post(registry, GOOD_CSV.encode(), CSV, st(tokens), dry_run="true")
    assert r.status_code == 200, r.text
    assert r.json()["dry_run"] is True and r.json()["created"] == 0 and r.json()["rows"] == 2
    assert await dump_rows(registry_db, Base.metadata) == before
    real = await _post(registry, GOOD_CSV.encode(), CSV, st(tokens))
    assert real.status_code == 201 and real.json()["codes"] == r.json()["codes"]


async def test_every_bad_row_is_reported_and_nothing_stored(registry: httpx.AsyncClient, registry_db: str,
                                                            tokens: Tokens) -> None:
    before = await dump_rows(registry_db, Base.metadata)
    rows = [
        HEADER,
        ",casino,none,,好园区,,150900,,1,,,,,,,,",  # 2
        ",hitech,none,,坏等级园,,159999,,1,,,,,,,,",  # 3: level and league
        ",industrial_park,none,,零面积园,,150900,,0,,,,2020-02-30,,,,",  # 4: area and date
        ",industrial_park,none,,无边界园,,150900,150102,1,,,,,,,,{not json",  # 5: county and boundary
        ',industrial_park,none,,点园,,150900,,1,,,,,,,,"{""type"":""Point"",""coordinates"":[113.0,41.0]}"',  # 6
        ",industrial_park,none,revoked,,,150900,,-2,,,,2020-03-15,month,,,",  # 7
        "S159901,hitech,regional,,新园一,,150900,,1,,,,,,,,",  # 8: fine alone
        "S159901,hitech,regional,,新园二,,150900,,1,,,,,,,maybe,",  # 9: duplicate code, confidence
        ",industrial_park,none,,新园一,,150900,,1,,,,,,,,",  # 10: duplicate name in the file
        "S159041,hitech,regional,,新园三,,150200,,1.12345678901,,,,,,,,",  # 11: code registered, decimal
    ]
    r = await _post(registry, ("\r\n".join(rows) + "\r\n").encode(), CSV, st(tokens))
    assert _errors(r) == {
        (2, "kind", "invalid_enum"),
        (3, "level", "level-not-allowed-for-kind"), (3, "league_code", "unknown-league"),
        (4, "area_ha", "not_positive"), (4, "approval_date", "invalid_date"),
        (5, "county_code", "county-outside-league"), (5, "boundary", "invalid_geojson"),
        (6, "boundary", "invalid_geojson"),
        (7, "status", "status-not-initial"), (7, "name_zh", "missing"), (7, "area_ha", "not_positive"),
        (7, "approval_date_precision", "precision-mismatch"),
        (9, "code", "duplicate-code"), (9, "confidence", "invalid_pattern"),
        (10, "name_zh", "duplicate-name"),
        (11, "code", "duplicate-code"), (11, "area_ha", "invalid_decimal"),
    }
    problem = r.json()
    assert problem["code"] == "import-rejected" and problem["rows_rejected"] == 9 and problem["rows_total"] == 10
    assert [e["row"] for e in problem["errors"]] == sorted(e["row"] for e in problem["errors"])
    assert all(e["reason"] and e["pointer"] is None for e in problem["errors"])
    assert "row 8" in next(e["reason"] for e in problem["errors"] if e["row"] == 10)
    assert await dump_rows(registry_db, Base.metadata) == before


async def test_json_errors_carry_pointers(registry: httpx.AsyncClient, registry_db: str, tokens: Tokens) -> None:
    before = await dump_rows(registry_db, Base.metadata)
    good = {"kind": "industrial_park", "level": "none", "name_zh": "甲园", "league_code": "150900"}
    zones = [good, {**good, "name_zh": "乙园", "kind": "casino", "colour": "red"}, "not a zone",
             {**good, "leading_industries": ["x" * 61]}]
    r = await _post(registry, json.dumps({"zones": zones}).encode(), "application/json", st(tokens))
    assert _errors(r) == {(2, "kind", "invalid_enum"), (2, "colour", "unknown-field"), (3, "", "not-an-object"),
                          (4, "name_zh", "duplicate-name"), (4, "leading_industries", "too_long")}
    pointers = {e["pointer"] for e in r.json()["errors"]}
    assert {"#/zones/1/kind", "#/zones/1/colour", "#/zones/3/leading_industries/0", "#/zones/2"} <= pointers
    bare = await _post(registry, json.dumps([{**good, "level": "galactic"}]).encode(), "application/json",
                       st(tokens))
    assert _errors(bare) == {(1, "level", "invalid_enum")} and bare.json()["errors"][0]["pointer"] == "#/0/level"
    assert await dump_rows(registry_db, Base.metadata) == before


async def test_duplicate_names_within_the_file_and_against_the_register(registry: httpx.AsyncClient,
                                                                         tokens: Tokens) -> None:
    existing = await _zone(registry, "S159041")
    zones = [{"kind": "hitech", "level": "regional", "name_zh": existing["name_zh"], "league_code": "150200"},
             {"kind": "hitech", "level": "regional", "name_zh": existing["name_zh"], "league_code": "150300"},
             {"kind": "hitech", "level": "regional", "name_zh": f" {existing['name_zh']} ", "league_code": "150300"}]
    r = await _post(registry, json.dumps(zones).encode(), "application/json", st(tokens))
    assert _errors(r) == {(1, "name_zh", "duplicate-name"), (3, "name_zh", "duplicate-name")}
    assert "S159041" in r.json()["errors"][0]["reason"]


async def test_roles_media_types_and_malformed_bodies(registry: httpx.AsyncClient, registry_db: str,
                                                      tokens: Tokens) -> None:
    before = await dump_rows(registry_db, Base.metadata)
    body = GOOD_CSV.encode()
    assert (await _post(registry, body, CSV, {})).status_code == 401
    for role in ("observer", "expert", "service"):
        r = await _post(registry, body, CSV, tokens.headers(role))
        assert r.status_code == 403 and r.headers["content-type"] == PROBLEM
    r = await _post(registry, body, CSV, tokens.headers("league_government", league_code="150900"))
    assert r.status_code == 403
    for content_type in ("text/plain", "application/vnd.ms-excel", ""):
        r = await _post(registry, body, content_type, st(tokens))
        assert r.status_code == 415 and r.headers["content-type"] == PROBLEM, content_type
    r = await _post(registry, body, "text/csv; charset=latin-1", st(tokens))
    assert r.status_code == 415 and r.json()["code"] == "unsupported-encoding"
    r = await _post(registry, codecs.BOM_UTF16_LE + GOOD_CSV.encode("utf-16-le"), CSV, st(tokens))
    assert r.status_code == 415 and "UTF-16" in r.json()["detail"]
    assert (await _post(registry, b"PK\x03\x04 broken", XLSX, st(tokens))).json()["code"] == "invalid-xlsx"
    assert (await _post(registry, b"{nope", "application/json", st(tokens))).status_code == 400
    assert _errors(await _post(registry, b'{"rows": []}', "application/json", st(tokens))) == {
        (None, "body", "invalid-shape")}
    assert _errors(await _post(registry, b"", CSV, st(tokens))) == {(1, "header", "missing-header")}
    assert _errors(await _post(registry, (HEADER + "\r\n").encode(), CSV, st(tokens))) == {(2, "body", "no-rows")}
    assert _errors(await _post(registry, b"code,kind,colour\r\nS1,hitech,red\r\n", CSV, st(tokens))) == {
        (1, "colour", "unknown-column"), (1, "level", "missing-column"), (1, "name_zh", "missing-column"),
        (1, "league_code", "missing-column")}
    extra = (HEADER + "\r\n" + GOOD_CSV.splitlines()[2] + ",surplus\r\n").encode()
    assert _errors(await _post(registry, extra, CSV, st(tokens))) == {(2, "column 18", "extra-cell")}
    assert await dump_rows(registry_db, Base.metadata) == before


async def test_row_cap(registry: httpx.AsyncClient, registry_db: str, tokens: Tokens) -> None:
    before = await dump_rows(registry_db, Base.metadata)
    lines = [HEADER] + [f",industrial_park,none,,园{i},,150900,,1,,,,,,,," for i in range(formats.MAX_ROWS + 1)]
    r = await _post(registry, "\n".join(lines).encode(), CSV, st(tokens))
    assert r.status_code == 413 and r.headers["content-type"] == PROBLEM and r.json()["code"] == "too-many-rows"
    zones = [{"kind": "other", "level": "none", "name_zh": f"园{i}", "league_code": "150900"}
             for i in range(formats.MAX_ROWS + 1)]
    r = await _post(registry, json.dumps(zones).encode(), "application/json", st(tokens))
    assert r.status_code == 413 and r.json()["max_rows"] == formats.MAX_ROWS
    assert await dump_rows(registry_db, Base.metadata) == before


async def test_idempotency_key_replays_the_answer(registry: httpx.AsyncClient, tokens: Tokens) -> None:
    headers = {**st(tokens), "Idempotency-Key": "import-2024-01"}
    first = await _post(registry, GOOD_CSV.encode(), CSV, headers)
    count = len(await _codes(registry))
    again = await _post(registry, GOOD_CSV.encode(), CSV, headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert len(await _codes(registry)) == count
    other = await _post(registry, GOOD_CSV.replace("0.1", "0.2").encode(), CSV, headers)
    assert other.status_code == 422 and other.json()["code"] == "idempotency-key-reused"
    # without the key the same file is a second import: refused, the names are taken
    assert (1 + 1, "name_zh", "duplicate-name") in _errors(await _post(registry, GOOD_CSV.encode(), CSV, st(tokens)))


# ------------------------------------------------------------------------------------------ export


def _csv_rows(content: bytes) -> list[dict[str, str]]:
    assert content.startswith(codecs.BOM_UTF8)
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"), newline="")))


async def test_export_csv_and_round_trip(registry: httpx.AsyncClient, tokens: Tokens) -> None:
    r = await registry.get("/zones/export.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="zones.csv"' in r.headers["content-disposition"]
    assert r.content.split(b"\r\n", 1)[0] == codecs.BOM_UTF8 + HEADER.encode()
    rows = _csv_rows(r.content)
    assert [row["code"] for row in rows] == await _codes(registry)
    s159041 = next(row for row in rows if row["code"] == "S159041")
    assert s159041["area_ha"] == "2796.11" and s159041["leading_industries"] == "重车装备;工程机械装备;新能源装备"
    # edit: new codes and names, then import what was exported
    for i, row in enumerate(rows):
        row["code"] = "" if i % 2 else f"NM-{5000 + i}"
        row["name_zh"] += "（副本）"
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=HEADER.split(","))
    writer.writeheader()
    writer.writerows(rows)
    imported = await _post(registry, out.getvalue().encode("utf-8-sig"), CSV, st(tokens))
    assert imported.status_code == 201, imported.text[:2000]
    assert imported.json()["created"] == len(rows)
    again = {row["code"]: row for row in _csv_rows((await registry.get("/zones/export.csv")).content)}
    for row, code in zip(rows, imported.json()["codes"], strict=True):
        assert again[code] == {**row, "code": code}


async def test_export_xlsx_and_round_trip(registry: httpx.AsyncClient, tokens: Tokens) -> None:
    r = await registry.get("/zones/export.xlsx", params={"kind": "hitech"})
    assert r.status_code == 200 and r.headers["content-type"] == XLSX
    book = openpyxl.load_workbook(io.BytesIO(r.content))
    sheet = book.worksheets[0]
    assert sheet.freeze_panes == "A2"
    assert [c.value for c in sheet[1]] == HEADER.split(",")
    exported = list(sheet.iter_rows(min_row=2, values_only=True))
    hitech = (await registry.get("/zones", params={"kind": "hitech", "limit": 500})).json()["items"]
    assert [row[0] for row in exported] == [z["code"] for z in hitech] and hitech
    for row in sheet.iter_rows(min_row=2):
        row[0].value = None
        row[4].value = f"{row[4].value}（副本）"
    buffer = io.BytesIO()
    book.save(buffer)
    imported = await _post(registry, buffer.getvalue(), XLSX, st(tokens))
    assert imported.status_code == 201, imported.text[:2000]
    copy = await _zone(registry, imported.json()["codes"][0])
    original = await _zone(registry, str(exported[0][0]))
    for name in ("kind", "level", "status", "league_code", "area_ha", "leading_industries", "approval_date",
                 "approval_date_precision", "source", "boundary"):
        assert copy[name] == original[name], name


async def test_export_filters_and_route_order(registry: httpx.AsyncClient) -> None:
    assert (await registry.get("/zones/S159041")).json()["code"] == "S159041"
    league = _csv_rows((await registry.get("/zones/export.csv", params={"league": "150200"})).content)
    assert league and all(row["league_code"] == "150200" for row in league)
    # as_of before S159041 became hitech: its kind and name are those of 2011
    old = _csv_rows((await registry.get("/zones/export.csv", params={"as_of": "2015-01-01"})).content)
    s159041 = next(row for row in old if row["code"] == "S159041")
    assert s159041["kind"] == "industrial_park" and s159041["name_zh"] == "包头装备制造产业园区"
    assert len(old) < len(await _codes(registry))
    none = await registry.get("/zones/export.csv", params={"known_at": "2000-01-01"})
    assert _csv_rows(none.content) == []
    bad = await registry.get("/zones/export.xlsx", params={"kind": "casino"})
    assert bad.status_code == 422 and bad.headers["content-type"] == PROBLEM


# ----------------------------------------------------------------------------- pure format functions


def test_csv_decoding_is_detected_not_guessed() -> None:
    text = "name_zh\r\n鄂尔多斯\r\n"
    assert formats.decode_csv(text.encode("utf-8")) == text
    assert formats.decode_csv(codecs.BOM_UTF8 + text.encode("utf-8")) == text
    assert formats.decode_csv(text.encode("gb18030")) == text
    assert formats.decode_csv(text.encode("gb18030"), "GBK") == text
    with pytest.raises(Problem) as refused:
        formats.decode_csv(text.encode("gb18030"), "utf-8")
    assert refused.value.status == 422
    with pytest.raises(Problem) as refused:
        formats.decode_csv(b"\x81\x30\xff")  # neither UTF-8 nor GB18030
    assert refused.value.code == "undecodable-csv"
    assert _content_type('text/csv; Charset="GB18030"') == ("text/csv", "GB18030")
    assert _content_type(None) == ("", None)


def test_xlsx_writer_never_writes_formulas() -> None:
    content = formats.write_xlsx([{"code": "NM-1", "name_zh": "=HYPERLINK(\"x\")", "area_ha": None}])
    sheet = openpyxl.load_workbook(io.BytesIO(content)).worksheets[0]
    assert sheet["E2"].data_type == "s" and sheet["E2"].value == '=HYPERLINK("x")'


def test_a_zip_bomb_is_refused_before_it_inflates() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/sharedStrings.xml", b"a" * (formats.MAX_XLSX_EXPANDED_BYTES + 1))
    assert len(buffer.getvalue()) < 1024 * 1024
    with pytest.raises(Problem) as refused:
        formats.read_xlsx(buffer.getvalue())
    assert refused.value.status == 413 and refused.value.code == "workbook-too-large"
