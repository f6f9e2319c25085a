"""Standard Webhooks delivery (signed callbacks to subscribers), one implementation for the services.

- `signing`: `sign`, `verify`, `signature_headers`, `generate_secret` (Standard Webhooks `v1`, `whsec_`);
- `urls`: the SSRF guard `check_callback_url` (at subscription and before every attempt);
- `models`: `WebhookSubscriptionMixin`, `WebhookDeliveryMixin`, `WebhookModels`, `WebhookSettings`;
- `store`: `subscribe`, `rotate_secret`, `disable_subscription`, `enable_subscription`, `fan_out` (in the
  caller's transaction, like `shared.outbox.enqueue`), `list_deliveries`, `get_delivery`, `list_dead`,
  `replay`;
- `dispatcher`: `WebhookDispatcher` (the outbox dispatcher's leases and backoff, its own claim and POST)."""

from shared.webhooks.dispatcher import ClaimedDelivery, WebhookDispatcher
from shared.webhooks.models import (
    DEAD,
    DELIVERED,
    DELIVERY_STATES,
    DISABLED,
    PENDING,
    WebhookDeliveryMixin,
    WebhookModels,
    WebhookSettings,
    WebhookSubscriptionMixin,
    signing_secrets,
)
from shared.webhooks.signing import (
    DEFAULT_TOLERANCE_SECONDS,
    WebhookVerificationError,
    check_webhook_id,
    generate_secret,
    secret_key,
    sign,
    signature_headers,
    verify,
)
from shared.webhooks.store import (
    check_events,
    disable_subscription,
    enable_subscription,
    envelope,
    event_matches,
    fan_out,
    get_delivery,
    list_dead,
    list_deliveries,
    new_webhook_id,
    replay,
    rotate_secret,
    subscribe,
)
from shared.webhooks.urls import (
    CallbackTarget,
    Resolver,
    UnsafeCallbackUrl,
    address_problem,
    check_callback_url,
    parse_callback_url,
    system_resolver,
)

__all__ = [
    "DEAD", "DEFAULT_TOLERANCE_SECONDS", "DELIVERED", "DELIVERY_STATES", "DISABLED", "PENDING",
    "CallbackTarget", "ClaimedDelivery", "Resolver", "UnsafeCallbackUrl", "WebhookDeliveryMixin",
    "WebhookDispatcher", "WebhookModels", "WebhookSettings", "WebhookSubscriptionMixin",
    "WebhookVerificationError", "address_problem", "check_callback_url", "check_events", "check_webhook_id",
    "disable_subscription", "enable_subscription", "envelope", "event_matches", "fan_out", "generate_secret",
    "get_delivery", "list_dead", "list_deliveries", "new_webhook_id", "parse_callback_url", "replay",
    "rotate_secret", "secret_key", "sign", "signature_headers", "signing_secrets", "subscribe",
    "system_resolver", "verify",
]
