"""Standard Webhooks 1.0.0 symmetric signatures (`v1`, HMAC-SHA256), for senders and for integrators.

The signed content is `{webhook-id}.{webhook-timestamp}.{body}` over the exact body bytes sent; the key is
the secret's base64 payload after the `whsec_` prefix (24 to 64 random bytes). `webhook-signature` is a
space-separated list of `v1,<base64>`: one per active secret, so a rotation sends two and the receiver
accepts the delivery when any one matches a secret it knows (compared in constant time). Receivers also
check that `webhook-timestamp` lies within a tolerance of their clock (5 minutes by default), which
bounds replays, and use `webhook-id` as their idempotency key."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets as _secrets
import time
from collections.abc import Iterable, Mapping, Sequence

SECRET_PREFIX = "whsec_"
MIN_SECRET_BYTES, MAX_SECRET_BYTES = 24, 64
DEFAULT_TOLERANCE_SECONDS = 300
# no '.' (the separator of the signed content) and no whitespace (the separator of signatures)
_WEBHOOK_ID = re.compile(r"[A-Za-z0-9_:\-]{1,200}")


class WebhookVerificationError(ValueError):
    """A delivery that must not be trusted; `reason` is a stable slug, `header` the header at fault."""

    def __init__(self, reason: str, detail: str, header: str | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.header = header


def generate_secret(nbytes: int = 32) -> str:
    """A new random secret `whsec_<base64>` (32 bytes by default)."""
    if not MIN_SECRET_BYTES <= nbytes <= MAX_SECRET_BYTES:
        raise ValueError(f"a secret has {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes")
    return SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(nbytes)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret; ValueError when it is not one of 24–64 bytes."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a secret starts with {SECRET_PREFIX!r}")
    encoded = secret[len(SECRET_PREFIX):]
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a secret is base64 after its prefix") from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise ValueError(f"a secret has {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes, this one {len(key)}")
    return key


def check_webhook_id(webhook_id: str) -> str:
    """Refuse ids that could confuse the signed content (a '.') or the headers (spaces)."""
    if not _WEBHOOK_ID.fullmatch(webhook_id):
        raise ValueError("a webhook id is 1–200 characters of letters, digits, '_', '-', ':'")
    return webhook_id


def _as_bytes(body: bytes | str) -> bytes:
    return body.encode() if isinstance(body, str) else body


def _signature(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> bytes:
    return hmac.new(key, b"%s.%d.%s" % (webhook_id.encode(), timestamp, body), hashlib.sha256).digest()


def sign(webhook_id: str, timestamp: int, body: bytes | str, secrets: Sequence[str] | str) -> str:
    """The `webhook-signature` value: `v1,<base64>` for each secret, space-separated, in the order given."""
    keys = [secret_key(s) for s in ([secrets] if isinstance(secrets, str) else secrets)]
    if not keys:
        raise ValueError("at least one secret is needed to sign")
    data = _as_bytes(body)
    return " ".join("v1," + base64.b64encode(_signature(k, webhook_id, int(timestamp), data)).decode() for k in keys)


def signature_headers(webhook_id: str, body: bytes | str, secrets: Sequence[str] | str, *,
                      timestamp: int | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt (timestamp: now, unless given)."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    return {"webhook-id": webhook_id, "webhook-timestamp": str(ts),
            "webhook-signature": sign(webhook_id, ts, body, secrets)}


def verify(body: bytes | str, headers: Mapping[str, str], secrets: Iterable[str] | str, *,
           tolerance: float = DEFAULT_TOLERANCE_SECONDS, now: float | None = None) -> str:
    """Check a received delivery (headers by any case); returns its `webhook-id`, else raises
    `WebhookVerificationError`. `secrets`: every secret the receiver currently accepts. Pass the raw
    body bytes, never a re-serialised JSON."""
    lowered = {k.lower(): v for k, v in headers.items()}
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        if not lowered.get(name):
            raise WebhookVerificationError("missing-header", f"{name} is missing", name)
    webhook_id, raw_ts = lowered["webhook-id"], lowered["webhook-timestamp"].strip()
    if not raw_ts.isascii() or not raw_ts.isdigit():
        raise WebhookVerificationError("invalid-timestamp", "webhook-timestamp is not integer seconds",
                                       "webhook-timestamp")
    timestamp = int(raw_ts)
    clock = time.time() if now is None else now
    if timestamp < clock - tolerance:
        raise WebhookVerificationError("timestamp-too-old", "webhook-timestamp is outside the tolerance",
                                       "webhook-timestamp")
    if timestamp > clock + tolerance:
        raise WebhookVerificationError("timestamp-too-new", "webhook-timestamp is in the future",
                                       "webhook-timestamp")
    keys = [secret_key(s) for s in ([secrets] if isinstance(secrets, str) else secrets)]
    data = _as_bytes(body)
    expected = [_signature(k, webhook_id, timestamp, data) for k in keys]
    for entry in lowered["webhook-signature"].split():
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue  # other schemes (v1a, …) are not ours to check
        try:
            given = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        if any(hmac.compare_digest(given, e) for e in expected):
            return webhook_id
    raise WebhookVerificationError("no-matching-signature", "no signature matches a known secret",
                                   "webhook-signature")
