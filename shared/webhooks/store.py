"""Subscriptions, fan-out and the delivery log: functions that take the caller's session and never commit
(the request-scoped session or the caller's transaction does)."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import utcnow
from shared.problems import Problem, field_error
from shared.webhooks.models import DEAD, DELIVERY_STATES, DISABLED, PENDING, WebhookModels
from shared.webhooks.signing import check_webhook_id, generate_secret, secret_key
from shared.webhooks.urls import Resolver, UnsafeCallbackUrl, check_callback_url, system_resolver

# Standard Webhooks: hierarchical, full-stop delimited identifiers of [a-zA-Z0-9_]
EVENT_TYPE = re.compile(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*")
_EVENT_FILTER = re.compile(r"\*|[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*(\.\*)?")
MAX_EVENTS = 100


def new_webhook_id() -> str:
    """A fresh id for one state change (`msg_` + 32 hex digits)."""
    return f"msg_{uuid.uuid4().hex}"


def event_matches(filters: Sequence[str], event_type: str) -> bool:
    """`*` matches every event, `a.b.*` every event under `a.b`, anything else itself only."""
    for f in filters:
        if f == "*" or f == event_type or (f.endswith(".*") and event_type.startswith(f[:-1])):
            return True
    return False


def _invalid(field: str, reason: str, code: str) -> Problem:
    return Problem(422, "validation-failed", f"The request is not valid: {field}.",
                   errors=[field_error(field, reason, code)])


def check_events(events: Sequence[str], known_events: Collection[str] | None = None) -> list[str]:
    """The subscription's event filter, validated (Problem 422 naming `events` otherwise)."""
    if not events or len(events) > MAX_EVENTS:
        raise _invalid("events", f"list 1 to {MAX_EVENTS} event types ('*' for all)", "events-count")
    for i, f in enumerate(events):
        if not isinstance(f, str) or not _EVENT_FILTER.fullmatch(f):
            raise _invalid(f"events.{i}", "an event type (a.b), a family (a.*) or '*'", "event-filter")
        if known_events is not None and f != "*" and not (
            f in known_events or (f.endswith(".*") and any(event_matches([f], k) for k in known_events))
        ):
            raise _invalid(f"events.{i}", f"{f!r} matches no event type sent here", "unknown-event")
    return list(dict.fromkeys(events))


async def subscribe(
    session: AsyncSession, models: WebhookModels, *, url: str, events: Sequence[str], created_by: str,
    secret: str | None = None, allow_private: bool = False, resolver: Resolver = system_resolver,
    known_events: Collection[str] | None = None, subscription_id: str | None = None,
) -> tuple[Any, str]:
    """Add a subscription after the SSRF guard; returns (row, secret). Without `secret` one is generated
    (show it to the subscriber once). Bad input → Problem 422 naming `url`, `events` or `secret`."""
    try:
        await check_callback_url(url, allow_private=allow_private, resolver=resolver)
    except UnsafeCallbackUrl as exc:
        raise _invalid("url", str(exc), exc.reason) from None
    filters = check_events(events, known_events)
    if secret is None:
        secret = generate_secret()
    else:
        try:
            secret_key(secret)
        except ValueError as exc:
            raise _invalid("secret", str(exc), "secret-format") from None
    now = utcnow()
    row = models.subscription(id=subscription_id or str(uuid.uuid4()), url=url, events=filters, secret=secret,
                              previous_secret=None, previous_secret_expires_at=None, active=True,
                              disabled_reason=None, disabled_at=None, created_by=created_by,
                              created_at=now, updated_at=now)
    session.add(row)
    await session.flush()
    return row, secret


def rotate_secret(subscription: Any, new_secret: str | None = None, *,
                  overlap: dt.timedelta = dt.timedelta(hours=24)) -> str:
    """Make `new_secret` (or a generated one) current; the old one keeps signing for `overlap`, so each
    delivery meanwhile carries two signatures. Returns the new secret; the caller flushes."""
    if new_secret is None:
        new_secret = generate_secret()
    else:
        try:
            secret_key(new_secret)
        except ValueError as exc:
            raise _invalid("secret", str(exc), "secret-format") from None
    now = utcnow()
    subscription.previous_secret = subscription.secret
    subscription.previous_secret_expires_at = now + overlap
    subscription.secret = new_secret
    subscription.updated_at = now
    return new_secret


async def disable_subscription(session: AsyncSession, models: WebhookModels, subscription_id: str,
                               reason: str) -> bool:
    """Stop a subscription: inactive with its reason, its pending deliveries `disabled`. False when it
    was not active."""
    s, m = models.subscription, models.delivery
    now = utcnow()
    result = await session.execute(
        update(s).where(s.id == subscription_id, s.active.is_(True))
        .values(active=False, disabled_reason=reason, disabled_at=now, updated_at=now)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    await session.execute(
        update(m).where(m.subscription_id == subscription_id, m.state == PENDING)
        .values(state=DISABLED, lease_until=None, last_error=f"subscription disabled: {reason}"[:8000])
        .execution_options(synchronize_session=False))
    return True


async def enable_subscription(session: AsyncSession, models: WebhookModels, subscription_id: str) -> bool:
    """Deliver again to a disabled subscription (new changes; stopped deliveries need `replay`)."""
    s = models.subscription
    result = await session.execute(
        update(s).where(s.id == subscription_id, s.active.is_(False))
        .values(active=True, disabled_reason=None, disabled_at=None, updated_at=utcnow())
        .execution_options(synchronize_session=False))
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def envelope(event_type: str, payload: Any, occurred_at: dt.datetime) -> str:
    """The body sent: Standard Webhooks' {type, timestamp, data}, compact JSON (signed byte for byte)."""
    stamp = occurred_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return json.dumps({"type": event_type, "timestamp": stamp, "data": payload}, separators=(",", ":"),
                      ensure_ascii=False, allow_nan=False)


async def fan_out(session: AsyncSession, models: WebhookModels, event_type: str, webhook_id: str, payload: Any,
                  *, occurred_at: dt.datetime | None = None) -> list[str]:
    """In the caller's transaction, one pending delivery per active subscription wanting `event_type`,
    all with this `webhook_id` (one per state change: never reuse it for another change). Returns the
    delivery ids; no flush, no commit."""
    if not EVENT_TYPE.fullmatch(event_type):
        raise ValueError(f"event type {event_type!r} is not a.b.c of [A-Za-z0-9_]")
    check_webhook_id(webhook_id)
    now = utcnow()
    body = envelope(event_type, payload, occurred_at or now)  # fails here on a body JSON cannot carry
    s = models.subscription
    subscriptions = (await session.execute(
        select(s.id, s.events).where(s.active.is_(True)).order_by(s.created_at, s.id))).all()
    ids: list[str] = []
    for subscription_id, filters in subscriptions:
        if not event_matches(filters or [], event_type):
            continue
        delivery_id = str(uuid.uuid4())
        session.add(models.delivery(id=delivery_id, webhook_id=webhook_id, subscription_id=subscription_id,
                                    event_type=event_type, body=body, state=PENDING, attempts=0,
                                    next_attempt_at=now, created_at=now))
        ids.append(delivery_id)
    return ids


# ------------------------------------------------------------------------------------- the log


async def list_deliveries(session: AsyncSession, models: WebhookModels, *, subscription_id: str | None = None,
                          webhook_id: str | None = None, state: str | None = None, after_seq: int | None = None,
                          limit: int = 100) -> Sequence[Any]:
    """The delivery log in change order, filtered; page with `after_seq` (the last row's `seq`)."""
    if state is not None and state not in DELIVERY_STATES:
        raise ValueError(f"state is one of {DELIVERY_STATES}")
    m = models.delivery
    query = select(m)
    if subscription_id is not None:
        query = query.where(m.subscription_id == subscription_id)
    if webhook_id is not None:
        query = query.where(m.webhook_id == webhook_id)
    if state is not None:
        query = query.where(m.state == state)
    if after_seq is not None:
        query = query.where(m.seq > after_seq)
    return (await session.execute(query.order_by(m.seq).limit(limit))).scalars().all()


async def get_delivery(session: AsyncSession, models: WebhookModels, delivery_id: str) -> Any | None:
    m = models.delivery
    return (await session.execute(select(m).where(m.id == delivery_id))).scalar_one_or_none()


async def replay(session: AsyncSession, models: WebhookModels, delivery_id: str) -> Any | None:
    """Send a settled delivery again (dead, disabled, or delivered): pending, due now, attempts reset,
    same `webhook-id` and body (receivers de-duplicate on the id). None when no delivery has this id;
    Problem 409 when it is still pending or its subscription is disabled. The caller commits."""
    m, s = models.delivery, models.subscription
    delivery = (await session.execute(select(m).where(m.id == delivery_id).with_for_update())).scalar_one_or_none()
    if delivery is None:
        return None
    if delivery.state == PENDING:
        raise Problem(409, "delivery-pending", "This delivery is still being attempted.")
    active = (await session.execute(select(s.active).where(s.id == delivery.subscription_id))).scalar_one()
    if not active:
        raise Problem(409, "subscription-disabled", "The subscription is disabled; enable it before a replay.")
    now = utcnow()
    delivery.state = PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = now
    delivery.replayed_at = now  # the retry window starts again
    delivery.lease_until = None
    await session.flush()
    return delivery


async def list_dead(session: AsyncSession, models: WebhookModels, *, limit: int = 100) -> Sequence[Any]:
    """Dead deliveries, oldest first."""
    return await list_deliveries(session, models, state=DEAD, limit=limit)
