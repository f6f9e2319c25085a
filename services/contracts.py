"""The contracts between the services (ARCHITECTURE.md): one vocabulary, the same strings in code,
columns, JSON and tests."""

from __future__ import annotations

import re
from enum import StrEnum


class ZoneKind(StrEnum):
    hitech = "hitech"
    etdz = "etdz"
    bonded = "bonded"
    border_cooperation = "border_cooperation"
    economic_development = "economic_development"
    industrial_park = "industrial_park"
    other = "other"


class ZoneLevel(StrEnum):
    national = "national"
    regional = "regional"
    none = "none"


class ZoneStatus(StrEnum):
    candidate = "candidate"
    applying = "applying"
    accredited = "accredited"
    rectification = "rectification"
    revocation_proposed = "revocation_proposed"
    revoked = "revoked"


class ApplicationState(StrEnum):
    draft = "draft"
    intent_submitted = "intent_submitted"
    under_expert_review = "under_expert_review"
    revision_requested = "revision_requested"
    revised = "revised"
    recommended = "recommended"
    under_audit = "under_audit"
    submitted_to_government = "submitted_to_government"
    approved = "approved"
    rejected = "rejected"
    withdrawn = "withdrawn"


class DatePrecision(StrEnum):
    day = "day"
    month = "month"
    year = "year"


# Zone identity: the 2018 national catalogue code (G… national, S… regional) or NM-<n>.
ZONE_CODE_RE = re.compile(r"^(?:[GS]\d{6}|NM-\d{1,8})$")
