"""The scoring service: the 26-indicator annual evaluation (health and OpenAPI only so far)."""

from __future__ import annotations

from fastapi import FastAPI

from services.scoring.models import IdempotencyRecord
from services.scoring.settings import Settings
from shared.app import create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        name="scoring", title="hitech-zones scoring",
        description="The annual evaluation of regional high-tech zones (002 arts. 7–11, annexes 1–2).",
        settings=settings or Settings(), idempotency_model=IdempotencyRecord,
    )
