"""Scoring's dead letters (shared/outbox_api.py): an art. 15 status event the registry refused blocks the
zone's later events until the S&T Department replays it; listed and replayed over the API, by the
department only, and the replay restarts its retry window."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from shared.testing import execute_raw
from tests.scoring.conftest import Services

ST = "st_department"


async def _dead(svc: Services) -> list[dict[str, Any]]:
    r = await svc.scoring.get("/outbox/dead", headers=svc.headers(ST))
    assert r.status_code == 200, r.text
    return list(r.json())


async def test_a_refused_status_event_is_listed_and_replayed(services: Services) -> None:
    svc = services
    assert await _dead(svc) == []
    assert (await svc.scoring.get("/outbox/dead")).status_code == 401
    assert (await svc.scoring.get("/outbox/dead", headers=svc.headers("statistics_bureau"))).status_code == 403
    # an event the registry refuses (no effective date, no legal basis: 422), so dead at once
    message_id = str(uuid.uuid4())
    body = ('{"event_id": "' + message_id + '", "change": [{"field": "status", "value": "rectification"}]}')
    await execute_raw(svc.scoring_url, "INSERT INTO outbox_messages (id, aggregate, destination, method, path, body, "
                      "state, attempts, next_attempt_at, created_at) VALUES "
                      f"('{message_id}', 'zone:NM-999', 'registry', 'POST', '/zones/NM-999/events', '{body}', "
                      "'pending', 0, '2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000')")
    for _ in range(100):
        dead = await _dead(svc)
        if dead:
            break
        await asyncio.sleep(0.1)
    (message,) = dead
    assert (message["id"], message["state"], message["last_status"], message["replayed_at"]) == (
        message_id, "dead", 422, None)
    assert (await svc.scoring.post(f"/outbox/{message_id}/replay", headers=svc.headers("expert"))).status_code == 403
    replayed = await svc.scoring.post(f"/outbox/{message_id}/replay", headers=svc.headers(ST))
    assert replayed.status_code == 200, replayed.text
    assert replayed.json()["state"] == "pending" and replayed.json()["attempts"] == 0
    assert replayed.json()["replayed_at"] is not None
    for _ in range(100):  # sent again with the same id and body, refused again
        dead = await _dead(svc)
        if dead and dead[0]["attempts"] == 1:
            break
        await asyncio.sleep(0.1)
    assert dead[0]["id"] == message_id and dead[0]["replayed_at"] == replayed.json()["replayed_at"]
    unknown = await svc.scoring.post(f"/outbox/{uuid.uuid4()}/replay", headers=svc.headers(ST))
    assert unknown.status_code == 404 and unknown.json()["code"] == "dead-message-not-found"
