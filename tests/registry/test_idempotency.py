"""Idempotency-Key on the registry's writes (contracts): replay, other body, scope per subject."""

from __future__ import annotations

import httpx

from services.registry.models import Base
from shared.testing import Tokens, dump_rows

BODY = {"kind": "industrial_park", "level": "none", "status": "candidate", "name_zh": "幂等园区",
        "league_code": "150900"}


async def test_replay_returns_the_original_answer(registry: httpx.AsyncClient, registry_db: str,
                                                  tokens: Tokens) -> None:
    headers = {**tokens.headers("st_department", sub="alice"), "Idempotency-Key": "create-1"}
    first = await registry.post("/zones", json=BODY, headers=headers)
    assert first.status_code == 201
    after_first = await dump_rows(registry_db, Base.metadata)
    replay = await registry.post("/zones", json=BODY, headers=headers)
    assert replay.status_code == 201 and replay.json() == first.json()
    assert replay.headers["idempotent-replayed"] == "true" and replay.headers["location"] == first.headers["location"]
    assert await dump_rows(registry_db, Base.metadata) == after_first
    other = await registry.post("/zones", json={**BODY, "name_zh": "另一个"}, headers=headers)
    assert other.status_code == 422 and other.json()["code"] == "idempotency-key-reused"
    assert await dump_rows(registry_db, Base.metadata) == after_first
    # the scope is (sub, method, path): another subject's same key is a new request
    bob = {**tokens.headers("st_department", sub="bob"), "Idempotency-Key": "create-1"}
    assert (await registry.post("/zones", json={**BODY, "name_zh": "鲍勃园区"}, headers=bob)).status_code == 201


async def test_a_refused_request_is_replayed_as_refused(registry: httpx.AsyncClient, tokens: Tokens) -> None:
    headers = {**tokens.headers("st_department"), "Idempotency-Key": "bad-1"}
    bad = {**BODY, "league_code": "159999"}
    first = await registry.post("/zones", json=bad, headers=headers)
    assert first.status_code == 422
    again = await registry.post("/zones", json=bad, headers=headers)
    assert again.status_code == 422 and again.json()["errors"] == first.json()["errors"]


async def test_malformed_key(registry: httpx.AsyncClient, tokens: Tokens) -> None:
    r = await registry.post("/zones", json=BODY, headers={**tokens.headers("st_department"),
                                                          "Idempotency-Key": "x" * 300})
    assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"
