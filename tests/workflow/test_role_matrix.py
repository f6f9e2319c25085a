"""Every role × every action, written out by hand (002 art. 6, issue #6 §2) and NOT derived from the
transition table it checks. Each action runs on an application in a state where the allowed role
succeeds; the refused roles go first with the same ETag, so a refusal that changed anything would
make the allowed call fail with 412. The subscription rows (issue #6 §7) give each column a subscription
of its own, of the applicant league. On SQLite and PostgreSQL.

Columns: public (no token), observer (co-organising department), the applicant league's government,
another league's government, the S&T Department, an expert on the panel, an expert not on it, the
regional government, the statistics bureau, a service token."""

from __future__ import annotations

from typing import Any

from shared.testing import execute_raw
from tests.clock import shanghai_today
from tests.workflow.conftest import Workflow

ROLES = (None, "observer", "league", "other_league", "st", "expert_a", "expert_other", "gov", "bureau", "service")

# action: (state it is tried in, expected status per role column)
#                                                       pub  obs  lg   lg2  st   exA  exZ  gov  tjj  svc
MATRIX: dict[str, tuple[str, tuple[int, ...]]] = {
    "GET /process":                    ("-",           (200, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
    "GET /process/diagram":            ("-",           (200, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
    "GET /tasks":                      ("-",           (401, 200, 200, 200, 200, 200, 200, 200, 403, 403)),
    "GET /applications":               ("-",           (401, 200, 200, 200, 200, 200, 200, 200, 403, 403)),
    "GET application":                 ("review",      (401, 200, 200, 403, 200, 200, 403, 200, 403, 403)),
    "GET actions":                     ("review",      (401, 200, 200, 403, 200, 200, 403, 200, 403, 403)),
    "GET materials":                   ("review",      (401, 200, 200, 403, 200, 200, 403, 200, 403, 403)),
    "GET material file":               ("review",      (401, 200, 200, 403, 200, 200, 403, 200, 403, 403)),
    "GET experts":                     ("review",      (401, 200, 200, 403, 200, 200, 403, 200, 403, 403)),
    "GET opinions":                    ("review",      (401, 200, 200, 403, 200, 200, 403, 200, 403, 403)),
    "GET audit":                       ("review",      (401, 200, 200, 403, 200, 200, 403, 200, 403, 403)),
    "GET audit/verify":                ("review",      (401, 200, 200, 403, 200, 200, 403, 200, 403, 403)),
    "GET deliveries":                  ("review",      (401, 200, 200, 403, 200, 200, 403, 200, 403, 403)),
    "GET /outbox/dead":                ("-",           (401, 403, 403, 403, 200, 403, 403, 403, 403, 403)),
    "POST /outbox/{id}/replay":        ("-",           (401, 403, 403, 403, 404, 403, 403, 403, 403, 403)),
    "POST /applications":              ("-",           (401, 403, 201, 403, 403, 403, 403, 403, 403, 403)),
    "POST material":                   ("draft",       (401, 403, 201, 403, 403, 403, 403, 403, 403, 403)),
    "POST expert":                     ("intent",      (401, 403, 403, 403, 201, 403, 403, 403, 403, 403)),
    "DELETE expert":                   ("review+b",    (401, 403, 403, 403, 200, 403, 403, 403, 403, 403)),
    "POST opinion":                    ("review",      (401, 403, 403, 403, 403, 201, 403, 403, 403, 403)),
    "submit_intent":                   ("draft+docs",  (401, 403, 200, 403, 403, 403, 403, 403, 403, 403)),
    "start_expert_review":             ("intent+a",    (401, 403, 403, 403, 200, 403, 403, 403, 403, 403)),
    "recommend":                       ("opined",      (401, 403, 403, 403, 200, 403, 403, 403, 403, 403)),
    "request_revision":                ("opined",      (401, 403, 403, 403, 200, 403, 403, 403, 403, 403)),
    "not_recommend":                   ("opined",      (401, 403, 403, 403, 200, 403, 403, 403, 403, 403)),
    "submit_revision":                 ("revising",    (401, 403, 200, 403, 403, 403, 403, 403, 403, 403)),
    "start_next_round":                ("revised",     (401, 403, 403, 403, 200, 403, 403, 403, 403, 403)),
    "start_audit":                     ("recommended", (401, 403, 403, 403, 200, 403, 403, 403, 403, 403)),
    # a joint act (process v2, 002 art. 6(三)): the department signs first (the league is 409 until then),
    # then the applicant league submits (the department, having signed, is 409)
    "submit_to_government":            ("audit",       (401, 403, 409, 403, 200, 403, 403, 403, 403, 403)),
    "submit_to_government (league)":   ("audit+st",    (401, 403, 200, 403, 409, 403, 403, 403, 403, 403)),
    "approve":                         ("government",  (401, 403, 403, 403, 403, 403, 403, 200, 403, 403)),
    "reject (audit)":                  ("audit",       (401, 403, 403, 403, 200, 403, 403, 403, 403, 403)),
    "reject (government)":             ("government",  (401, 403, 403, 403, 403, 403, 403, 200, 403, 403)),
    "withdraw":                        ("review",      (401, 403, 200, 403, 403, 403, 403, 403, 403, 403)),
    # callbacks (issue #6 §7): "subscribed" = each column acts on its own subscription of the applicant league
    # with one dead delivery
    "POST /subscriptions":             ("-",           (401, 403, 201, 201, 201, 403, 403, 403, 403, 403)),
    "GET /subscriptions":              ("-",           (401, 403, 200, 200, 200, 403, 403, 403, 403, 403)),
    "GET subscription":                ("subscribed",  (401, 403, 200, 403, 200, 403, 403, 403, 403, 403)),
    "DELETE subscription":             ("subscribed",  (401, 403, 204, 403, 204, 403, 403, 403, 403, 403)),
    "POST subscription rotate-secret": ("subscribed",  (401, 403, 200, 403, 200, 403, 403, 403, 403, 403)),
    "POST subscription enable":        ("subscribed",  (401, 403, 200, 403, 200, 403, 403, 403, 403, 403)),
    "GET subscription deliveries":     ("subscribed",  (401, 403, 200, 403, 200, 403, 403, 403, 403, 403)),
    "GET subscription delivery":       ("subscribed",  (401, 403, 200, 403, 200, 403, 403, 403, 403, 403)),
    "POST delivery replay":            ("subscribed",  (401, 403, 200, 403, 200, 403, 403, 403, 403, 403)),
    "GET /webhooks/dead":              ("-",           (401, 403, 200, 200, 200, 403, 403, 403, 403, 403)),
}
HOOK = "http://127.0.0.1:9/hook"  # nothing listens: nothing is delivered here

def _body(action: str) -> dict[str, Any]:
    """The body of a transition; a decision is dated today in Shanghai, read now (tests/clock.py)."""
    return {
        "not_recommend": {"comment": "不推荐"},
        "approve": {"document": "内政字〔2026〕1号", "date": shanghai_today()},
        "reject (audit)": {"comment": "审核不通过"},
        "reject (government)": {"comment": "不予批复", "document": "内政字〔2026〕2号", "date": shanghai_today()},
        "withdraw": {"comment": "撤回"},
    }.get(action, {})


async def _prepare(wf: Workflow, state: str) -> int:
    """A new application in the state named in the matrix."""
    if state in ("draft", "draft+docs"):
        app_id = await wf.to_state("draft")
        if state == "draft+docs":
            await wf.upload_required(app_id)
        return app_id
    if state in ("intent", "intent+a"):
        app_id = await wf.to_state("intent_submitted")
        if state == "intent+a":
            await wf.assign(app_id, "expert-a")
        return app_id
    if state in ("review", "review+b", "opined", "revising", "revised"):
        app_id = await wf.to_state("under_expert_review")
        if state == "review+b":
            await wf.assign(app_id, "expert-b")
        if state in ("opined", "revising", "revised"):
            assert (await wf.opine(app_id, "expert_a", "revise")).status_code == 201
        if state in ("revising", "revised"):
            await wf.must(app_id, "request_revision", "st")
            for item in ("development_plan", "implementation_plan"):
                assert (await wf.upload(app_id, item, b"%PDF-1.7 revised")).status_code == 201
        if state == "revised":
            await wf.must(app_id, "submit_revision", "league")
        return app_id
    if state == "audit+st":
        app_id = await wf.to_state("under_audit")
        await wf.must(app_id, "submit_to_government", "st")
        return app_id
    return await wf.to_state({"recommended": "recommended", "audit": "under_audit",
                              "government": "submitted_to_government"}[state])


async def _subscriptions(wf: Workflow) -> dict[str | None, tuple[str, str]]:
    """For each role column, its own subscription of the applicant league with one dead delivery (the
    creation of an application announced to it): (subscription id, delivery id)."""
    subs: dict[str | None, str] = {}
    for role in ROLES:
        r = await wf.client.post("/subscriptions", json={"url": HOOK}, headers=wf.h("league"))
        assert r.status_code == 201, r.text
        subs[role] = r.json()["id"]
    await wf.create()
    ids = ", ".join(f"'{s}'" for s in subs.values())
    await execute_raw(wf.url, f"UPDATE webhook_deliveries SET state = 'dead' WHERE subscription_id IN ({ids})")
    out = {}
    for role, sub in subs.items():
        (delivery,) = (await wf.client.get(f"/subscriptions/{sub}/deliveries", headers=wf.h("st"))).json()["items"]
        out[role] = (sub, delivery["id"])
    return out


async def _call(wf: Workflow, action: str, role: str | None, app_id: int | None, etag: str | None,
                zone: str | None, sub: tuple[str, str] | None = None) -> int:
    c, h = wf.client, wf.h(role)
    base = f"/applications/{app_id}"
    if action in ("GET /subscriptions", "GET /webhooks/dead"):
        return (await c.get(action.split(" ")[1], headers=h)).status_code
    if action == "POST /subscriptions":
        return (await c.post("/subscriptions", json={"url": HOOK}, headers=h)).status_code
    if sub is not None:
        s, d = f"/subscriptions/{sub[0]}", sub[1]
        method, path = {"GET subscription": ("GET", s), "DELETE subscription": ("DELETE", s),
                        "POST subscription rotate-secret": ("POST", f"{s}/rotate-secret"),
                        "POST subscription enable": ("POST", f"{s}/enable"),
                        "GET subscription deliveries": ("GET", f"{s}/deliveries"),
                        "GET subscription delivery": ("GET", f"{s}/deliveries/{d}"),
                        "POST delivery replay": ("POST", f"{s}/deliveries/{d}/replay")}[action]
        return (await c.request(method, path, headers=h)).status_code
    simple_gets = {"GET /process": "/process", "GET /process/diagram": "/process/diagram", "GET /tasks": "/tasks",
                   "GET /applications": "/applications", "GET application": base, "GET actions": f"{base}/actions",
                   "GET materials": f"{base}/materials",
                   "GET material file": f"{base}/materials/development_plan/versions/1",
                   "GET experts": f"{base}/experts", "GET opinions": f"{base}/opinions", "GET audit": f"{base}/audit",
                   "GET audit/verify": f"{base}/audit/verify", "GET deliveries": f"{base}/deliveries"}
    if action in simple_gets:
        return (await c.get(simple_gets[action], headers=h)).status_code
    if action == "GET /outbox/dead":
        return (await c.get("/outbox/dead", headers=h)).status_code
    if action == "POST /outbox/{id}/replay":  # no dead message: the department gets 404, the others 403
        return (await c.post("/outbox/00000000-0000-4000-8000-000000000000/replay", headers=h)).status_code
    if action == "POST /applications":
        return (await c.post("/applications", json={"zone_code": zone, "proposed_name": "某高新区"},
                             headers=h)).status_code
    if action == "POST material":
        return (await c.post(f"{base}/materials/other", headers=h,
                             files={"file": ("x.pdf", b"%PDF-1.7 x", "application/pdf")})).status_code
    if action == "POST expert":
        return (await c.post(f"{base}/experts", json={"expert_sub": "expert-b"}, headers=h)).status_code
    if action == "DELETE expert":
        return (await c.delete(f"{base}/experts/expert-b", headers=h)).status_code
    if action == "POST opinion":
        return (await c.post(f"{base}/opinions", json={"recommendation": "recommend", "text": "好"},
                             headers=h)).status_code
    name = action.split(" ")[0]
    assert etag is not None
    return (await c.post(f"{base}/transitions/{name}", json=_body(action),
                         headers={**h, "If-Match": etag})).status_code


async def test_every_role_times_every_action(wf: Workflow) -> None:
    mismatches = []
    for action, (state, expected) in MATRIX.items():
        subs = await _subscriptions(wf) if state == "subscribed" else {}
        app_id = None if state in ("-", "subscribed") else await _prepare(wf, state)
        zone = await wf.candidate_zone() if action == "POST /applications" else None
        etag = (await wf.get(app_id))["etag"] if app_id else None
        # the refused roles first, then the allowed ones (a success may change the state)
        order = sorted(range(len(ROLES)), key=lambda i: expected[i] < 300)
        for i in order:
            got = await _call(wf, action, ROLES[i], app_id, etag, zone, subs.get(ROLES[i]))
            if got != expected[i]:
                mismatches.append(f"{action} as {ROLES[i] or 'public'}: expected {expected[i]}, got {got}")
    assert mismatches == []
