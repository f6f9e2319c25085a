"""Subscription routes (issue #6 §7) on both databases: who subscribes (st_department: every league;
league_government: its own league), who sees and manages which subscription, bad input refused naming
the field with nothing stored, and callback URLs resolving to private addresses refused at subscription
and again at delivery when the setting forbids them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.testing import Tokens, asgi_client, settings_overrides
from tests.workflow.conftest import Workflow

HOOK = "http://127.0.0.1:9/hook"  # nothing listens: these tests deliver nothing
SUBSCRIPTION_TABLES = ("webhook_subscriptions", "webhook_deliveries")


async def tables(wf: Workflow) -> dict[str, Any]:
    rows = await wf.rows()
    return {t: rows[t] for t in SUBSCRIPTION_TABLES}


async def create(wf: Workflow, actor: str, url: str = HOOK, **body: Any) -> httpx.Response:
    return await wf.client.post("/subscriptions", json={"url": url, **body}, headers=wf.h(actor))


@pytest.mark.parametrize(("actor", "status"), [(None, 401), ("observer", 403), ("expert_a", 403), ("gov", 403),
                                               ("bureau", 403), ("service", 403)])
async def test_roles_that_do_not_subscribe(wf: Workflow, actor: str | None, status: int) -> None:
    before = await tables(wf)
    r = await create(wf, actor)  # type: ignore[arg-type]
    assert r.status_code == status and r.headers["content-type"].startswith("application/problem+json")
    assert (await wf.client.get("/subscriptions", headers=wf.h(actor))).status_code == status
    assert (await wf.client.get("/webhooks/dead", headers=wf.h(actor))).status_code == status
    assert await tables(wf) == before


async def test_each_sees_and_manages_its_own(wf: Workflow) -> None:
    st = (await create(wf, "st")).json()
    league = (await create(wf, "league", events=["application.approved", "application.rejected"])).json()
    other = (await create(wf, "other_league")).json()
    assert (st["owner_role"], st["league_code"], st["events"]) == ("st_department", None, ["application.*"])
    assert (league["league_code"], league["events"]) == ("152500", ["application.approved", "application.rejected"])
    assert league["secret"].startswith("whsec_") and league["active"] is True

    def ids(r: httpx.Response) -> Sequence[str]:
        assert r.status_code == 200, r.text
        return [s["id"] for s in r.json()]

    assert ids(await wf.client.get("/subscriptions", headers=wf.h("league"))) == [league["id"]]
    assert ids(await wf.client.get("/subscriptions", headers=wf.h("other_league"))) == [other["id"]]
    assert sorted(ids(await wf.client.get("/subscriptions", headers=wf.h("st")))) == sorted(
        [st["id"], league["id"], other["id"]])
    listed = (await wf.client.get(f"/subscriptions/{league['id']}", headers=wf.h("league"))).json()
    assert "secret" not in listed and listed["url"] == HOOK  # the secret is shown once
    before = await tables(wf)
    for method, path in (("GET", ""), ("DELETE", ""), ("POST", "/rotate-secret"), ("POST", "/enable"),
                         ("GET", "/deliveries")):
        r = await wf.client.request(method, f"/subscriptions/{league['id']}{path}", headers=wf.h("other_league"))
        assert r.status_code == 403 and r.json()["code"] == "other-league", (method, path, r.text)
        r = await wf.client.request(method, f"/subscriptions/{st['id']}{path}", headers=wf.h("league"))
        assert r.status_code == 403, (method, path)
    assert await tables(wf) == before
    # the department manages every subscription; a deleted one is gone from every view
    assert (await wf.client.delete(f"/subscriptions/{other['id']}", headers=wf.h("st"))).status_code == 204
    assert (await wf.client.get(f"/subscriptions/{other['id']}", headers=wf.h("other_league"))).status_code == 404
    assert ids(await wf.client.get("/subscriptions", headers=wf.h("other_league"))) == []
    assert (await wf.client.delete(f"/subscriptions/{other['id']}", headers=wf.h("st"))).status_code == 404


async def test_a_deleted_subscription_is_told_nothing_and_its_pending_deliveries_stop(wf: Workflow) -> None:
    league = (await create(wf, "league")).json()
    app = await wf.create()
    (pending,) = (await wf.client.get(f"/subscriptions/{league['id']}/deliveries", headers=wf.h("st"))).json()["items"]
    assert pending["state"] == "pending" and pending["body"]["data"]["application_id"] == app["id"]
    assert (await wf.client.delete(f"/subscriptions/{league['id']}", headers=wf.h("league"))).status_code == 204
    await wf.upload_required(app["id"])
    await wf.must(app["id"], "submit_intent", "league")
    rows = (await wf.rows())["webhook_deliveries"]
    assert len(rows) == 1 and "disabled" in rows[0]  # kept in the log, stopped, nothing new


@pytest.mark.parametrize(("body", "field", "code"), [
    ({"url": "ftp://platform.example/hook"}, "url", "scheme"),
    ({"url": "http://user:pw@127.0.0.1/hook"}, "url", "credentials"),
    ({"url": "not a url"}, "url", None),
    ({"url": HOOK, "events": ["zone.changed"]}, "events.0", "unknown-event"),
    ({"url": HOOK, "events": ["application.approved", "bad filter!"]}, "events.1", "event-filter"),
    ({"url": HOOK, "events": []}, "events", None),
    ({"url": HOOK, "secret": "whsec_c2hvcnQ="}, "secret", "secret-format"),
    ({"url": HOOK, "secret": "not-whsec"}, "secret", "secret-format"),
    ({"url": HOOK, "colour": "red"}, "colour", None),
    ({}, "url", None),
])
async def test_bad_subscriptions_refused_naming_the_field(wf: Workflow, body: dict[str, Any], field: str,
                                                          code: str | None) -> None:
    before = await tables(wf)
    r = await wf.client.post("/subscriptions", json=body, headers=wf.h("league"))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    errors = r.json()["errors"]
    assert field in [e["field"] for e in errors]
    if code is not None:
        assert code in [e["code"] for e in errors]
    assert await tables(wf) == before


async def test_bad_paths_and_cursors(wf: Workflow) -> None:
    sub = (await create(wf, "st")).json()
    r = await wf.client.get("/subscriptions/not-a-uuid", headers=wf.h("st"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "subscription_id"
    r = await wf.client.get(f"/subscriptions/{sub['id']}/deliveries", params={"cursor": "xyz"}, headers=wf.h("st"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "cursor"
    r = await wf.client.get(f"/subscriptions/{sub['id']}/deliveries", params={"state": "lost"}, headers=wf.h("st"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "state"
    missing = "00000000-0000-4000-8000-000000000000"
    r = await wf.client.post(f"/subscriptions/{sub['id']}/deliveries/{missing}/replay", headers=wf.h("st"))
    assert r.status_code == 404 and r.json()["code"] == "delivery-not-found"
    r = await wf.client.post(f"/subscriptions/{sub['id']}/rotate-secret", json={"secret": "x"}, headers=wf.h("st"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "secret"


async def test_delivery_log_pages(wf: Workflow) -> None:
    sub = (await create(wf, "st")).json()
    for _ in range(3):
        await wf.create()
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await wf.client.get(f"/subscriptions/{sub['id']}/deliveries", params=params,
                                    headers=wf.h("st"))).json()
        seen += [d["id"] for d in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 3


async def test_private_callback_urls_refused_when_the_setting_forbids(wf: Workflow, tokens: Tokens,
                                                                      tmp_path: Path) -> None:
    """WORKFLOW_WEBHOOK_ALLOW_PRIVATE_URLS=false: a URL whose host resolves to a private or loopback
    address is refused at subscription (422 naming url) and, should the name resolve elsewhere later
    (DNS rebinding), at delivery (dead, the guard's reason)."""
    from services.workflow.app import create_app
    from services.workflow.settings import Settings

    dns = {"platform.example": ["93.184.216.34"], "intranet.example": ["10.1.2.3"],
           "mixed.example": ["93.184.216.34", "127.0.0.1"]}

    async def resolver(host: str, port: int) -> list[str]:
        if host not in dns:
            raise OSError(f"{host}: no such name")
        return dns[host]

    app = create_app(Settings(**settings_overrides(tokens, wf.url), registry_url="http://registry",
                              peer_token=tokens("service", sub="workflow"), materials_dir=tmp_path,
                              dispatcher_enabled=False, webhook_dispatcher_enabled=False,
                              webhook_allow_private_urls=False),
                     registry_transport=httpx.ASGITransport(app=wf.registry_app), webhook_resolver=resolver)
    async with asgi_client(app, "http://strict") as strict:
        before = await tables(wf)
        for url in ("http://intranet.example/hook", "http://mixed.example/hook", "http://127.0.0.1:8080/hook",
                    "http://[::1]/hook", "http://[::ffff:192.168.1.1]/hook"):
            r = await strict.post("/subscriptions", json={"url": url}, headers=wf.h("st"))
            assert r.status_code == 422, (url, r.text)
            assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [("url", "private-address")], url
        assert await tables(wf) == before
        r = await strict.post("/subscriptions", json={"url": "http://platform.example/hook"}, headers=wf.h("st"))
        assert r.status_code == 201, r.text
        sub = r.json()
        # the name now resolves to a private address: the delivery is refused by the guard, never sent
        dns["platform.example"] = ["192.168.0.10"]
        r = await strict.post("/applications", headers=wf.h("league"),
                              json={"zone_code": await wf.candidate_zone(), "proposed_name": "某高新区"})
        assert r.status_code == 201, r.text
        assert await app.state.webhook_dispatcher.run_once() == 1
        (delivery,) = (await strict.get(f"/subscriptions/{sub['id']}/deliveries", headers=wf.h("st"))).json()["items"]
        assert delivery["state"] == "dead" and delivery["last_status"] is None
        assert "private-address" in delivery["last_error"] and "192.168.0.10" in delivery["last_error"]
    # the embedded default (the wf fixture) allows them
    assert (await create(wf, "st", "http://127.0.0.1:8080/hook")).status_code == 201
