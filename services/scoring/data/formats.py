"""Bulk bodies → unit-years: JSON (`{"reason", "records": [{"unit", "values", "reason"}]}` or a bare array),
CSV and XLSX (a header row naming the unit column and the variables; rows starting with `#` are the
template's label rows). Pure: no database.

Row numbers: CSV/XLSX as a spreadsheet shows them (header = row 1); JSON: the 1-based position, with a
JSON pointer (`#/records/<i>/values/<variable>`)."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import orjson

from services.scoring.data.service import Incoming
from services.scoring.frameworks.definition import FrameworkDocument
from shared.problems import Problem
from shared.tabular import (
    CSV_MEDIA_TYPE,
    JSON_MEDIA_TYPE,
    XLSX_MEDIA_TYPE,
    RowError,
    Table,
    read_csv,
    read_xlsx,
    rejected,
)

REASON_COLUMN = "reason"


def _text(value: Any) -> str:
    """A unit code typed into a number cell (150200) is its text."""
    return str(value).strip() if value is not None else ""


# a run of 16+ digits (and points): the only way a JSON number can have more than 15 significant digits
_LONG_NUMBER = re.compile(rb"[0-9.]{16,}")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads_exact(data: bytes) -> Any:
    """JSON whose numbers are read exactly (contracts: decimals). orjson reads numbers as floats, exact
    for up to 15 significant digits (their shortest repr is the number as written): every number of a body
    without a run of 16+ digits. Other bodies are read by the standard library with Decimal numbers (a
    20-digit figure came back as 12345678901234567000 before, and a 20-digit integer was refused)."""
    try:
        if _LONG_NUMBER.search(data) is None:
            return orjson.loads(data)
        return json.loads(data, parse_float=Decimal, parse_constant=_no_constant)
    except (orjson.JSONDecodeError, ValueError, RecursionError) as exc:
        raise Problem(400, "malformed-json", f"The request body is not valid JSON: {exc}.") from None


def from_json(data: bytes, max_rows: int) -> tuple[list[Incoming], str | None]:
    doc = loads_exact(data)
    reason = None
    prefix = "#"
    if isinstance(doc, dict):
        reason = doc.get("reason") if isinstance(doc.get("reason"), str) else None
        extra = sorted(set(doc) - {"records", "reason"})
        if extra or "records" not in doc:
            raise rejected([RowError(None, ",".join(extra) or "records", "invalid-shape",
                                     'send {"reason": "…", "records": [{"unit": …, "values": {…}}]}')],
                           "A bulk post is {\"records\": [ … ]} (with an optional reason) or an array.")
        doc = doc["records"]
        prefix = "#/records"
    if not isinstance(doc, list):
        raise rejected([RowError(None, "records", "invalid-shape", "records is an array")], "records is an array.")
    if len(doc) > max_rows:
        raise Problem(413, "too-many-rows", f"A post holds at most {max_rows} records.", max_rows=max_rows)
    if not doc:
        raise rejected([RowError(None, "records", "no-rows", "the array is empty")], "The post holds no record.", 0)
    items = []
    for i, record in enumerate(doc):
        pointer = f"{prefix}/{i}"
        if not isinstance(record, dict):
            items.append(Incoming(i + 1, pointer, f"#{i}", {}, problems=[
                RowError(i + 1, "", "not-an-object", "each record is an object", pointer)]))
            continue
        unit, values = record.get("unit"), record.get("values")
        problems = []
        extra = sorted(set(record) - {"unit", "values", "reason"})
        if extra:
            problems.append(RowError(i + 1, extra[0], "unknown-field", f"a record has unit, values and reason; "
                                     f"not {', '.join(extra)}", f"{pointer}/{extra[0]}"))
        if not isinstance(unit, str) or not unit.strip():
            problems.append(RowError(i + 1, "unit", "required", "the unit (zone) code is required", f"{pointer}/unit"))
            unit = f"#{i}"
        if not isinstance(values, dict):
            problems.append(RowError(i + 1, "values", "required", "values is an object of variable → value",
                                     f"{pointer}/values"))
            values = {}
        row_reason = record.get("reason") if isinstance(record.get("reason"), str) else None
        items.append(Incoming(i + 1, pointer, unit.strip(), values, row_reason, problems))
    return items, reason


def from_table(table: Table, doc: FrameworkDocument) -> list[Incoming]:
    unit_column = doc.intake.unit_column
    ignored = {c.lower() for c in doc.intake.ignored_columns}
    errors = []
    names: list[str | None] = []
    for i, name in enumerate(table.header):
        if name is None:
            names.append(None)
            continue
        low = name.lower()
        if name in doc.variables_by_name:
            key = name
        elif low in (unit_column.lower(), "unit"):
            key = "@unit"
        elif low == REASON_COLUMN:
            key = "@reason"
        elif low in ignored:
            key = "@ignored"
        else:
            errors.append(RowError(1, name, "unknown-column", f"{doc.id} declares no variable {name!r} (column "
                                   f"{i + 1})"))
            key = name
        if key in names and not key.startswith("@i"):
            errors.append(RowError(1, name, "duplicate-column", "the column appears twice"))
        names.append(key)
    if "@unit" not in names:
        errors.append(RowError(1, unit_column, "missing-column", f"a column {unit_column!r} names each unit"))
    if errors:
        raise rejected(errors, "The header row is not valid; nothing was stored.")
    if not table.rows:
        raise rejected([RowError(2, "body", "no-rows", "the file has a header but no data row")],
                       "The file holds no data row; nothing was stored.", 0)
    items = []
    for number, cells in table.rows:
        unit, values, reason, problems = "", {}, None, []
        for i, cell in enumerate(cells):
            name = names[i] if i < len(names) else None
            empty = cell is None or (isinstance(cell, str) and not cell.strip())
            if name is None:
                if not empty:
                    problems.append(RowError(number, f"column {i + 1}", "extra-cell", "a value under no header"))
            elif name == "@unit":
                unit = _text(cell)
            elif name == "@reason":
                reason = None if empty else _text(cell)
            elif name != "@ignored" and not empty:
                values[name] = cell.strip() if isinstance(cell, str) else cell
        if not unit:
            problems.append(RowError(number, unit_column, "required", "the unit (zone) code is required"))
            unit = f"#row{number}"
        items.append(Incoming(number, None, unit, values, reason, problems))
    return items


def read_bulk(data: bytes, media_type: str, charset: str | None, doc: FrameworkDocument,
              max_rows: int) -> tuple[list[Incoming], str | None]:
    if media_type == JSON_MEDIA_TYPE:
        return from_json(data, max_rows)
    if media_type in (CSV_MEDIA_TYPE, "application/csv"):
        return from_table(read_csv(data, charset, max_rows), doc), None
    if media_type == XLSX_MEDIA_TYPE:
        return from_table(read_xlsx(data, max_rows, max_columns=len(doc.variables) + 20), doc), None
    raise Problem(415, "unsupported-media-type", f"Content-Type {media_type or '(none)'} cannot be posted: send "
                  f"{JSON_MEDIA_TYPE}, {CSV_MEDIA_TYPE} or {XLSX_MEDIA_TYPE}.",
                  errors=[{"in": "header", "field": "Content-Type", "pointer": None, "code": "unsupported",
                           "reason": f"one of {JSON_MEDIA_TYPE}, {CSV_MEDIA_TYPE}, {XLSX_MEDIA_TYPE}"}])
