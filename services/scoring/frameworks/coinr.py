"""COINr's metadata table (`iMeta`: Level, iCode, iName, Direction, Weight, Unit, Target, Denominator,
Parent, Type) → a framework document. Pure.

Types: `Indicator` → a leaf reading the variable of the same code (and a decimal variable);
`Aggregate` → a node; `Denominator` → a non-negative decimal variable; `Group` → a category variable
(unit groups, e.g. for imputation by group mean). Our extension: rows of Type `Unit` (iCode = unit code,
iName = its name) list the framework's own units; without them the units come with the call."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Any

from shared.problems import Problem, field_error

COLUMNS = ("Level", "iCode", "iName", "Direction", "Weight", "Unit", "Target", "Denominator", "Parent", "Type")
TYPES = ("Indicator", "Aggregate", "Denominator", "Group", "Unit")


def read_table(text: str) -> list[dict[str, str]]:
    """The rows of a CSV metadata table, keyed by COINr's column names (case as COINr spells them)."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in ("iCode", "iName", "Type", "Parent") if c not in (reader.fieldnames or [])]
    if missing:
        raise Problem(422, "invalid-metadata-table", f"A COINr metadata table has the columns {', '.join(COLUMNS)}; "
                      f"missing: {', '.join(missing)}.",
                      errors=[field_error(["header", c], "column missing", "missing-column") for c in missing])
    return [{k: (v or "").strip() for k, v in row.items() if k is not None} for row in reader]


def to_document(rows: Iterable[Mapping[str, Any]], *, framework_id: str, name: Mapping[str, str],
                units: list[dict[str, Any]] | None = None, description: Mapping[str, str] | None = None,
                unit_column: str = "uCode", ignored_columns: list[str] | None = None) -> dict[str, Any]:
    """A framework document (still to be validated) from COINr metadata rows."""
    variables: list[dict[str, Any]] = []
    nodes: list[dict[str, Any]] = []
    own_units: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        kind = str(row.get("Type") or "").strip()
        code = str(row.get("iCode") or "").strip()
        label = {"en": str(row.get("iName") or code).strip() or code}
        if kind not in TYPES:
            errors.append(field_error(["rows", i, "Type"], f"{kind!r} is not one of {', '.join(TYPES)}", "enum"))
            continue
        if not code:
            errors.append(field_error(["rows", i, "iCode"], "a code is required", "required"))
            continue
        if kind == "Unit":
            own_units.append({"code": code, "name": label})
        elif kind == "Group":
            variables.append({"name": code, "label": label, "type": "category", "purpose": ["group"]})
        elif kind == "Denominator":
            variables.append({"name": code, "label": label, "type": "decimal", "min": "0", "purpose": ["denominator"],
                              **({"unit": str(row["Unit"])} if row.get("Unit") else {})})
        else:
            node: dict[str, Any] = {"code": code, "name": label, "parent": str(row.get("Parent") or "").strip() or None}
            weight = str(row.get("Weight") or "").strip()
            if weight:
                node["weight"] = weight
            direction = str(row.get("Direction") or "").strip()
            if direction in ("1", "-1", "1.0", "-1.0"):
                node["direction"] = int(float(direction))
            elif direction:
                errors.append(field_error(["rows", i, "Direction"], "1 or -1", "enum"))
            if kind == "Indicator":
                node["kind"] = "value"
                if row.get("Denominator"):
                    node["denominator"] = str(row["Denominator"]).strip()
                if row.get("Unit"):
                    node["unit"] = str(row["Unit"]).strip()[:60]
                variables.append({"name": code, "label": label, "type": "decimal", "purpose": ["indicator"],
                                  **({"unit": str(row["Unit"]).strip()[:60]} if row.get("Unit") else {})})
            nodes.append(node)
    if errors:
        raise Problem(422, "invalid-metadata-table", "The COINr metadata table has invalid rows.", errors=errors)
    scope_units = units if units is not None else own_units
    doc: dict[str, Any] = {
        "id": framework_id, "name": dict(name), "source": "COINr metadata table",
        "scope": {"units": scope_units},
        "intake": {"unit_column": unit_column, "ignored_columns": ignored_columns or ["uName", "Time"]},
        "variables": variables, "nodes": nodes,
    }
    if description:
        doc["description"] = dict(description)
    return doc
