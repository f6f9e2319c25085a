"""Reading and writing the register's bulk formats (CSV, XLSX, JSON): pure functions, no database.

Row numbers: for CSV and XLSX a row is numbered as a spreadsheet shows it (the header is row 1, the first
data row is row 2, blank rows count); for JSON it is the 1-based position in the array, and `pointer`
names the element (`#/zones/<0-based index>/<field>`, or `#/<index>/<field>` for a bare array)."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font
from openpyxl.utils.exceptions import InvalidFileException

from shared.decimals import canonical_decimal
from shared.problems import Problem
from shared.tabular import RowError, decode_csv, xlsx_cell  # its import also quiets openpyxl, process-wide

# ZoneCreate's fields (without `established`), plus the boundary as GeoJSON text: export header = import header.
COLUMNS: tuple[str, ...] = (
    "code", "kind", "level", "status", "name_zh", "name_en", "league_code", "county_code", "area_ha",
    "leading_industries", "management_committee", "approval_doc", "approval_date", "approval_date_precision",
    "source", "confidence", "boundary",
)
MAX_ROWS = 5_000
MAX_XLSX_EXPANDED_BYTES = 100 * 1024 * 1024  # a 5 MB zip may not inflate beyond this (zip bombs)
CSV_MEDIA_TYPE = "text/csv"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
JSON_MEDIA_TYPE = "application/json"
_LIST_SEPARATORS = re.compile(r"[;；]")
_SLASH_DATE = re.compile(r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})$")


@dataclass(slots=True)
class SourceRow:
    """One data row: its number (see module doc), JSON pointer prefix (JSON only) and its cells by column."""

    number: int
    values: dict[str, Any]
    pointer: str | None = None
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (field, code, reason) found while reading


def rejected(errors: Sequence[RowError], detail: str, rows_total: int | None = None) -> Problem:
    """The one 422 of an import: every problem of every row, nothing stored."""
    bad_rows = len({e.row for e in errors})
    return Problem(422, "import-rejected", detail, errors=[e.as_dict() for e in errors], rows_total=rows_total,
                   rows_rejected=bad_rows)


def _too_many(count: int) -> Problem:
    return Problem(413, "too-many-rows", f"An import holds at most {MAX_ROWS} rows; this file has more than "
                   f"{MAX_ROWS} ({count} read). Split it into several files.", max_rows=MAX_ROWS)


# ------------------------------------------------------------------------------------------ decoding


# ---------------------------------------------------------------------------------------- the header


def _header(cells: Sequence[Any]) -> list[str | None]:
    """Column names by position (None for an unnamed cell); unknown or repeated names → 422 on row 1."""
    names: list[str | None] = []
    errors: list[RowError] = []
    for cell in cells:
        name = str(cell).strip().lstrip("\ufeff").lower() if cell is not None else ""
        if not name:
            names.append(None)
            continue
        if name not in COLUMNS:
            errors.append(RowError(1, name, "unknown-column", f"not one of the columns: {', '.join(COLUMNS)}"))
        elif name in names:
            errors.append(RowError(1, name, "duplicate-column", "the column appears twice"))
        names.append(name)
    if not any(names):
        errors.append(RowError(1, "header", "missing-header", f"row 1 must name the columns: {', '.join(COLUMNS)}"))
    for required in ("kind", "level", "name_zh", "league_code"):
        if any(names) and required not in names:
            errors.append(RowError(1, required, "missing-column", "a required column is absent"))
    if errors:
        raise rejected(errors, "The header row is not valid; nothing was imported.")
    return names


def _rows(header: list[str | None], records: Iterable[tuple[int, Sequence[Any]]]) -> list[SourceRow]:
    out: list[SourceRow] = []
    for number, cells in records:
        if all(c is None or (isinstance(c, str) and not c.strip()) for c in cells):
            continue  # a blank row
        if len(out) == MAX_ROWS:
            raise _too_many(len(out) + 1)
        row = SourceRow(number, {})
        for i, cell in enumerate(cells):
            name = header[i] if i < len(header) else None
            empty = cell is None or (isinstance(cell, str) and not cell.strip())
            if name is None:
                if not empty:
                    row.problems.append((f"column {i + 1}", "extra-cell", "a value in a column without a header"))
                continue
            if not empty:
                row.values[name] = cell.strip() if isinstance(cell, str) else cell
        out.append(row)
    if not out:
        raise rejected([RowError(2, "body", "no-rows", "the file has a header but no data row")],
                       "The file holds no zone; nothing was imported.", 0)
    return out


def read_csv(data: bytes, charset: str | None = None) -> list[SourceRow]:
    """Rows of a comma-separated file whose first row names the columns."""
    reader = csv.reader(io.StringIO(decode_csv(data, charset), newline=""))
    try:
        first = next(reader, None)
        if first is None:
            raise rejected([RowError(1, "header", "missing-header", "the file is empty")], "The file is empty.", 0)
        header = _header(first)
        records = list(_numbered(reader))
    except csv.Error as exc:
        raise rejected([RowError(reader.line_num, "body", "invalid-csv", str(exc))],
                       f"The CSV cannot be read near line {reader.line_num}: {exc}.") from None
    return _rows(header, records)


def _numbered(reader: Iterator[list[str]]) -> Iterator[tuple[int, list[str]]]:
    for number, record in enumerate(reader, start=2):
        if number > MAX_ROWS * 4:  # far past the cap even with blank rows: stop reading
            raise _too_many(number - 1)
        yield number, record


def read_xlsx(data: bytes) -> list[SourceRow]:
    """Rows of the workbook's first sheet, whose first row names the columns."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            expanded = sum(info.file_size for info in archive.infolist())
        if expanded > MAX_XLSX_EXPANDED_BYTES:
            raise Problem(413, "workbook-too-large", f"The workbook inflates to {expanded} bytes; at most "
                          f"{MAX_XLSX_EXPANDED_BYTES} are read.")
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            rows = book.worksheets[0].iter_rows(values_only=True, max_col=len(COLUMNS) + 20)
            first = next(rows, None)
            if first is None:
                raise rejected([RowError(1, "header", "missing-header", "the first sheet is empty")],
                               "The first sheet is empty.", 0)
            header = _header(first)
            records = []
            for number, cells in enumerate(rows, start=2):
                if number > MAX_ROWS * 4:
                    raise _too_many(number - 1)
                records.append((number, [xlsx_cell(c) for c in cells]))
        finally:
            book.close()
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, IndexError, OSError) as exc:
        raise Problem(422, "invalid-xlsx", f"The body is not a readable XLSX workbook ({type(exc).__name__}).",
                      errors=[{"in": "body", "row": None, "field": "body", "pointer": None, "code": "invalid-xlsx",
                               "reason": "not an Office Open XML workbook"}]) from None
    return _rows(header, records)


def read_json(data: bytes) -> list[SourceRow]:
    """`{"zones": [...]}` or a bare array of zone objects."""
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise Problem(400, "malformed-json", f"The request body is not valid UTF-8 JSON: {exc}.") from None
    prefix = "#/zones/"
    if isinstance(doc, dict) and set(doc) == {"zones"}:
        doc = doc["zones"]
    else:
        prefix = "#/"
    if not isinstance(doc, list):
        raise rejected([RowError(None, "body", "invalid-shape", 'send {"zones": [ … ]} or an array of zones')],
                       'A JSON import is {"zones": [ … ]} or an array of zone objects.')
    if len(doc) > MAX_ROWS:
        raise _too_many(len(doc))
    if not doc:
        raise rejected([RowError(None, "zones", "no-rows", "the array is empty")], "The import holds no zone.", 0)
    out = []
    for i, item in enumerate(doc):
        row = SourceRow(i + 1, item if isinstance(item, dict) else {}, pointer=f"{prefix}{i}")
        if not isinstance(item, dict):
            row.problems.append(("", "not-an-object", "each zone is a JSON object"))
        out.append(row)
    return out


def read(data: bytes, media_type: str, charset: str | None) -> tuple[list[SourceRow], bool]:
    """(rows, tabular) by media type; anything else is 415."""
    if media_type in (CSV_MEDIA_TYPE, "application/csv"):
        return read_csv(data, charset), True
    if media_type == XLSX_MEDIA_TYPE:
        return read_xlsx(data), True
    if media_type == JSON_MEDIA_TYPE:
        return read_json(data), False
    raise Problem(415, "unsupported-media-type", f"Content-Type {media_type or '(none)'} is not importable: send "
                  f"{CSV_MEDIA_TYPE}, {XLSX_MEDIA_TYPE} or {JSON_MEDIA_TYPE}.",
                  errors=[{"in": "header", "field": "Content-Type", "pointer": None, "code": "unsupported",
                           "reason": f"one of {CSV_MEDIA_TYPE}, {XLSX_MEDIA_TYPE}, {JSON_MEDIA_TYPE}"}])


# ------------------------------------------------------------------------------- cells → ZoneCreate input


def _text(value: Any) -> Any:
    """A number typed into a text column (an XLSX league code 150200) becomes its exact text."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return canonical_decimal(value)
    return value


def prepare(row: SourceRow, tabular: bool) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
    """The row's values shaped for ZoneCreate, and the (field, code, reason) problems found doing so."""
    out: dict[str, Any] = {}
    problems = list(row.problems)
    for name, value in row.values.items():
        if name == "boundary" and isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as exc:
                problems.append((name, "invalid_geojson", f"not JSON text: {exc}"))
                continue
        elif tabular and name == "leading_industries":
            value = [part.strip() for part in _LIST_SEPARATORS.split(str(_text(value))) if part.strip()]
        elif tabular and name == "approval_date":
            if isinstance(value, dt.datetime):
                if value.time() != dt.time(0):
                    problems.append((name, "invalid_date", f"{value} has a time of day; give a date"))
                    continue
                value = value.date()
            elif isinstance(value, str) and (m := _SLASH_DATE.match(value)):  # Excel zh-CN writes 2002/6/1
                value = f"{m[1]}-{int(m[2]):02d}-{int(m[3]):02d}"
        elif tabular and name != "area_ha":
            value = _text(value)
        out[name] = value
    return out, problems


# -------------------------------------------------------------------------------------------- writing


def _csv_text(name: str, value: Any) -> str:
    if value is None:
        return ""
    if name == "leading_industries":
        return ";".join(value)
    if name == "boundary":
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, Decimal):
        return canonical_decimal(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def write_csv(rows: Iterable[dict[str, Any]]) -> bytes:
    """UTF-8 with BOM (Excel recognises it), CRLF lines, the import's header."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_csv_text(c, row.get(c)) for c in COLUMNS])
    return codecs.BOM_UTF8 + buffer.getvalue().encode("utf-8")


def _xlsx_value(name: str, value: Any) -> Any:
    if isinstance(value, Decimal):  # a number when a double holds it exactly, else its exact text
        return float(value) if Decimal(repr(float(value))) == value else canonical_decimal(value)
    if name in ("leading_industries", "boundary"):
        return _csv_text(name, value) or None
    return value


def write_xlsx(rows: Iterable[dict[str, Any]]) -> bytes:
    """One sheet `zones`: bold header row (the import's column names), frozen below it."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "zones"
    sheet.append(list(COLUMNS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    for r, row in enumerate(rows, start=2):
        for c, name in enumerate(COLUMNS, start=1):
            value = _xlsx_value(name, row.get(name))
            cell = sheet.cell(row=r, column=c, value=value)
            if isinstance(value, str) and value.startswith("="):
                cell.data_type = "s"  # text, never a formula
            elif isinstance(value, dt.date):
                cell.number_format = "yyyy-mm-dd"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
