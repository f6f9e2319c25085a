"""Standard Webhooks signing and the SSRF guard, without a database (shared/webhooks)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Sequence

import pytest

from shared.problems import Problem
from shared.webhooks import (
    UnsafeCallbackUrl,
    WebhookVerificationError,
    check_callback_url,
    check_events,
    check_webhook_id,
    event_matches,
    generate_secret,
    secret_key,
    sign,
    signature_headers,
    verify,
)

# The published vector of the Standard Webhooks reference libraries
# (standard-webhooks/standard-webhooks, libraries/python/tests/test_webhooks.py::test_sign_function).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = '{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def spec_headers(signature: str = SPEC_SIGNATURE) -> dict[str, str]:
    return {"webhook-id": SPEC_ID, "webhook-timestamp": str(SPEC_TIMESTAMP), "webhook-signature": signature}


# ------------------------------------------------------------------------------------- signing


def test_sign_matches_the_published_vector() -> None:
    assert sign(SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY, SPEC_SECRET) == SPEC_SIGNATURE
    assert sign(SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY.encode(), [SPEC_SECRET]) == SPEC_SIGNATURE


def test_verify_accepts_the_published_vector_within_tolerance() -> None:
    headers = {k.title(): v for k, v in spec_headers().items()}  # header names in any case
    assert verify(SPEC_BODY.encode(), headers, [SPEC_SECRET], now=SPEC_TIMESTAMP + 299) == SPEC_ID
    assert verify(SPEC_BODY, spec_headers(), SPEC_SECRET, now=SPEC_TIMESTAMP - 299) == SPEC_ID


@pytest.mark.parametrize(("now", "reason"), [(SPEC_TIMESTAMP + 301, "timestamp-too-old"),
                                             (SPEC_TIMESTAMP - 301, "timestamp-too-new")])
def test_verify_refuses_timestamps_outside_the_tolerance(now: int, reason: str) -> None:
    with pytest.raises(WebhookVerificationError) as caught:
        verify(SPEC_BODY, spec_headers(), SPEC_SECRET, now=now)
    assert (caught.value.reason, caught.value.header) == (reason, "webhook-timestamp")


def test_tampered_body_timestamp_id_or_signature_is_rejected() -> None:
    now = SPEC_TIMESTAMP
    cases = [
        (SPEC_BODY.replace("2432232314", "2432232315"), spec_headers()),
        (SPEC_BODY + " ", spec_headers()),
        (SPEC_BODY, {**spec_headers(), "webhook-timestamp": str(SPEC_TIMESTAMP + 1)}),
        (SPEC_BODY, {**spec_headers(), "webhook-id": SPEC_ID + "x"}),
        # the reference test's invalid signature: one character off
        (SPEC_BODY, spec_headers("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=")),
        (SPEC_BODY, spec_headers("v2," + SPEC_SIGNATURE[3:])),  # right bytes, unknown scheme
        (SPEC_BODY, spec_headers("v1,not-base64!")),
    ]
    for body, headers in cases:
        with pytest.raises(WebhookVerificationError) as caught:
            verify(body, headers, SPEC_SECRET, now=now + (1 if headers["webhook-timestamp"] != str(now) else 0))
        assert caught.value.reason == "no-matching-signature", (body, headers)
    other = generate_secret()
    with pytest.raises(WebhookVerificationError):
        verify(SPEC_BODY, spec_headers(), other, now=now)  # the wrong secret


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_headers_and_bad_timestamps_are_named(missing: str) -> None:
    headers = spec_headers()
    del headers[missing]
    with pytest.raises(WebhookVerificationError) as caught:
        verify(SPEC_BODY, headers, SPEC_SECRET, now=SPEC_TIMESTAMP)
    assert (caught.value.reason, caught.value.header) == ("missing-header", missing)
    for bad in ("hello", "1614265330.5", "-1614265330"):
        with pytest.raises(WebhookVerificationError) as caught:
            verify(SPEC_BODY, {**spec_headers(), "webhook-timestamp": bad}, SPEC_SECRET, now=SPEC_TIMESTAMP)
        assert caught.value.reason == "invalid-timestamp"


def test_rotation_sends_two_signatures_each_verifiable_alone() -> None:
    old, new = generate_secret(), generate_secret()
    headers = signature_headers("msg_1", b'{"a":1}', [new, old], timestamp=1_700_000_000)
    signatures = headers["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
    # each signature is the HMAC under one key, computed here independently of sign()
    for secret, signature in zip([new, old], signatures, strict=True):
        key = base64.b64decode(secret.removeprefix("whsec_"))
        expected = hmac.new(key, b'msg_1.1700000000.{"a":1}', hashlib.sha256).digest()
        assert base64.b64decode(signature[3:]) == expected
    # a receiver that knows only the old secret, only the new one, or both, accepts it
    for known in ([old], [new], [old, new]):
        assert verify(b'{"a":1}', headers, known, now=1_700_000_000) == "msg_1"
    with pytest.raises(WebhookVerificationError):
        verify(b'{"a":1}', headers, [generate_secret()], now=1_700_000_000)
    # a spec-style header list with unknown versions around the valid one
    mixed = {**headers, "webhook-signature": "v1a,AAAA v2,BBBB " + signatures[1]}
    assert verify(b'{"a":1}', mixed, [old], now=1_700_000_000) == "msg_1"


def test_signature_headers_default_to_now() -> None:
    before = int(time.time())
    headers = signature_headers("msg_2", "{}", SPEC_SECRET)
    assert before <= int(headers["webhook-timestamp"]) <= int(time.time())
    assert verify("{}", headers, SPEC_SECRET) == "msg_2"


def test_secrets() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_") and len(secret_key(secret)) == 32
    assert generate_secret() != secret
    assert len(secret_key(generate_secret(24))) == 24
    assert len(secret_key(SPEC_SECRET)) == 24
    assert secret_key("whsec_" + base64.b64encode(b"k" * 30).decode().rstrip("=")) == b"k" * 30  # unpadded
    for bad in ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_", "whsec_!!!!",
                "whsec_" + base64.b64encode(b"short").decode(), "whsec_" + base64.b64encode(b"x" * 65).decode()):
        with pytest.raises(ValueError):
            secret_key(bad)
    with pytest.raises(ValueError):
        generate_secret(16)


def test_webhook_ids_cannot_break_the_signed_content() -> None:
    assert check_webhook_id("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W") == "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
    for bad in ("", "a.b", "a b", "x" * 201, "é"):
        with pytest.raises(ValueError):
            check_webhook_id(bad)


def test_event_filters() -> None:
    assert event_matches(["*"], "application.approved")
    assert event_matches(["application.*"], "application.approved")
    assert not event_matches(["application.*"], "applications.approved")
    assert not event_matches(["application.approved"], "application.rejected")
    assert check_events(["a.b", "a.*", "a.b"]) == ["a.b", "a.*"]
    for events, field in (([], "events"), (["a..b"], "events.0"), (["a.b", "a b"], "events.1"),
                          (["nope.x"], "events.0")):
        with pytest.raises(Problem) as caught:
            check_events(events, known_events={"a.b"})
        assert caught.value.status == 422 and caught.value.errors[0]["field"] == field  # type: ignore[index]


# ----------------------------------------------------------------------------------- SSRF guard


def resolver_for(table: dict[str, Sequence[str]]):  # type: ignore[no-untyped-def]
    async def resolve(host: str, port: int) -> Sequence[str]:
        if host not in table:
            raise OSError(f"[Errno -2] Name or service not known: {host}")
        return table[host]
    return resolve


DNS = resolver_for({
    "public.example": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"],
    "private.example": ["10.1.2.3"],
    "loopback.example": ["127.0.0.1"],
    "v6loop.example": ["::1"],
    "mixed.example": ["93.184.216.34", "192.168.1.20"],  # one public, one private: refused
    "mixed6.example": ["2606:2800:220:1:248:1893:25c8:1946", "fd00::1"],
    "metadata.example": ["169.254.169.254"],
    "linklocal6.example": ["fe80::1%eth0"],
    "mapped.example": ["::ffff:127.0.0.1"],
    "cgnat.example": ["100.64.1.1"],
    "empty.example": [],
})


@pytest.mark.parametrize(("url", "reason"), [
    ("http://private.example/cb", "private-address"),
    ("https://loopback.example/cb", "private-address"),
    ("https://v6loop.example/cb", "private-address"),
    ("https://mixed.example/cb", "private-address"),
    ("https://mixed6.example/cb", "private-address"),
    ("http://metadata.example/latest", "private-address"),
    ("http://linklocal6.example/", "private-address"),
    ("http://mapped.example/", "private-address"),
    ("http://cgnat.example/", "private-address"),
    ("http://127.0.0.1:8080/cb", "private-address"),
    ("http://[::1]/cb", "private-address"),
    ("http://[::ffff:10.0.0.1]/cb", "private-address"),
    ("http://[64:ff9b::a00:1]/cb", "private-address"),  # NAT64 of 10.0.0.1
    ("http://[2002:c0a8:101::1]/cb", "private-address"),  # 6to4 of 192.168.1.1
    ("http://169.254.169.254/", "private-address"),
    ("http://0.0.0.0:80/", "private-address"),
    ("ftp://public.example/cb", "scheme"),
    ("file:///etc/passwd", "scheme"),
    ("https://user:pw@public.example/cb", "credentials"),
    ("https:///cb", "no-host"),
    ("https://nowhere.example/cb", "unresolvable"),
    ("https://empty.example/cb", "unresolvable"),
])
async def test_guard_refuses(url: str, reason: str) -> None:
    with pytest.raises(UnsafeCallbackUrl) as caught:
        await check_callback_url(url, allow_private=False, resolver=DNS)
    assert caught.value.reason == reason
    assert caught.value.transient is (reason == "unresolvable")


async def test_guard_accepts_public_hosts_and_returns_every_address() -> None:
    target = await check_callback_url("https://public.example:8443/hooks?x=1", resolver=DNS)
    assert target.addresses == ("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946")
    assert (target.host, target.port) == ("public.example", 8443)
    assert (await check_callback_url("http://8.8.8.8/cb", resolver=DNS)).addresses == ("8.8.8.8",)
    assert (await check_callback_url("http://[2001:4860:4860::8888]/", resolver=DNS)).port == 80


async def test_allow_private_setting_admits_private_and_loopback_but_not_unspecified() -> None:
    for url in ("http://private.example/cb", "http://loopback.example/cb", "http://v6loop.example/",
                "http://mixed.example/", "http://metadata.example/", "http://127.0.0.1:9/"):
        assert (await check_callback_url(url, allow_private=True, resolver=DNS)).addresses
    for url in ("http://0.0.0.0/", "http://[::]/", "http://224.0.0.1/"):
        with pytest.raises(UnsafeCallbackUrl):
            await check_callback_url(url, allow_private=True, resolver=DNS)
    with pytest.raises(UnsafeCallbackUrl):
        await check_callback_url("gopher://loopback.example/", allow_private=True, resolver=DNS)


async def test_guard_with_the_system_resolver() -> None:
    target = await check_callback_url("http://localhost:1/cb", allow_private=True)
    assert set(target.addresses) <= {"127.0.0.1", "::1"} and target.addresses
    with pytest.raises(UnsafeCallbackUrl) as caught:
        await check_callback_url("http://localhost:1/cb")
    assert caught.value.reason == "private-address"
