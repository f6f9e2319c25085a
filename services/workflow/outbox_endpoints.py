"""The dead-letter list of the workflow's outbox and its replay (shared/outbox_api.py): a registry event
that the registry refused or that kept failing past the retry window blocks the rest of its
application's messages until the S&T Department replays it."""

from __future__ import annotations

from services.workflow.models import OutboxMessage
from shared.auth import Role
from shared.outbox_api import dead_letter_router, delivery

router = dead_letter_router(OutboxMessage, Role.st_department, "registry events of applications")

__all__ = ["delivery", "router"]
