"""Every table of the workflow service's database: applications for accreditation (002 art. 6), their
expert panel, opinions and conclusions per round, materials (art. 5), the audit chain, the outbox, and
the callback subscriptions of government platforms with their delivery log (shared/webhooks)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import PortableJSON, UTCDateTime, make_metadata, utcnow
from shared.idempotency import IdempotencyRecordMixin
from shared.outbox import OutboxMessageMixin
from shared.webhooks import WebhookDeliveryMixin, WebhookModels, WebhookSubscriptionMixin


class Base(DeclarativeBase):
    metadata = make_metadata()


# Tables that refuse UPDATE and DELETE in the database itself (triggers from shared.db; audit_log since
# migration 0002, materials, opinions and panel_conclusions since 0004). expert_assignments is not one:
# taking an expert off the panel sets removed_at, and assigning them again clears it.
APPEND_ONLY_TABLES: tuple[str, ...] = ("audit_log", "materials", "opinions", "panel_conclusions")


class IdempotencyRecord(IdempotencyRecordMixin, Base):
    __tablename__ = "idempotency_keys"


class Application(Base):
    """An application to turn a park of the register into a regional high-tech zone (002 art. 6).
    `version` is bumped by every change (ETag, If-Match); `process_version` is the process definition
    it started with and keeps. One open application per zone (partial unique index)."""

    __tablename__ = "applications"
    __table_args__ = (
        Index("uq_applications_open_zone", "zone_code", unique=True,
              postgresql_where=text("closed_at IS NULL"), sqlite_where=text("closed_at IS NULL")),
        Index("ix_applications_state_due", "state", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    zone_code: Mapped[str] = mapped_column(String(20), index=True)
    league_code: Mapped[str] = mapped_column(String(6), index=True)
    park_name: Mapped[str] = mapped_column(String(120))
    proposed_name: Mapped[str] = mapped_column(String(120))
    proposed_name_en: Mapped[str | None] = mapped_column(String(240))
    state: Mapped[str] = mapped_column(String(24))
    round: Mapped[int] = mapped_column(Integer, default=0)
    process_version: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer, default=1)
    # the zone as the registry had it when the intent was submitted (when the draft was created, until
    # then); its status is restored on rejection or withdrawal (contracts: status transitions)
    status_at_intent: Mapped[str] = mapped_column(String(24))
    zone_at_intent: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    eligibility: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    decision: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    state_entered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    intent_submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # the newest entry of its audit chain (seq, entry_hash), written with each entry under this row's lock:
    # /audit/verify compares the chain's end with it, so deleted or rewritten last entries are found
    audit_head_seq: Mapped[int | None] = mapped_column(Integer)
    audit_head_hash: Mapped[str | None] = mapped_column(String(64))
    # the latest version of each material when the panel asked for a revision ({item: version}); the
    # revision needs a newer version of each plan (002 art. 6(二); guards.revised_plans_uploaded)
    revision_baseline: Mapped[dict[str, int] | None] = mapped_column(PortableJSON)
    # the signatures of a joint transition taken so far in the current state (002 art. 6(三)):
    # {"state": …, "transition": …, "signatures": [{"role", "sub", "at", "comment"}, …]}; None after any
    # change of state
    joint_signatures: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)


class ExpertAssignment(Base):
    """An expert (token `sub`) on the application's panel; `removed_at` set when taken off it."""

    __tablename__ = "expert_assignments"
    __table_args__ = (UniqueConstraint("application_id", "expert_sub"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    expert_sub: Mapped[str] = mapped_column(String(120), index=True)
    assigned_by: Mapped[str] = mapped_column(String(120))
    assigned_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    removed_by: Mapped[str | None] = mapped_column(String(120))
    removed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Opinion(Base):
    """One expert's opinion in one round (002 art. 6(二)): recommend / revise / not_recommend, with text."""

    __tablename__ = "opinions"
    __table_args__ = (UniqueConstraint("application_id", "round", "expert_sub"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    expert_sub: Mapped[str] = mapped_column(String(120))
    recommendation: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PanelConclusion(Base):
    """The panel's conclusion of one round, recorded by the S&T Department."""

    __tablename__ = "panel_conclusions"
    __table_args__ = (UniqueConstraint("application_id", "round"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    conclusion: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(120))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Material(Base):
    """One uploaded version of one checklist item (002 art. 5). A new upload is a new version; the
    file is stored under its SHA-256 and checked against it when served."""

    __tablename__ = "materials"
    __table_args__ = (UniqueConstraint("application_id", "item", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    item: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer)
    round: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(120))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[str] = mapped_column(String(120))
    uploaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEntry(Base):
    """Append-only audit chain of one application: `prev_hash` is the previous entry's `entry_hash`,
    `entry_hash` the SHA-256 of this entry's RFC 8785 canonical content (audit/chain.py)."""

    __tablename__ = "audit_log"
    __table_args__ = (UniqueConstraint("application_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor_sub: Mapped[str] = mapped_column(String(120))
    actor_role: Mapped[str] = mapped_column(String(24))
    action: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str | None] = mapped_column(String(24))
    to_state: Mapped[str | None] = mapped_column(String(24))
    round: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    documents: Mapped[list[dict[str, Any]]] = mapped_column(PortableJSON)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))


class OutboxMessage(OutboxMessageMixin, Base):
    """Messages to the registry (shared/outbox.py), aggregate "application:<id>"."""

    __tablename__ = "outbox_messages"


class WebhookSubscription(WebhookSubscriptionMixin, Base):
    """A government platform's callback subscription (issue #6 §7). `league_code` set: a league
    government's, told of its own league's applications only; null: the S&T Department's, told of all.
    A deleted subscription is kept (disabled, `deleted_at`) so that its delivery log stays readable."""

    __tablename__ = "webhook_subscriptions"

    owner_role: Mapped[str] = mapped_column(String(24))
    league_code: Mapped[str | None] = mapped_column(String(6), index=True)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class WebhookDelivery(WebhookDeliveryMixin, Base):
    """One state change for one subscription (shared/webhooks): the signed body, attempts, outcome."""

    __tablename__ = "webhook_deliveries"


WEBHOOKS = WebhookModels(WebhookSubscription, WebhookDelivery)
