"""Scoring with the registry down (issue #5 §§3, 5; contracts: a peer that is down delays an effect but
never loses it), the REAL registry and scoring under uvicorn on both databases: running an evaluation,
publishing one and confirming a proposal need the registry (the cohort; the zones' status now) and answer
503 problem+json with Retry-After, changing nothing; reading stored evaluations, rankings, explanations
and proposals does not need it; a status event confirmed before the outage waits in the outbox (across a
restart of scoring) and reaches the registry exactly once when it is back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from services.scoring.clients.registry import RegistryClient
from services.scoring.data.demo import load_demo
from services.scoring.models import Base
from shared.db import Database
from shared.peers import PeerClient
from shared.testing import ISSUER, DatabaseFactory, Tokens, dump_rows
from tests.conftest import load_registry_reference
from tests.e2e.conftest import Service, registry_env
from tests.e2e.test_registry_delivery import until

pytestmark = pytest.mark.e2e
PROBLEM = "application/problem+json"


def scoring_env(tokens: Tokens, database_url: str, registry_url: str, *, dispatch: bool) -> dict[str, str]:
    """The dispatcher (when on) polls every 0.1 s and retries after 0.1–0.5 s (jittered)."""
    return {"SCORING_DATABASE_URL": database_url, "SCORING_JWKS_FILE": str(tokens.jwks_file),
            "SCORING_JWT_ISSUER": ISSUER, "SCORING_LOG_LEVEL": "WARNING", "SCORING_REGISTRY_URL": registry_url,
            "SCORING_PEER_TOKEN": tokens("service", sub="scoring"), "SCORING_OUTBOX_DISPATCH": str(dispatch).lower(),
            "SCORING_OUTBOX_POLL_SECONDS": "0.1", "SCORING_OUTBOX_BASE_DELAY_SECONDS": "0.1",
            "SCORING_OUTBOX_MAX_DELAY_SECONDS": "0.5"}


@dataclass
class Scoring:
    registry: Service
    scoring: Service
    client: httpx.AsyncClient
    registry_client: httpx.AsyncClient
    tokens: Tokens
    database_url: str

    def st(self) -> dict[str, str]:
        return self.tokens.headers("st_department", sub="director")


@pytest.fixture
async def stack(database_factory: DatabaseFactory, dialect: str, tokens: Tokens) -> AsyncIterator[Scoring]:
    registry_db = await database_factory.fresh("registry", dialect, "reference", load_registry_reference)
    scoring_db = await database_factory.fresh("scoring", dialect)
    registry = Service("services.registry.app:create_app", registry_env(tokens, registry_db))
    await registry.start()
    scoring = Service("services.scoring.app:create_app", scoring_env(tokens, scoring_db, registry.url, dispatch=False))
    try:
        await scoring.start()  # loads the bundled frameworks and methods
        db, peer = Database(scoring_db), PeerClient(registry.url)
        try:
            await load_demo(db, RegistryClient(peer))  # make run's figures: 2022–2025 for the 9 zones
        finally:
            await peer.aclose()
            await db.dispose()
        async with httpx.AsyncClient(base_url=scoring.url, timeout=30) as client, \
                httpx.AsyncClient(base_url=registry.url, timeout=10) as registry_client:
            yield Scoring(registry, scoring, client, registry_client, tokens, scoring_db)
    finally:
        await scoring.stop()
        await registry.stop()
        await database_factory.drop(registry_db)
        await database_factory.drop(scoring_db)


async def ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


def unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith(PROBLEM) and r.headers["retry-after"] == "5"
    assert r.json()["code"] == "registry-unavailable" and r.json()["status"] == 503


async def test_registry_down_refuses_what_needs_it_serves_what_is_stored_and_delivers_later(stack: Scoring) -> None:
    s = stack
    last_year = await ok(await s.client.post("/evaluations", json={"year": 2024}, headers=s.st()), 201)
    await ok(await s.client.post(f"/evaluations/{last_year['id']}/publish", headers=s.st()))
    evaluation = await ok(await s.client.post("/evaluations", json={"year": 2025}, headers=s.st()), 201)
    published = await ok(await s.client.post(f"/evaluations/{evaluation['id']}/publish", headers=s.st()))
    first, second = [p for p in published["proposals"] if p["kind"] == "rectification"][:2]
    # confirmed while the registry is up; scoring's dispatcher is off, so the status event waits
    confirmed = await ok(await s.client.post(f"/proposals/{first['id']}/decision", json={"decision": "confirmed"},
                                             headers=s.st()))
    event_id = confirmed["decision"]["registry_event_id"]
    correction = await ok(await s.client.post("/evaluations", json={"year": 2025, "supersedes": evaluation["id"]},
                                              headers=s.st()), 201)

    await s.registry.stop()
    before = await dump_rows(s.database_url, Base.metadata)
    unavailable(await s.client.post("/evaluations", json={"year": 2025}, headers=s.st()))
    unavailable(await s.client.post(f"/evaluations/{correction['id']}/publish", headers=s.st()))
    unavailable(await s.client.post(f"/proposals/{second['id']}/decision", json={"decision": "confirmed"},
                                    headers=s.st()))
    assert await dump_rows(s.database_url, Base.metadata) == before  # nothing changed

    async def reads_work() -> None:
        e = evaluation["id"]
        assert (await ok(await s.client.get(f"/evaluations/{e}", headers=s.st())))["state"] == "published"
        lines = (await ok(await s.client.get(f"/evaluations/{e}/ranking")))["items"]  # public: published
        assert len(lines) == published["ranked"]
        explained = await ok(await s.client.get(f"/evaluations/{e}/zones/{first['zone']}", headers=s.st()))
        assert explained["indicators"]
        assert (await s.client.get(f"/evaluations/{e}/ranking.svg")).status_code == 200
        assert (await s.client.get(f"/evaluations/{e}/ranking?format=csv")).status_code == 200
        proposals = (await ok(await s.client.get(f"/proposals?evaluation={e}", headers=s.st())))["items"]
        assert {p["id"] for p in proposals} >= {first["id"], second["id"]}
        assert (await ok(await s.client.post(f"/evaluations/{e}/reproduce", headers=s.st())))["identical"] is True

    await reads_work()

    # scoring restarts with its dispatcher on while the registry is still down: the event is retried, kept
    await s.scoring.stop()
    s.scoring.env["SCORING_OUTBOX_DISPATCH"] = "true"
    await s.scoring.start()

    async def delivery() -> dict[str, Any]:
        items = (await ok(await s.client.get(f"/proposals/{first['id']}/deliveries", headers=s.st())))["items"]
        assert [m["id"] for m in items] == [event_id]
        return dict(items[0])

    async def failing() -> dict[str, Any] | None:
        d = await delivery()
        return d if d["attempts"] >= 2 else None

    pending = await until(failing, what="two failed attempts")
    assert pending["state"] == "pending" and pending["last_status"] is None and "Connect" in pending["last_error"]
    await reads_work()

    await s.registry.start()
    delivered = await until(lambda: _delivered(delivery), what="the status event delivered")
    assert delivered["last_status"] == 201 and delivered["attempts"] > pending["attempts"]
    zone = await ok(await s.registry_client.get(f"/zones/{first['zone']}"))
    assert zone["status"] == "rectification"
    history = (await ok(await s.registry_client.get(f"/zones/{first['zone']}/history")))["events"]
    ours = [e for e in history if e["event_id"] == event_id]
    assert len(ours) == 1 and ours[0]["legal_basis"]["document"] == "内政办发〔2022〕17号"
    assert ours[0]["source"] == f"scoring:proposals/{first['id']}"
    # and what needed the registry works again
    await ok(await s.client.post(f"/proposals/{second['id']}/decision", json={"decision": "confirmed"},
                                 headers=s.st()))


async def _delivered(delivery: Any) -> dict[str, Any] | None:
    d = await delivery()
    return d if d["state"] == "delivered" else None
