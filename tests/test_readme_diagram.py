"""The process diagram the README shows (docs/process-v2.svg, and the Mermaid text inline) is the one the
workflow generates from its transition table: a change to the table without regenerating them fails here."""

from __future__ import annotations

from pathlib import Path

from services.workflow import diagram, process

ROOT = Path(__file__).resolve().parent.parent


def test_readme_diagrams_are_generated_from_the_table() -> None:
    p = process.definition("v2")
    assert (ROOT / "docs" / "process-v2.svg").read_text(encoding="utf-8") == diagram.svg(p)
    assert diagram.mermaid(p).strip() in (ROOT / "README.md").read_text(encoding="utf-8")
