"""Materials (002 art. 5): the checklist with every uploaded version (Pydantic v2)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field


class MaterialVersion(BaseModel):
    item: str
    version: int
    round: int = Field(description="the application's review round when uploaded (0: before the first)")
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: dt.datetime
    href: str


class ChecklistEntry(BaseModel):
    item: str
    label_zh: str
    article: str
    required: bool
    revised_in_revision: bool = Field(description="a revision needs a new version of it")
    versions: list[MaterialVersion]


class Materials(BaseModel):
    application_id: int
    state: str
    version: int
    upload_states: list[str]
    max_bytes: int
    content_types: list[str]
    missing_required: list[str]
    checklist: list[ChecklistEntry]
