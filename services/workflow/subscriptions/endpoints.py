"""Callback subscriptions (issue #6 §7): subscribe, list, read, delete, rotate the secret, enable again,
the delivery log with replay, and the dead deliveries. league_government (own league) and st_department."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response

from services.workflow import models
from services.workflow.subscriptions import repository as repo
from services.workflow.subscriptions import service
from services.workflow.subscriptions.schemas import (
    SecretRotate,
    Subscription,
    SubscriptionCreate,
    SubscriptionWithSecret,
    WebhookDelivery,
    WebhookDeliveryPage,
)
from shared.auth import Principal, current_principal
from shared.db import SessionDep
from shared.http import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor
from shared.problems import problem_responses
from shared.webhooks import list_deliveries

router = APIRouter(tags=["subscriptions"], responses=problem_responses(401, 403))
Caller = Annotated[Principal, Depends(current_principal)]
Uuid = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
SubscriptionId = Annotated[str, Path(pattern=Uuid, description="the subscription's id")]
DeliveryId = Annotated[str, Path(pattern=Uuid, description="the delivery's id (one state change, one subscriber)")]
Cursor = Annotated[str | None, Query(max_length=200)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
State = Literal["pending", "delivered", "dead", "disabled"]


def _page(rows: Sequence[models.WebhookDelivery], limit: int) -> WebhookDeliveryPage:
    page = rows[:limit]
    return WebhookDeliveryPage(items=[service.delivery_out(d) for d in page], limit=limit,
                               next_cursor=encode_cursor([page[-1].seq]) if len(rows) > limit else None)


@router.post("/subscriptions", response_model=SubscriptionWithSecret, status_code=201,
             responses=problem_responses(422),
             summary="Subscribe a callback URL to application state changes (the secret is shown once)")
async def create_subscription(body: SubscriptionCreate, request: Request, response: Response, session: SessionDep,
                              principal: Caller) -> Subscription:
    row, secret = await service.create(session, request, principal, body)
    response.headers["Location"] = f"/subscriptions/{row.id}"
    return service.out(row, secret)


@router.get("/subscriptions", response_model=list[Subscription], summary="The caller's subscriptions")
async def list_subscriptions(session: SessionDep, principal: Caller) -> list[Subscription]:
    return [service.out(row) for row in await service.listing(session, principal)]


@router.get("/subscriptions/{subscription_id}", response_model=Subscription, responses=problem_responses(404, 422),
            summary="One subscription")
async def get_subscription(subscription_id: SubscriptionId, session: SessionDep, principal: Caller) -> Subscription:
    return service.out(await service.visible(session, principal, subscription_id))


@router.delete("/subscriptions/{subscription_id}", status_code=204, responses=problem_responses(404, 422),
               summary="Stop and remove a subscription (its delivery log is kept)")
async def delete_subscription(subscription_id: SubscriptionId, session: SessionDep, principal: Caller) -> Response:
    await service.delete(session, principal, subscription_id)
    return Response(status_code=204)


@router.post("/subscriptions/{subscription_id}/rotate-secret", response_model=SubscriptionWithSecret,
             responses=problem_responses(404, 422),
             summary="A new secret; the previous one still signs (a second signature) during the overlap")
async def rotate_subscription_secret(subscription_id: SubscriptionId, request: Request, session: SessionDep,
                                     principal: Caller, body: Annotated[SecretRotate | None, Body()] = None
                                     ) -> Subscription:
    row, secret = await service.rotate(session, request, principal, subscription_id, body.secret if body else None)
    return service.out(row, secret)


@router.post("/subscriptions/{subscription_id}/enable", response_model=Subscription,
             responses=problem_responses(404, 422),
             summary="Deliver again to a disabled subscription (e.g. after its receiver answered 410)")
async def enable_subscription(subscription_id: SubscriptionId, session: SessionDep, principal: Caller) -> Subscription:
    return service.out(await service.enable(session, principal, subscription_id))


@router.get("/subscriptions/{subscription_id}/deliveries", response_model=WebhookDeliveryPage,
            responses=problem_responses(404, 422), summary="The subscription's delivery log, in change order")
async def subscription_deliveries(subscription_id: SubscriptionId, session: SessionDep, principal: Caller,
                                  state: State | None = None, cursor: Cursor = None,
                                  limit: Limit = DEFAULT_LIMIT) -> WebhookDeliveryPage:
    row = await service.visible(session, principal, subscription_id)
    after = int(decode_cursor(cursor, 1)[0]) if cursor else None
    rows = await list_deliveries(session, service.WEBHOOKS, subscription_id=row.id, state=state, after_seq=after,
                                 limit=limit + 1)
    return _page(rows, limit)


@router.get("/subscriptions/{subscription_id}/deliveries/{delivery_id}", response_model=WebhookDelivery,
            responses=problem_responses(404, 422), summary="One delivery")
async def subscription_delivery(subscription_id: SubscriptionId, delivery_id: DeliveryId, session: SessionDep,
                                principal: Caller) -> WebhookDelivery:
    row = await service.visible(session, principal, subscription_id)
    return service.delivery_out(await service.delivery_of(session, row, delivery_id))


@router.post("/subscriptions/{subscription_id}/deliveries/{delivery_id}/replay", response_model=WebhookDelivery,
             responses=problem_responses(404, 409, 422),
             summary="Send a settled delivery again (same webhook-id and body), due now")
async def replay_delivery(subscription_id: SubscriptionId, delivery_id: DeliveryId, session: SessionDep,
                          principal: Caller) -> WebhookDelivery:
    return service.delivery_out(await service.replay_delivery(session, principal, subscription_id, delivery_id))


@router.get("/webhooks/dead", response_model=WebhookDeliveryPage, responses=problem_responses(422),
            summary="Dead deliveries of the caller's subscriptions, oldest first")
async def dead_deliveries(session: SessionDep, principal: Caller, cursor: Cursor = None,
                          limit: Limit = DEFAULT_LIMIT) -> WebhookDeliveryPage:
    league = service.check_subscriber(principal)
    after = int(decode_cursor(cursor, 1)[0]) if cursor else None
    return _page(await repo.dead(session, league, after_seq=after, limit=limit + 1), limit)
