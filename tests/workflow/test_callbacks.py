"""Callbacks to government platforms (issue #6 §7) on both databases, to a REAL receiving server
(uvicorn on a free port) that verifies every Standard Webhooks signature as an integrator would: every
state change of an application arrives signed, one webhook-id per change (the same on retries and for
every subscriber, distinct between changes), Retry-After honoured, a league's subscription told of its
own league only, 410 disabling the subscription, dead deliveries replayed, rotated secrets."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from services.workflow.models import WebhookDelivery
from shared.db import Database
from tests.shared.test_webhooks_delivery import Receiver, serve
from tests.workflow.conftest import OTHER_LEAGUE, Workflow


@pytest.fixture(name="receiver")
def receiver_fixture() -> Iterator[Receiver]:
    app = Receiver()
    with serve(app) as url:
        app.url = url
        yield app


async def subscribe(wf: Workflow, actor: str, receiver: Receiver, path: str, **body: Any) -> dict[str, Any]:
    r = await wf.client.post("/subscriptions", json={"url": receiver.url + path, **body}, headers=wf.h(actor))
    assert r.status_code == 201, r.text
    created = dict(r.json())
    receiver.secrets[path] = [created["secret"]]
    return created


async def pending(wf: Workflow) -> int:
    db: Database = wf.app.state.db
    async with db.transaction() as session:
        return int((await session.execute(select(func.count()).select_from(WebhookDelivery)
                                          .where(WebhookDelivery.state == "pending"))).scalar_one())


async def pump(wf: Workflow, within: float = 15.0) -> None:
    """Run the webhook dispatcher until nothing is pending (retries wait for their Retry-After)."""
    dispatcher = wf.app.state.webhook_dispatcher
    deadline = time.monotonic() + within
    while await pending(wf):
        assert time.monotonic() < deadline, "webhook deliveries did not settle in time"
        if await dispatcher.run_once() == 0:
            await asyncio.sleep(0.05)


def changes(arrivals: list[Any]) -> list[dict[str, Any]]:
    return [json.loads(a.body)["data"] | {"_id": a.verified, "_type": json.loads(a.body)["type"]} for a in arrivals]


async def audit_changes(wf: Workflow, app_id: int) -> list[dict[str, Any]]:
    r = await wf.client.get(f"/applications/{app_id}/audit", headers=wf.h("st"))
    assert r.status_code == 200
    return [e for e in r.json()["entries"] if e["to_state"] is not None]


async def deliveries(wf: Workflow, subscription_id: str, actor: str = "st") -> list[dict[str, Any]]:
    r = await wf.client.get(f"/subscriptions/{subscription_id}/deliveries", headers=wf.h(actor))
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def test_every_state_change_arrives_signed_with_one_id_per_change(wf: Workflow, receiver: Receiver) -> None:
    st = await subscribe(wf, "st", receiver, "/st")
    league = await subscribe(wf, "league", receiver, "/league", events=["application.*"])
    assert (st["league_code"], league["league_code"]) == (None, "152500")
    # the league's platform is busy for its first two attempts
    receiver.script("/league", (503, {"Retry-After": "1"}, b"busy"), (503, {"Retry-After": "1"}, b"busy"))

    app_id = await wf.to_state("recommended")
    other_zone = await wf.candidate_zone(OTHER_LEAGUE)
    other_id = (await wf.create(other_zone, actor="other_league"))["id"]
    await pump(wf)

    audit = await audit_changes(wf, app_id)
    assert [e["action"] for e in audit] == ["create", "submit_intent", "start_expert_review", "recommend"]
    # the department's platform: every change of both applications, signed, in order, as the audit has them
    st_changes = changes(receiver.accepted("/st"))
    assert all(a.error is None for a in receiver.at("/st"))
    ours = [c for c in st_changes if c["application_id"] == app_id]
    assert [(c["transition"], c["from_state"], c["to_state"], c["audit_seq"]) for c in ours] == [
        (e["action"], e["from_state"], e["to_state"], e["seq"]) for e in audit]
    assert [c["_type"] for c in ours] == [f"application.{e['to_state']}" for e in audit]
    assert [c["_id"] for c in ours] == [e["data"]["webhook_id"] for e in audit]
    assert len({c["_id"] for c in st_changes}) == len(st_changes) == len(audit) + 1  # distinct per change
    assert [c["application_id"] for c in st_changes if c["application_id"] != app_id] == [other_id]
    submit = next(c for c in ours if c["transition"] == "submit_intent")
    assert submit["actor"] == {"sub": "xilingol-gov", "role": "league_government"}
    assert submit["league_code"] == "152500" and submit["zone_code"] == (await wf.get(app_id))["zone_code"]
    assert ours[-1]["version"] == (await wf.get(app_id))["version"]
    assert [c["version"] for c in ours] == sorted({c["version"] for c in ours})  # increasing with each change
    assert all(c["at"].endswith("Z") for c in ours)

    # the league's platform: its own league's application only; the retried change kept its id and body
    arrivals = receiver.at("/league")
    assert [a.status for a in arrivals[:3]] == [503, 503, 204]
    assert {a.verified for a in arrivals[:3]} == {ours[0]["_id"]} and len({a.body for a in arrivals[:3]}) == 1
    assert arrivals[1].at - arrivals[0].at >= 0.95  # Retry-After honoured
    league_changes = changes(receiver.accepted("/league"))
    assert [c["_id"] for c in league_changes] == [c["_id"] for c in ours]  # the same ids as the department's
    log = await deliveries(wf, league["id"], actor="league")
    assert [(d["state"], d["attempts"], d["last_status"]) for d in log] == [
        ("delivered", 3, 204)] + [("delivered", 1, 204)] * 3
    assert [d["webhook_id"] for d in log] == [c["_id"] for c in ours]
    assert log[0]["body"]["data"]["transition"] == "create"
    one = await wf.client.get(f"/subscriptions/{league['id']}/deliveries/{log[0]['id']}", headers=wf.h("league"))
    assert one.status_code == 200 and one.json()["webhook_id"] == log[0]["webhook_id"]


async def test_410_disables_the_subscription_until_enabled(wf: Workflow, receiver: Receiver) -> None:
    gone = await subscribe(wf, "st", receiver, "/gone")
    receiver.script("/gone", (410, {}, b"this platform moved"))
    app_id = int((await wf.create())["id"])
    await wf.upload_required(app_id)
    await wf.must(app_id, "submit_intent", "league")  # two changes pending for /gone
    await pump(wf)
    assert len(receiver.at("/gone")) == 1  # the second change was never attempted
    sub = (await wf.client.get(f"/subscriptions/{gone['id']}", headers=wf.h("st"))).json()
    assert sub["active"] is False and "410" in sub["disabled_reason"]
    assert [d["state"] for d in await deliveries(wf, gone["id"])] == ["disabled", "disabled"]
    await wf.assign(app_id, "expert-a")
    await wf.must(app_id, "start_expert_review", "st")
    assert len(await deliveries(wf, gone["id"])) == 2  # a disabled subscription is told nothing new
    # enabled again: new changes arrive; the stopped ones only by replay
    r = await wf.client.post(f"/subscriptions/{gone['id']}/enable", headers=wf.h("st"))
    assert r.status_code == 200 and r.json()["active"] is True and r.json()["disabled_reason"] is None
    assert (await wf.opine(app_id, "expert_a")).status_code == 201
    await wf.must(app_id, "recommend", "st")
    first = (await deliveries(wf, gone["id"]))[0]
    r = await wf.client.post(f"/subscriptions/{gone['id']}/deliveries/{first['id']}/replay", headers=wf.h("st"))
    assert r.status_code == 200 and r.json()["state"] == "pending"
    await pump(wf)
    accepted = changes(receiver.accepted("/gone"))
    assert sorted(c["transition"] for c in accepted) == ["create", "recommend"]
    assert next(c["_id"] for c in accepted if c["transition"] == "create") == first["webhook_id"]


async def test_dead_delivery_listed_and_replayed_with_the_same_id(wf: Workflow, receiver: Receiver) -> None:
    st = await subscribe(wf, "st", receiver, "/st")
    league = await subscribe(wf, "league", receiver, "/refuses")
    receiver.script("/refuses", (400, {}, b"unknown event"))
    await wf.create()
    await pump(wf)
    dead = await wf.client.get("/webhooks/dead", headers=wf.h("league"))
    assert dead.status_code == 200
    (item,) = dead.json()["items"]
    assert (item["subscription_id"], item["state"], item["last_status"], item["last_error"]) == (
        league["id"], "dead", 400, "unknown event")
    assert [d["id"] for d in (await wf.client.get("/webhooks/dead", headers=wf.h("st"))).json()["items"]] == [
        item["id"]]
    assert (await wf.client.get("/webhooks/dead", headers=wf.h("other_league"))).json()["items"] == []
    assert (await deliveries(wf, st["id"]))[0]["state"] == "delivered"  # the other subscriber is not held back
    # another league may not replay it; the owner may, once (then it is pending: 409)
    path = f"/subscriptions/{league['id']}/deliveries/{item['id']}/replay"
    assert (await wf.client.post(path, headers=wf.h("other_league"))).status_code == 403
    assert (await wf.client.post(path, headers=wf.h("league"))).status_code == 200
    again = await wf.client.post(path, headers=wf.h("league"))
    assert again.status_code == 409 and again.json()["code"] == "delivery-pending"
    await pump(wf)
    (arrived,) = receiver.accepted("/refuses")
    assert arrived.verified == item["webhook_id"] and json.loads(arrived.body) == item["body"]
    assert (await wf.client.get("/webhooks/dead", headers=wf.h("league"))).json()["items"] == []


async def test_rotated_secret_signs_twice_during_the_overlap(wf: Workflow, receiver: Receiver) -> None:
    sub = await subscribe(wf, "league", receiver, "/old")
    old = sub["secret"]
    r = await wf.client.post(f"/subscriptions/{sub['id']}/rotate-secret", headers=wf.h("league"))
    assert r.status_code == 200, r.text
    new = r.json()["secret"]
    assert new.startswith("whsec_") and new != old and r.json()["previous_secret_expires_at"] is not None
    # the same URL seen by a receiver knowing only the old secret, and by one knowing only the new one
    r = await wf.client.post("/subscriptions", headers=wf.h("league"),
                             json={"url": receiver.url + "/new", "secret": new})
    assert r.status_code == 201 and r.json()["secret"] == new
    await wf.client.delete(f"/subscriptions/{r.json()['id']}", headers=wf.h("league"))
    receiver.secrets["/old"] = [old]
    await wf.create()
    await pump(wf)
    (arrival,) = receiver.accepted("/old")
    assert len(arrival.headers["webhook-signature"].split()) == 2  # v1,<new> v1,<old>
    receiver.secrets["/old"] = [new]
    replayed = (await deliveries(wf, sub["id"], actor="league"))[0]
    await wf.client.post(f"/subscriptions/{sub['id']}/deliveries/{replayed['id']}/replay", headers=wf.h("league"))
    await pump(wf)
    assert [a.verified for a in receiver.accepted("/old")] == [replayed["webhook_id"]] * 2
    assert receiver.at("/new") == []  # deleted before anything was announced
