"""Callback subscriptions of government platforms (issue #6 §7) and the announcement of every state
change of an application to them, in the transition's transaction (shared/webhooks).

Who subscribes: the platforms that integrate the workflow. The S&T Department (it runs the process,
002 art. 6(二)) is told of every application; a league government (the applicant, 002 art. 6(一)) of its
own league's applications only, filtered at fan-out by the application's league. Each sees and manages
its own subscriptions; the S&T Department, operating the service, sees and manages all. Other roles
(observer, expert, regional_government, …) read applications but do not subscribe: 403."""

from __future__ import annotations

import datetime as dt
import functools
import json
import uuid
from collections.abc import Sequence
from typing import Any, cast

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.workflow.models import WEBHOOKS, Application, WebhookDelivery, WebhookSubscription
from services.workflow.settings import Settings
from services.workflow.subscriptions import events, schemas
from services.workflow.subscriptions import repository as repo
from shared.auth import Principal, Role
from shared.db import utcnow
from shared.problems import Problem
from shared.rows import Adds
from shared.webhooks import (
    PENDING,
    WebhookModels,
    disable_subscription,
    enable_subscription,
    envelope,
    event_matches,
    get_delivery,
    replay,
    rotate_secret,
    subscribe,
    system_resolver,
)

SUBSCRIBERS = frozenset({Role.st_department, Role.league_government})


def check_subscriber(principal: Principal) -> str | None:
    """401 without a token, 403 for a role that does not subscribe; the league the caller is limited to
    (None: the S&T Department, every league)."""
    if principal.is_public:
        raise Problem(401, "unauthenticated", "Subscriptions need a bearer token.",
                      headers={"WWW-Authenticate": "Bearer"})
    if principal.role not in SUBSCRIBERS:
        raise Problem(403, "forbidden-role", f"Role {principal.role.value} does not subscribe to callbacks; roles: "
                      "league_government (its own league's applications), st_department (all).",
                      role=principal.role.value)
    return principal.league_code if principal.role == Role.league_government else None


async def visible(session: AsyncSession, principal: Principal, subscription_id: str, *,
                  for_update: bool = False) -> WebhookSubscription:
    """The subscription when the caller may manage it (404 / 403 otherwise)."""
    league = check_subscriber(principal)
    row = await repo.get(session, subscription_id, for_update=for_update)
    if row is None:
        raise Problem(404, "subscription-not-found", f"No subscription {subscription_id}.")
    if league is not None and row.league_code != league:
        raise Problem(403, "other-league", "A league government manages its own league's subscriptions only.",
                      league_code=league)
    return row


def _settings(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


async def create(session: AsyncSession, request: Request, principal: Principal,
                 body: schemas.SubscriptionCreate) -> tuple[WebhookSubscription, str]:
    """Check the URL (SSRF guard, per the setting), the event filters and the secret; returns the row
    and its secret (shown once)."""
    league = check_subscriber(principal)
    # shared.webhooks.subscribe builds the row from the models it is given: ours carries owner and league
    models = WebhookModels(cast(type[Any], functools.partial(WebhookSubscription, owner_role=principal.role.value,
                                                             league_code=league)), WebhookDelivery)
    row, secret = await subscribe(
        session, models, url=body.url, events=body.events, created_by=principal.sub, secret=body.secret,
        allow_private=_settings(request).webhook_allow_private_urls,
        resolver=getattr(request.app.state, "webhook_resolver", None) or system_resolver,
        known_events=events.EVENT_TYPES)
    return cast(WebhookSubscription, row), secret


async def listing(session: AsyncSession, principal: Principal) -> Sequence[WebhookSubscription]:
    return await repo.listing(session, check_subscriber(principal))


async def delete(session: AsyncSession, principal: Principal, subscription_id: str) -> None:
    """Stop it (pending deliveries `disabled`) and hide it; its delivery log is kept."""
    row = await visible(session, principal, subscription_id, for_update=True)
    now = utcnow()
    await disable_subscription(session, WEBHOOKS, row.id, f"deleted by {principal.sub} ({principal.role.value})")
    row.deleted_at = row.updated_at = now
    await session.flush()


async def rotate(session: AsyncSession, request: Request, principal: Principal, subscription_id: str,
                 new_secret: str | None) -> tuple[WebhookSubscription, str]:
    """A new current secret; the previous one keeps signing (a second signature) for the overlap."""
    row = await visible(session, principal, subscription_id, for_update=True)
    overlap = dt.timedelta(hours=_settings(request).webhook_secret_overlap_hours)
    secret = rotate_secret(row, new_secret, overlap=overlap)
    await session.flush()
    return row, secret


async def enable(session: AsyncSession, principal: Principal, subscription_id: str) -> WebhookSubscription:
    """Deliver again after a 410 or a disable (stopped deliveries need a replay each)."""
    row = await visible(session, principal, subscription_id, for_update=True)
    if await enable_subscription(session, WEBHOOKS, row.id):
        await session.refresh(row)
    return row


async def replay_delivery(session: AsyncSession, principal: Principal, subscription_id: str,
                          delivery_id: str) -> WebhookDelivery:
    """Send a settled delivery again: same webhook-id and body, due now (409 while pending or disabled)."""
    row = await visible(session, principal, subscription_id)
    delivery = await delivery_of(session, row, delivery_id)
    replayed = await replay(session, WEBHOOKS, delivery.id)
    assert replayed is not None  # found just above, in this transaction
    return cast(WebhookDelivery, replayed)


async def delivery_of(session: AsyncSession, subscription: WebhookSubscription, delivery_id: str) -> WebhookDelivery:
    delivery = await get_delivery(session, WEBHOOKS, delivery_id)
    if delivery is None or delivery.subscription_id != subscription.id:
        raise Problem(404, "delivery-not-found", f"No delivery {delivery_id} of subscription {subscription.id}.")
    return cast(WebhookDelivery, delivery)


# ------------------------------------------------------------------------------------ fan-out


async def announce(session: AsyncSession | Adds, app: Application, *, from_state: str | None, transition: str,
                   principal: Principal, at: dt.datetime, webhook_id: str, audit_seq: int | None,
                   receivers: Sequence[tuple[str, list[str]]] | None = None) -> int:
    """One pending delivery of this state change per active subscription that wants it and may see the
    application (its league), all with `webhook_id`; in the caller's transaction. Returns how many.
    (shared.webhooks.fan_out, with the league filter it does not have.)"""
    event_type = events.event_type(app.state)
    if receivers is None:  # read here unless the caller read them (the transition path, on the driver)
        assert isinstance(session, AsyncSession)
        receivers = await repo.receivers(session, app.league_code)
    wanted = [sid for sid, filters in receivers if event_matches(filters, event_type)]
    if not wanted:
        return 0
    body = envelope(event_type, events.payload(
        application_id=app.id, zone_code=app.zone_code, league_code=app.league_code, from_state=from_state,
        to_state=app.state, transition=transition, actor_sub=principal.sub, actor_role=principal.role.value,
        at=at, version=app.version, round_no=app.round, audit_seq=audit_seq), at)
    for subscription_id in wanted:
        session.add(WebhookDelivery(id=str(uuid.uuid4()), webhook_id=webhook_id, subscription_id=subscription_id,
                                    event_type=event_type, body=body, state=PENDING, attempts=0,
                                    next_attempt_at=at, created_at=at))
    return len(wanted)


# ------------------------------------------------------------------------------------- shapes


def out(row: WebhookSubscription, secret: str | None = None) -> schemas.Subscription:
    fields = {name: getattr(row, name) for name in schemas.Subscription.model_fields}
    if secret is not None:
        return schemas.SubscriptionWithSecret(**fields, secret=secret)
    return schemas.Subscription(**fields)


def delivery_out(d: WebhookDelivery) -> schemas.WebhookDelivery:
    fields = {name: getattr(d, name) for name in schemas.WebhookDelivery.model_fields if name != "body"}
    return schemas.WebhookDelivery(**fields, body=json.loads(d.body))
