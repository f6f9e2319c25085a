"""SubscriptionCreate, Subscription, SecretRotation, WebhookDelivery pages (Pydantic v2)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
EventFilter = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Secret = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class SubscriptionCreate(BaseModel):
    """A callback URL, the event types wanted and optionally the secret (`whsec_` + base64 of 24–64
    bytes; generated when absent and shown once)."""

    model_config = ConfigDict(extra="forbid")
    url: Url = Field(description="http(s) URL the signed deliveries are POSTed to")
    events: list[EventFilter] = Field(default_factory=lambda: ["application.*"], min_length=1, max_length=100,
                                      description="event types: application.<state>, application.* or *")
    secret: Secret | None = Field(default=None, description="whsec_… (Standard Webhooks); generated when absent")


class SecretRotate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    secret: Secret | None = Field(default=None, description="the new whsec_… secret; generated when absent")


class Subscription(BaseModel):
    id: str
    url: str
    events: list[str]
    owner_role: str
    league_code: str | None = Field(description="a league government's: told of this league's applications only")
    active: bool
    disabled_reason: str | None
    disabled_at: dt.datetime | None
    previous_secret_expires_at: dt.datetime | None = Field(
        description="until then deliveries carry a second signature with the previous secret")
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime


class SubscriptionWithSecret(Subscription):
    secret: str = Field(description="shown once: keep it to verify webhook-signature")


class WebhookDelivery(BaseModel):
    id: str
    seq: int
    webhook_id: str = Field(description="the state change's id: the same on every retry and for every subscriber")
    subscription_id: str
    event_type: str
    body: Any = Field(description="the JSON sent, signed byte for byte: {type, timestamp, data}")
    state: str = Field(description="pending, delivered, dead or disabled")
    attempts: int
    last_status: int | None
    last_error: str | None
    next_attempt_at: dt.datetime
    last_attempt_at: dt.datetime | None
    created_at: dt.datetime
    delivered_at: dt.datetime | None
    replayed_at: dt.datetime | None


class WebhookDeliveryPage(BaseModel):
    items: list[WebhookDelivery]
    next_cursor: str | None = Field(default=None, description="pass as ?cursor= for the next page")
    limit: int
