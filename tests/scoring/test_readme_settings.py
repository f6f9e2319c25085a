"""The README's Configuration table names every SCORING_ setting with the default the code has, and no
setting the code does not have (the shared `*_` rows stand for the settings every service inherits)."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from services.scoring.settings import Settings
from shared.settings import ServiceSettings

README = Path(__file__).resolve().parent.parent.parent / "README.md"


def rendered(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float | Decimal) and value == int(value):
        return str(int(value))
    return str(value)


def table() -> dict[str, str]:
    """SCORING_<NAME> → the default cell, from the rows of the Configuration table."""
    section = README.read_text(encoding="utf-8").split("## Configuration", 1)[1].split("\n## ", 1)[0]
    out: dict[str, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3:
            continue
        names = re.findall(r"`(SCORING_[A-Z0-9_]+)`", cells[0])
        defaults = [d.strip().strip("`") for d in cells[1].split(" / ")]
        if len(names) == len(defaults):
            out.update(zip(names, defaults, strict=True))
        else:  # one default for several services' settings (`WORKFLOW_X`, `SCORING_X`)
            out.update({n: cells[1].strip("`") for n in names})
    return out


def test_every_scoring_setting_is_in_the_readme_with_its_default() -> None:
    documented = table()
    inherited = set(ServiceSettings.model_fields)
    own = {name: field for name, field in Settings.model_fields.items()
           if name not in inherited or field.default != ServiceSettings.model_fields[name].default}
    own.pop("database_url")  # the `*_DATABASE_URL` row: var/<service>.db
    expected = {f"SCORING_{name.upper()}": rendered(field.default) for name, field in own.items()}
    assert set(documented) == set(expected), (set(expected) - set(documented), set(documented) - set(expected))
    for name, default in expected.items():
        assert documented[name].startswith(default), (name, documented[name], default)
