"""Every table of the workflow service's database."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from shared.db import make_metadata
from shared.idempotency import IdempotencyRecordMixin


class Base(DeclarativeBase):
    metadata = make_metadata()


APPEND_ONLY_TABLES: tuple[str, ...] = ()


class IdempotencyRecord(IdempotencyRecordMixin, Base):
    __tablename__ = "idempotency_keys"
