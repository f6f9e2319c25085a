"""Every table of the scoring service's database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import ExactDecimal, PortableJSON, UTCDateTime, make_metadata, utcnow
from shared.idempotency import IdempotencyRecordMixin
from shared.outbox import OutboxMessageMixin


class Base(DeclarativeBase):
    metadata = make_metadata()


# Tables whose rows are never updated or deleted (triggers in the migrations; a test tries both).
APPEND_ONLY_TABLES: tuple[str, ...] = (
    "framework_versions", "data_revisions", "data_values",
    "method_versions", "evaluation_rounds", "round_experts", "expert_scores", "evaluations",
    "evaluation_publications", "proposals", "proposal_decisions", "uncertainty_runs",
)


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


class OutboxMessage(OutboxMessageMixin, Base):
    """Status events for the registry (confirmed art. 15 proposals), delivered by the shared dispatcher."""

    __tablename__ = "outbox_messages"


class MethodVersion(Base):
    """One immutable version of a scoring method document (SPEC 8.1: named, versioned, documented)."""

    __tablename__ = "method_versions"
    __table_args__ = (UniqueConstraint("method_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    method_id: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    document_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120))
    origin: Mapped[str] = mapped_column(String(20))  # bundled | posted


class EvaluationRound(Base):
    """A year's round of expert scores for the qualitative indicators; frozen when an evaluation using it
    is published (the publication row, not a flag, says so: rows here never change)."""

    __tablename__ = "evaluation_rounds"
    __table_args__ = (UniqueConstraint("framework_id", "year"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    framework_id: Mapped[str] = mapped_column(String(64))
    year: Mapped[int] = mapped_column(Integer)
    opened_by: Mapped[str] = mapped_column(String(120))
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)


class RoundExpert(Base):
    """An expert (token `sub`) assigned to a round, for one zone or (zone_code NULL) every zone."""

    __tablename__ = "round_experts"
    __table_args__ = (UniqueConstraint("round_id", "expert_sub", "zone_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("evaluation_rounds.id"), index=True)
    expert_sub: Mapped[str] = mapped_column(String(120))
    zone_code: Mapped[str | None] = mapped_column(String(32))
    assigned_by: Mapped[str] = mapped_column(String(120))
    assigned_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ExpertScore(Base):
    """One expert's score of one zone on one qualitative indicator; a change is a new revision
    (score NULL = withdrawn). The latest revision counts."""

    __tablename__ = "expert_scores"
    __table_args__ = (UniqueConstraint("round_id", "expert_sub", "zone_code", "indicator", "revision"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("evaluation_rounds.id"), index=True)
    expert_sub: Mapped[str] = mapped_column(String(120))
    zone_code: Mapped[str] = mapped_column(String(32))
    indicator: Mapped[str] = mapped_column(String(32))
    revision: Mapped[int] = mapped_column(Integer)
    score: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    comment: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Evaluation(Base):
    """An immutable evaluation: its cohort, every input (framework and method versions, data revisions,
    expert scores), the hash of those inputs and the computed result. Published by a separate row."""

    __tablename__ = "evaluations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    year: Mapped[int] = mapped_column(Integer, index=True)
    framework_id: Mapped[str] = mapped_column(String(64))
    framework_version: Mapped[int] = mapped_column(Integer)
    method_id: Mapped[str] = mapped_column(String(64))
    method_version: Mapped[int] = mapped_column(Integer)
    round_id: Mapped[int | None] = mapped_column(ForeignKey("evaluation_rounds.id"))
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("evaluations.id"))
    known_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    cohort: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    inputs: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    inputs_hash: Mapped[str] = mapped_column(String(64))
    result: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    result_hash: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)


class EvaluationPublication(Base):
    """Publishing an evaluation (002 art. 11): once, forever."""

    __tablename__ = "evaluation_publications"

    evaluation_id: Mapped[int] = mapped_column(ForeignKey("evaluations.id"), primary_key=True)
    published_by: Mapped[str] = mapped_column(String(120))
    published_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)


class Proposal(Base):
    """A dynamic-management proposal drawn from a published evaluation (002 art. 15)."""

    __tablename__ = "proposals"
    __table_args__ = (UniqueConstraint("evaluation_id", "zone_code", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("evaluations.id"), index=True)
    zone_code: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(20))  # upgrade | rectification | revocation
    evidence: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProposalDecision(Base):
    """The S&T Department's one decision on a proposal; a confirmed rectification or revocation proposal
    enqueues one registry status event (its id is `event_id`)."""

    __tablename__ = "proposal_decisions"

    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id"), primary_key=True)
    decision: Mapped[str] = mapped_column(String(12))  # confirmed | dismissed
    decided_by: Mapped[str] = mapped_column(String(120))
    decided_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)
    event_id: Mapped[str | None] = mapped_column(String(36))


class UncertaintyRun(Base):
    """A Monte Carlo analysis of an evaluation; the same request (seed included) gives the stored answer."""

    __tablename__ = "uncertainty_runs"
    __table_args__ = (UniqueConstraint("evaluation_id", "request_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("evaluations.id"), index=True)
    request: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    request_hash: Mapped[str] = mapped_column(String(64))
    result: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    seconds: Mapped[Decimal] = mapped_column(ExactDecimal)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
