"""Reading tables that people and pipelines send (CSV in UTF-8/BOM/GB18030, XLSX), generically: a
header row of column names, numbered data rows, every problem reported with its row. Pure; no domain.

Row numbers are those a spreadsheet shows (the header is row 1). Rows whose first cell starts with `#`
are comments (a template's label rows) and are skipped. XLSX numbers are doubles with at most 15
significant digits: they are read exactly through their shortest repr, `Decimal(repr(v))`."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import warnings
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from fastapi import Request
from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from shared.problems import Problem

# openpyxl warns about the workbook features it drops when reading (styles, data-validation extensions):
# nothing to do with the values read. One process-wide filter, set at import: a warnings.catch_warnings()
# around load_workbook in the worker threads that parse uploads would race with FastAPI's own
# catch_warnings on the event loop (the filter list is global, not per thread) and drop its filters.
OPENPYXL_WARNINGS = r"openpyxl(\.|$)"
warnings.filterwarnings("ignore", category=UserWarning, module=OPENPYXL_WARNINGS)

CSV_MEDIA_TYPE = "text/csv"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
JSON_MEDIA_TYPE = "application/json"
MAX_XLSX_EXPANDED_BYTES = 200 * 1024 * 1024  # what a workbook may inflate to (zip bombs)
_UTF8 = {"utf-8", "utf8"}
_GB = {"gb18030", "gbk", "gb2312", "cp936"}


def media_type_of(request: Request) -> tuple[str, str | None]:
    """(media type, charset) of the request's Content-Type."""
    return parse_content_type(request.headers.get("content-type"))


def parse_content_type(header: str | None) -> tuple[str, str | None]:
    """(media type, charset) of a Content-Type header."""
    media_type, *params = (header or "").split(";")
    charset = None
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"') or None
    return media_type.strip().lower(), charset


@dataclass(slots=True)
class RowError:
    """One problem of an upload: its row (None: the whole body), column/variable, stable code, reason."""

    row: int | None
    field: str
    code: str
    reason: str
    pointer: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"in": "body", "row": self.row, "field": self.field, "pointer": self.pointer, "code": self.code,
                "reason": self.reason}


def rejected(errors: Sequence[RowError], detail: str, rows_total: int | None = None) -> Problem:
    """The one 422 of an all-or-nothing upload: every problem of every row; nothing stored."""
    return Problem(422, "upload-rejected", detail, errors=[e.as_dict() for e in errors], rows_total=rows_total,
                   rows_rejected=len({e.row for e in errors if e.row is not None}))


def too_many_rows(limit: int) -> Problem:
    return Problem(413, "too-many-rows", f"An upload holds at most {limit} rows; split it into several.",
                   max_rows=limit)


def decode_csv(data: bytes, charset: str | None = None) -> str:
    """UTF-8 (with or without BOM) checked strictly first, then GB18030; a declared charset is obeyed."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise Problem(415, "unsupported-encoding", "The CSV is UTF-16 (Excel's 'Unicode text'); save it as "
                      "'CSV UTF-8' or GB18030.")
    order: tuple[str, ...] = ("utf-8-sig", "gb18030")
    if charset is not None:
        name = charset.lower()
        if name not in _UTF8 | _GB:
            raise Problem(415, "unsupported-encoding", f"charset={charset} is not supported: send UTF-8 or GB18030.")
        order = ("utf-8-sig",) if name in _UTF8 else ("gb18030",)
    for encoding in order:
        try:
            return data.decode(encoding, errors="strict")
        except UnicodeDecodeError:
            continue
    raise Problem(422, "undecodable-csv", f"The CSV is neither valid {' nor '.join(order)}.",
                  errors=[RowError(None, "body", "invalid-encoding", f"not valid {' or '.join(order)}").as_dict()])


@dataclass(slots=True)
class Table:
    """A header (names by position, None for an unnamed column) and the data rows with their numbers."""

    header: list[str | None]
    rows: list[tuple[int, list[Any]]]


def _is_blank(cells: Sequence[Any]) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)


def _is_comment(cells: Sequence[Any]) -> bool:
    return bool(cells) and isinstance(cells[0], str) and cells[0].lstrip().startswith("#")


def _table(records: Iterable[tuple[int, list[Any]]], max_rows: int) -> Table:
    header: list[str | None] | None = None
    rows: list[tuple[int, list[Any]]] = []
    for number, cells in records:
        if header is None:
            if _is_blank(cells):
                continue
            header = [str(c).strip().lstrip("\ufeff") or None if c is not None else None for c in cells]
            continue
        if _is_blank(cells) or _is_comment(cells):
            continue
        if len(rows) == max_rows:
            raise too_many_rows(max_rows)
        rows.append((number, cells))
    if header is None:
        raise rejected([RowError(1, "header", "missing-header", "the first row names the columns")],
                       "The file is empty.", 0)
    return Table(header, rows)


def read_csv(data: bytes, charset: str | None, max_rows: int) -> Table:
    reader = csv.reader(io.StringIO(decode_csv(data, charset), newline=""))
    try:
        return _table(((reader.line_num, [c for c in record]) for record in reader), max_rows)
    except csv.Error as exc:
        raise rejected([RowError(reader.line_num, "body", "invalid-csv", str(exc))],
                       f"The CSV cannot be read near line {reader.line_num}: {exc}.") from None


def xlsx_cell(value: Any) -> Any:
    """A cell as an upload sees it: floats exactly through their repr, times as text."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dt.time):
        return value.isoformat()
    return value


def read_xlsx(data: bytes, max_rows: int, max_columns: int = 500) -> Table:
    """The first sheet of a workbook as a table."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            expanded = sum(info.file_size for info in archive.infolist())
        if expanded > MAX_XLSX_EXPANDED_BYTES:
            raise Problem(413, "workbook-too-large", f"The workbook inflates to {expanded} bytes; at most "
                          f"{MAX_XLSX_EXPANDED_BYTES} are read.")
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            cells = book.worksheets[0].iter_rows(values_only=True, max_col=max_columns)

            def records() -> Iterable[tuple[int, list[Any]]]:
                for number, row in enumerate(cells, start=1):
                    if number > max_rows * 4 + 20:  # far past the cap even with blank rows: stop
                        raise too_many_rows(max_rows)
                    yield number, [xlsx_cell(c) for c in row]

            return _table(records(), max_rows)
        finally:
            book.close()
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, IndexError, OSError) as exc:
        raise Problem(422, "invalid-xlsx", f"The body is not a readable XLSX workbook ({type(exc).__name__}).",
                      errors=[RowError(None, "body", "invalid-xlsx", "not an Office Open XML workbook").as_dict()]
                      ) from None
