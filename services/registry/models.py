"""Every table of the registry's database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import ExactDecimal, PortableJSON, UTCDateTime, make_metadata, utcnow
from shared.idempotency import IdempotencyRecordMixin


class Base(DeclarativeBase):
    metadata = make_metadata()


# Tables whose rows are never updated or deleted (triggers in the migrations; a test tries both).
APPEND_ONLY_TABLES = ("zone_events", "zone_revisions")


class League(Base):
    """One of the 12 leagues/cities (盟市), keyed by its GB/T 2260 code."""

    __tablename__ = "leagues"
    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(40), unique=True)
    name_en: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(10))  # city | league
    loaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class County(Base):
    """A county-level division (banner, county, district, county-level city), GB/T 2260."""

    __tablename__ = "counties"
    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(40))
    league_code: Mapped[str] = mapped_column(ForeignKey("leagues.code"), index=True)
    loaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Zone(Base):
    """A development zone. kind/level/status/names are the projection of its events (as of now);
    the descriptive fields are edited in place, each edit kept in zone_revisions."""

    __tablename__ = "zones"
    __table_args__ = (UniqueConstraint("league_code", "name_zh"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    kind: Mapped[str] = mapped_column(String(24), index=True)
    level: Mapped[str] = mapped_column(String(10), index=True)
    status: Mapped[str] = mapped_column(String(24), index=True)
    name_zh: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str | None] = mapped_column(String(240))
    league_code: Mapped[str] = mapped_column(ForeignKey("leagues.code"), index=True)
    county_code: Mapped[str | None] = mapped_column(ForeignKey("counties.code"))
    area_ha: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    boundary: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    management_committee: Mapped[str | None] = mapped_column(String(200))
    leading_industries: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    approval_doc: Mapped[str | None] = mapped_column(String(120))
    approval_date: Mapped[dt.date | None] = mapped_column(Date)
    approval_date_precision: Mapped[str | None] = mapped_column(String(5))
    source: Mapped[str | None] = mapped_column(Text)
    confidence: Mapped[str | None] = mapped_column(String(10))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Park(Base):
    """A sub-park of a zone (一区多园, 002 art. 13)."""

    __tablename__ = "parks"
    __table_args__ = (UniqueConstraint("zone_id", "name_zh"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("zones.id"), index=True)
    name_zh: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str | None] = mapped_column(String(240))
    area_ha: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    boundary: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ZoneEvent(Base):
    """A change of level, status, name or kind (contracts: registry events). Append-only: a wrong
    event is corrected by a later one that names it in `supersedes`. `seq` orders the change feed."""

    __tablename__ = "zone_events"
    __table_args__ = (Index("ix_zone_events_zone_effective", "zone_id", "effective_date", "seq"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("zones.id"), index=True)
    change: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    effective_date: Mapped[dt.date] = mapped_column(Date)
    effective_precision: Mapped[str] = mapped_column(String(5))
    legal_basis: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    actor: Mapped[str] = mapped_column(String(200))
    source: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    supersedes: Mapped[str | None] = mapped_column(String(36), index=True)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    recorded_by: Mapped[str] = mapped_column(String(120))
    recorded_role: Mapped[str] = mapped_column(String(24))
    body_hash: Mapped[str] = mapped_column(String(64))


class ZoneRevision(Base):
    """One edit of a zone's or park's descriptive fields: who, when, and each field's old and new value."""

    __tablename__ = "zone_revisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("zones.id"), index=True)
    park_id: Mapped[int | None] = mapped_column(Integer)
    changes: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    changed_by: Mapped[str] = mapped_column(String(120))
    changed_role: Mapped[str] = mapped_column(String(24))


class IdempotencyRecord(IdempotencyRecordMixin, Base):
    __tablename__ = "idempotency_keys"
