"""The workflow service: accreditation of regional high-tech zones (health and OpenAPI only so far)."""

from __future__ import annotations

from fastapi import FastAPI

from services.workflow.models import IdempotencyRecord
from services.workflow.settings import Settings
from shared.app import create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        name="workflow", title="hitech-zones workflow",
        description="The three-step accreditation of a regional high-tech zone (002 art. 6).",
        settings=settings or Settings(), idempotency_model=IdempotencyRecord,
    )
