"""The peer client (client code: httpx.MockTransport, no server)."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from shared.logging import request_id_var
from shared.peers import PeerClient, PeerError, json_or_raise, retry_after_seconds

Handler = Callable[[httpx.Request], httpx.Response]


def scripted(*answers: httpx.Response | Exception) -> tuple[list[httpx.Request], Handler]:
    """A handler that gives `answers` in turn (the last one repeats) and records each request."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers[min(len(seen) - 1, len(answers) - 1)]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return seen, handler


def client(handler: Handler, **kwargs: object) -> PeerClient:
    options: dict[str, object] = {"retries": 3, "backoff": 0.001, "max_backoff": 0.005}
    options.update(kwargs)
    return PeerClient("http://peer.test", "tok-1", transport=httpx.MockTransport(handler), **options)  # type: ignore[arg-type]


async def test_get_retries_503_then_succeeds() -> None:
    seen, handler = scripted(httpx.Response(503), httpx.Response(503), httpx.Response(200, json={"ok": True}))
    async with client(handler) as peer:
        response = await peer.get("/zones/S159041")
    assert response.status_code == 200
    assert json_or_raise(response) == {"ok": True}
    assert len(seen) == 3
    assert all(r.headers["authorization"] == "Bearer tok-1" for r in seen)


async def test_retries_exhausted_returns_last_response() -> None:
    seen, handler = scripted(httpx.Response(502))
    async with client(handler, retries=2) as peer:
        response = await peer.get("/x")
    assert response.status_code == 502
    assert len(seen) == 3


async def test_post_without_idempotency_key_is_not_retried() -> None:
    seen, handler = scripted(httpx.Response(503), httpx.Response(201))
    async with client(handler) as peer:
        response = await peer.post("/zones/S159041/events", json={"a": 1})
        assert response.status_code == 503
        assert len(seen) == 1
        # a read timeout may come after the peer acted: not retried either
        seen2, handler2 = scripted(httpx.ReadTimeout("slow"), httpx.Response(201))
        async with client(handler2) as peer2:
            with pytest.raises(httpx.ReadTimeout):
                await peer2.post("/e", json={})
        assert len(seen2) == 1


async def test_post_without_key_retries_connect_error() -> None:
    seen, handler = scripted(httpx.ConnectError("refused"), httpx.Response(201))
    async with client(handler) as peer:
        response = await peer.post("/e", json={})
    assert response.status_code == 201
    assert len(seen) == 2


async def test_post_with_idempotency_key_is_retried() -> None:
    seen, handler = scripted(httpx.Response(503), httpx.ReadTimeout("slow"), httpx.Response(200))
    async with client(handler) as peer:
        response = await peer.post("/e", json={"event_id": "k-1"}, headers={"Idempotency-Key": "k-1"})
    assert response.status_code == 200
    assert len(seen) == 3
    assert {r.headers["idempotency-key"] for r in seen} == {"k-1"}
    assert {r.content for r in seen} == {b'{"event_id":"k-1"}'}


async def test_connect_errors_exhausted_reraise_the_last_error() -> None:
    seen, handler = scripted(httpx.ConnectError("refused"))
    async with client(handler, retries=2) as peer:
        with pytest.raises(httpx.ConnectError):
            await peer.get("/x")
    assert len(seen) == 3


async def test_idempotency_key_in_flight_is_retried_only_with_a_key() -> None:
    in_flight = httpx.Response(409, json={"code": "idempotency-key-in-flight"}, headers={"Retry-After": "0"})
    seen, handler = scripted(in_flight, httpx.Response(201))
    async with client(handler) as peer:
        assert (await peer.post("/e", json={}, headers={"Idempotency-Key": "k"})).status_code == 201
    assert len(seen) == 2
    other_conflict = httpx.Response(409, json={"code": "transition-refused"})
    seen, handler = scripted(other_conflict, httpx.Response(201))
    async with client(handler) as peer:
        assert (await peer.post("/e", json={}, headers={"Idempotency-Key": "k"})).status_code == 409
    assert len(seen) == 1


async def test_429_retry_after_is_honoured_and_capped() -> None:
    seen, handler = scripted(httpx.Response(429, headers={"Retry-After": "120"}), httpx.Response(200))
    async with client(handler, max_retry_after=0.05) as peer:
        start = time.perf_counter()
        response = await peer.get("/x")
        elapsed = time.perf_counter() - start
    assert response.status_code == 200
    assert len(seen) == 2
    assert 0.04 <= elapsed < 1.0

    seen, handler = scripted(httpx.Response(429, headers={"Retry-After": "0.2"}), httpx.Response(200))
    async with client(handler) as peer:
        start = time.perf_counter()
        await peer.get("/x")
        assert time.perf_counter() - start >= 0.19


async def test_4xx_is_not_retried_and_raises_typed_error() -> None:
    problem = {"type": "urn:hitech-zones:problem:transition-refused", "status": 409, "code": "transition-refused",
               "detail": "revoked is final"}
    seen, handler = scripted(httpx.Response(409, json=problem, headers={"content-type": "application/problem+json"}))
    async with client(handler) as peer:
        response = await peer.put("/x", json={})
    assert len(seen) == 1
    with pytest.raises(PeerError) as caught:
        PeerClient.json_or_raise(response)
    assert caught.value.status == 409
    assert caught.value.problem == problem
    assert caught.value.code == "transition-refused"
    assert "revoked is final" in str(caught.value)


async def test_request_id_and_token_provider_forwarded() -> None:
    seen, handler = scripted(httpx.Response(204))
    tokens = iter(["t-1", "t-2"])

    async def provider() -> str:
        return next(tokens)

    async with PeerClient("http://peer.test", provider, transport=httpx.MockTransport(handler)) as peer:
        reset = request_id_var.set("req-42")
        try:
            response = await peer.get("/a")
        finally:
            request_id_var.reset(reset)
        await peer.patch("/b", json={}, headers={"X-Request-ID": "explicit"})
    assert json_or_raise(response) is None
    assert seen[0].headers["x-request-id"] == "req-42"
    assert seen[0].headers["authorization"] == "Bearer t-1"
    assert seen[1].headers["x-request-id"] == "explicit"
    assert seen[1].headers["authorization"] == "Bearer t-2"


async def test_no_request_id_outside_a_request() -> None:
    seen, handler = scripted(httpx.Response(200))
    async with PeerClient("http://peer.test", transport=httpx.MockTransport(handler)) as peer:
        await peer.get("/a")
    assert "x-request-id" not in seen[0].headers
    assert "authorization" not in seen[0].headers


def test_retry_after_parsing() -> None:
    assert retry_after_seconds(httpx.Response(503, headers={"Retry-After": "3"})) == 3.0
    assert retry_after_seconds(httpx.Response(503, headers={"Retry-After": "soon"})) is None
    assert retry_after_seconds(httpx.Response(503)) is None
    date = httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"})
    assert (retry_after_seconds(date) or 0) > 1e6
    past = httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert retry_after_seconds(past) == 0.0
