"""Concurrency and idempotency (issue #6 §5): two conflicting transitions with the same ETag, exactly
one wins and the other gets 412, the audit shows one; Idempotency-Key replays a command's answer."""

from __future__ import annotations

import asyncio

from tests.workflow.conftest import Workflow


async def _audit(wf: Workflow, app_id: int) -> list[dict]:
    r = await wf.client.get(f"/applications/{app_id}/audit", headers=wf.h("st"))
    return list(r.json()["entries"])


async def test_two_conflicting_transitions_one_wins(wf: Workflow) -> None:
    for _ in range(3):
        app_id = await wf.to_state("under_expert_review")
        assert (await wf.opine(app_id, "expert_a")).status_code == 201
        etag = (await wf.get(app_id))["etag"]
        recommend, revise = await asyncio.gather(
            wf.act(app_id, "recommend", "st", etag=etag), wf.act(app_id, "request_revision", "st", etag=etag))
        statuses = sorted([recommend.status_code, revise.status_code])
        assert statuses == [200, 412], (recommend.text, revise.text)
        winner = recommend if recommend.status_code == 200 else revise
        loser = revise if winner is recommend else recommend
        assert loser.json()["current_etag"] == winner.headers["ETag"]
        entries = await _audit(wf, app_id)
        conclusions = [e for e in entries if e["action"] in ("recommend", "request_revision")]
        assert len(conclusions) == 1 and conclusions[0]["to_state"] == winner.json()["state"]
        opinions = (await wf.client.get(f"/applications/{app_id}/opinions", headers=wf.h("st"))).json()
        assert opinions["rounds"][0]["conclusion"]["conclusion"] in ("recommend", "revise")


async def test_idempotency_key_replays_the_answer(wf: Workflow) -> None:
    zone = await wf.candidate_zone()
    body = {"zone_code": zone, "proposed_name": "某某高新技术产业开发区"}
    first = await wf.client.post("/applications", json=body, headers=wf.h("league", **{"Idempotency-Key": "c-1"}))
    again = await wf.client.post("/applications", json=body, headers=wf.h("league", **{"Idempotency-Key": "c-1"}))
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers.get("idempotent-replayed") == "true"
    other = await wf.client.post("/applications", json={**body, "proposed_name": "别的"},
                                 headers=wf.h("league", **{"Idempotency-Key": "c-1"}))
    assert other.status_code == 422 and other.json()["code"] == "idempotency-key-reused"
    listed = (await wf.client.get("/applications", headers=wf.h("st"))).json()["items"]
    assert [a["zone_code"] for a in listed] == [zone]

    app_id = first.json()["id"]
    await wf.upload_required(app_id)
    etag = (await wf.get(app_id))["etag"]
    key = {"Idempotency-Key": "t-1"}
    one = await wf.act(app_id, "submit_intent", "league", etag=etag, **key)
    # the replay is answered before If-Match is checked: the ETag it carries is stale by now
    two = await wf.act(app_id, "submit_intent", "league", etag=etag, **key)
    assert one.status_code == two.status_code == 200 and two.json() == one.json()
    assert two.headers.get("idempotent-replayed") == "true"
    assert [e["action"] for e in await _audit(wf, app_id)].count("submit_intent") == 1
    deliveries = (await wf.client.get(f"/applications/{app_id}/deliveries", headers=wf.h("st"))).json()
    assert len(deliveries) == 1
    # without the key the same stale request is a 412
    assert (await wf.act(app_id, "submit_intent", "league", etag=etag)).status_code == 412
