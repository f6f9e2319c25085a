"""The two tables a service adds to send webhooks, as mixins (like `shared.outbox.OutboxMessageMixin`):

    class WebhookSubscription(WebhookSubscriptionMixin, Base):
        __tablename__ = "webhook_subscriptions"

    class WebhookDelivery(WebhookDeliveryMixin, Base):
        __tablename__ = "webhook_deliveries"
        # __webhook_subscriptions_table__ = "webhook_subscriptions"  (the default; the FK's target)

    WEBHOOKS = WebhookModels(WebhookSubscription, WebhookDelivery)

and, in the service's Settings, `class Settings(ServiceSettings, WebhookSettings)`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from shared.db import PortableJSON, UTCDateTime, utcnow

PENDING, DELIVERED, DEAD, DISABLED = "pending", "delivered", "dead", "disabled"
DELIVERY_STATES = (PENDING, DELIVERED, DEAD, DISABLED)


class WebhookSettings(BaseModel):
    """Settings a sending service mixes into its own (they take its env prefix)."""

    # The embedded default allows private and loopback callback URLs (a platform on the same host or
    # network); production sets it to false so callbacks reach public addresses only.
    webhook_allow_private_urls: bool = True
    webhook_timeout_seconds: float = Field(15.0, gt=0, le=60)  # Standard Webhooks: 15–30 s
    webhook_retry_window_hours: float = Field(72.0, gt=0)  # then the delivery is dead
    webhook_secret_overlap_hours: float = Field(24.0, ge=0)  # how long the previous secret still signs


class WebhookSubscriptionMixin:
    """Columns of a service's subscriptions table. `events`: the event types wanted (`*` for all,
    `prefix.*` for a family). `secret` signs every delivery; after a rotation `previous_secret` signs too
    until `previous_secret_expires_at`. A disabled subscription (`active` false) receives nothing;
    `disabled_reason` says why (e.g. the receiver's 410 Gone)."""

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(PortableJSON)
    secret: Mapped[str] = mapped_column(String(200))
    previous_secret: Mapped[str | None] = mapped_column(String(200), nullable=True)
    previous_secret_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDeliveryMixin:
    """Columns of the delivery log: one row per (state change, subscription). `webhook_id` is the id of
    the state change, the same for every subscriber and every attempt; `id` names this delivery (for
    `replay`); `body` is the exact JSON text signed and sent. `seq` orders the deliveries of a
    subscription (the change sequence). `state`: pending, delivered, dead or disabled."""

    __webhook_subscriptions_table__ = "webhook_subscriptions"

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        table = cls.__tablename__  # type: ignore[attr-defined]
        pending = text("state = 'pending'")
        return (
            # the claim's scan of pending deliveries in seq order, and its "earlier pending of the same
            # subscription?" test
            Index(f"ix_{table}_pending", "seq", postgresql_where=pending, sqlite_where=pending),
            Index(f"ix_{table}_subscription_pending", "subscription_id", "seq",
                  postgresql_where=pending, sqlite_where=pending),
            # the log of one subscription; one delivery per change and subscriber
            Index(f"ix_{table}_subscription_seq", "subscription_id", "seq"),
            UniqueConstraint("webhook_id", "subscription_id"),
            {"sqlite_autoincrement": True},  # never reuse a seq
        )

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                     autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    webhook_id: Mapped[str] = mapped_column(String(200), index=True)

    @declared_attr
    def subscription_id(cls) -> Mapped[str]:
        return mapped_column(String(36), ForeignKey(f"{cls.__webhook_subscriptions_table__}.id"))

    event_type: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(10), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    leased_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    replayed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)  # restarts the window


@dataclass(frozen=True, slots=True)
class WebhookModels:
    """The service's two mapped classes, passed to every function of `shared.webhooks`."""

    subscription: type[Any]
    delivery: type[Any]


def signing_secrets(subscription: Any, now: dt.datetime | None = None) -> list[str]:
    """The secrets that sign now: the current one, then the previous one until it expires."""
    out = [subscription.secret]
    expires = subscription.previous_secret_expires_at
    if subscription.previous_secret and expires is not None and expires > (now or utcnow()):
        out.append(subscription.previous_secret)
    return out
