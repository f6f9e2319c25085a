"""The XLSX template of a year: sheet `data` with one row per unit in the framework's scope, the
variables' codes in row 1 (what the upload reads), zh and en labels and units in rows 2–4 (comment
rows starting with `#`, skipped on upload), input validation per column; sheet `README` explains."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from services.scoring.clients.registry import RegistryClient
from services.scoring.frameworks.definition import FrameworkDocument
from shared.decimals import canonical_decimal
from shared.tabular import XLSX_MEDIA_TYPE

LABEL_FILL = PatternFill("solid", fgColor="EEF3F8")


async def units_in_scope(doc: FrameworkDocument, registry: RegistryClient) -> list[tuple[str, str, str]]:
    """(code, name zh, name en) of every unit the framework takes, sorted by code."""
    if doc.scope.units is not None:
        return sorted((u.code, u.name.zh or u.name.en, u.name.en) for u in doc.scope.units)
    found: dict[str, tuple[str, str, str]] = {}
    for f in doc.scope.registry or []:
        zones = await registry.list_zones(kind=",".join(f.kind), level=",".join(f.level), status=",".join(f.status))
        for z in zones:
            found[z["code"]] = (z["code"], z.get("name_zh") or "", z.get("name_en") or "")
    return sorted(found.values())


def _validation(variable: Any) -> DataValidation | None:
    if variable.type == "category":
        if not variable.categories:
            return None
        return DataValidation(type="list", formula1='"' + ",".join(variable.categories) + '"', allow_blank=True)
    kind = "whole" if variable.type == "integer" else "decimal"
    lo = canonical_decimal(variable.min) if variable.min is not None else None
    hi = canonical_decimal(variable.max) if variable.max is not None else None
    if lo is not None and hi is not None:
        dv = DataValidation(type=kind, operator="between", formula1=lo, formula2=hi, allow_blank=True)
    elif lo is not None:
        dv = DataValidation(type=kind, operator="greaterThanOrEqual", formula1=lo, allow_blank=True)
    elif hi is not None:
        dv = DataValidation(type=kind, operator="lessThanOrEqual", formula1=hi, allow_blank=True)
    else:
        dv = DataValidation(type=kind, operator="between", formula1="-1E+20", formula2="1E+20", allow_blank=True)
    dv.error = f"{variable.label.zh or variable.label.en}: {'整数' if kind == 'whole' else '数值'}" + (
        f" ≥ {lo}" if lo is not None else "")
    dv.errorTitle = variable.name
    dv.showErrorMessage = True
    return dv


def workbook(doc: FrameworkDocument, version: int, year: int, units: list[tuple[str, str, str]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "data"
    variables = doc.input_variables
    unit_column = doc.intake.unit_column
    name_columns = [c for c in ("name_zh", "name_en") if c in {x.lower() for x in doc.intake.ignored_columns}]
    header = [unit_column, *name_columns, *(v.name for v in variables), "reason"]
    sheet.append(header)
    sheet.append(["# 中文名称", *["名称"] * len(name_columns), *(v.label.zh or v.label.en for v in variables),
                  "更正原因（可选）"])
    sheet.append(["# English", *["name"] * len(name_columns), *(v.label.en for v in variables),
                  "reason for a correction (optional)"])
    sheet.append(["# 单位 unit", *[""] * len(name_columns),
                  *((v.unit or "") + (" (integer)" if v.type == "integer" else "") if v.type != "category"
                    else "/".join(v.categories or []) for v in variables), ""])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for r in (2, 3, 4):
        for cell in sheet[r]:
            cell.fill = LABEL_FILL
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    sheet.freeze_panes = "B5"
    for code, name_zh, name_en in units:
        names = {"name_zh": name_zh, "name_en": name_en}
        sheet.append([code, *(names[c] for c in name_columns)])
    last = 4 + max(len(units), 1) + 200  # room for rows added by hand
    first_var = 2 + len(name_columns)
    for i, variable in enumerate(variables):
        letter = get_column_letter(first_var + i)
        dv = _validation(variable)
        if dv is not None:
            sheet.add_data_validation(dv)
            dv.add(f"{letter}5:{letter}{last}")
        sheet.column_dimensions[letter].width = 16
    sheet.column_dimensions["A"].width = 12
    for i, _ in enumerate(name_columns):
        sheet.column_dimensions[get_column_letter(2 + i)].width = 30
    readme = book.create_sheet("README")
    lines = [
        f"{doc.name.zh or doc.name.en} / {doc.name.en}",
        f"framework {doc.id} version {version}; figures of the year {year}",
        "填写说明 / How to fill in:",
        "· 第1行为变量代码，上传时按其识别各列；第2–4行（以 # 开头）为中文名、英文名和单位，上传时忽略。",
        "  Row 1 holds the variable codes the upload reads; rows 2–4 (starting with #) are labels and are skipped.",
        "· 金额单位为万元（10k CNY），面积单位见第4行；计数填整数；不适用或未统计的留空（不要填 0）。",
        "  Amounts in 10k CNY, areas as row 4 says; counts are whole numbers; leave a cell empty when not reported "
        "(never 0).",
        "· Excel 数字最多保留 15 位有效数字；服务按单元格显示的最短十进制读取，即 Decimal(repr(值))。需要更多位数时"
        "请将单元格设为文本。",
        "  Excel keeps at most 15 significant digits; each number is read exactly as its shortest decimal, "
        "Decimal(repr(value)). For more digits, type the cell as text.",
        "· 整张表一次校验：任何一行有错，全部不入库，返回逐行错误清单。",
        "  The whole sheet is checked at once: one bad row rejects the upload, and every problem is listed.",
        f"· POST /years/{year}/data, Content-Type: {XLSX_MEDIA_TYPE}",
    ]
    for line in lines:
        readme.append([line])
    readme.column_dimensions["A"].width = 120
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
