"""Every table of the scoring service's database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import ExactDecimal, PortableJSON, UTCDateTime, make_metadata, utcnow
from shared.idempotency import IdempotencyRecordMixin


class Base(DeclarativeBase):
    metadata = make_metadata()


# Tables whose rows are never updated or deleted (triggers in the migrations; a test tries both).
APPEND_ONLY_TABLES: tuple[str, ...] = ("framework_versions", "data_revisions", "data_values")


class IdempotencyRecord(IdempotencyRecordMixin, Base):
    __tablename__ = "idempotency_keys"


class FrameworkVersion(Base):
    """One immutable version of a framework document (a change is a new version)."""

    __tablename__ = "framework_versions"
    __table_args__ = (UniqueConstraint("framework_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    framework_id: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    document_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120))
    origin: Mapped[str] = mapped_column(String(20))  # bundled | posted


class DataRevision(Base):
    """One complete set of a unit's figures for a year under a framework. A correction is a new revision
    (who, when, why); the latest revision is the current data. Units are zone codes, league codes or
    the region (150000) for reference figures, or a framework's own units."""

    __tablename__ = "data_revisions"
    __table_args__ = (
        UniqueConstraint("framework_id", "unit_code", "year", "revision"),
        Index("ix_data_revisions_year", "framework_id", "year", "unit_code"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    framework_id: Mapped[str] = mapped_column(String(64))
    framework_version: Mapped[int] = mapped_column(Integer)
    unit_code: Mapped[str] = mapped_column(String(32))
    unit_kind: Mapped[str] = mapped_column(String(10))  # unit | league | region
    year: Mapped[int] = mapped_column(Integer)
    revision: Mapped[int] = mapped_column(Integer)
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    values_hash: Mapped[str] = mapped_column(String(64))
    warnings: Mapped[list[dict[str, Any]]] = mapped_column(PortableJSON, default=list)
    reason: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(12))  # single | bulk | demo
    batch_id: Mapped[str | None] = mapped_column(String(36), index=True)
    recorded_by: Mapped[str] = mapped_column(String(120))
    recorded_role: Mapped[str] = mapped_column(String(24))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class DataValue(Base):
    """One variable's value in a revision: an exact decimal, or a category's text."""

    __tablename__ = "data_values"

    revision_id: Mapped[int] = mapped_column(ForeignKey("data_revisions.id"), primary_key=True)
    variable: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    text_value: Mapped[str | None] = mapped_column(String(120))
