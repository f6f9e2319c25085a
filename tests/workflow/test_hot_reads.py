"""GET /applications/{id}: the hot lane (applications/hot.py) and the FastAPI route give the same answer.
The route is reached with a query string (which the lane leaves to it); the refusals are the route's."""

from __future__ import annotations

from services.workflow.applications.hot import HotApplicationReads
from tests.clock import shanghai_today
from tests.workflow.conftest import Workflow


async def test_the_hot_lane_answers_as_the_route(wf: Workflow) -> None:
    draft = await wf.to_state("draft")
    review = await wf.to_state("under_expert_review")
    audit = await wf.to_state("under_audit")
    await wf.must(audit, "submit_to_government", "st", {"comment": "审核同意"})  # a joint act half signed
    approved = await wf.to_state("submitted_to_government")
    await wf.must(approved, "approve", "gov", {"document": "内政字〔2026〕3号",
                                               "date": shanghai_today()})
    for app_id in (draft, review, audit, approved):
        for actor in ("st", "observer", "league", "gov", "expert_a"):
            if actor == "expert_a" and app_id == draft:
                continue  # not on a draft's panel: refused, below
            hot = await wf.client.get(f"/applications/{app_id}", headers=wf.h(actor))
            routed = await wf.client.get(f"/applications/{app_id}?via=route", headers=wf.h(actor))
            assert hot.status_code == routed.status_code == 200, (hot.text, routed.text)
            assert hot.content == routed.content
            assert hot.headers["etag"] == routed.headers["etag"]
            assert hot.headers["content-type"] == routed.headers["content-type"] == "application/json"
            # and the lane did answer it (the route would give the same bytes)
            scope = {"headers": [(b"authorization", wf.h(actor)["Authorization"].encode())], "app": wf.app}
            assert await HotApplicationReads._answer(scope, app_id) == (routed.content, routed.headers["etag"])
    assert (await wf.get(audit))["joint"]["awaiting"] == ["league_government"]
    # what the lane does not answer, the route does, as it always did
    refused = [(await wf.client.get(f"/applications/{draft}")).status_code,
               (await wf.client.get(f"/applications/{draft}", headers=wf.h("other_league"))).json()["code"],
               (await wf.client.get(f"/applications/{draft}", headers=wf.h("expert_a"))).json()["code"],
               (await wf.client.get("/applications/99999", headers=wf.h("st"))).json()["code"],
               (await wf.client.get(f"/applications/{draft}", headers={"Authorization": "Bearer x.y.z"})).status_code,
               (await wf.client.get("/applications/0", headers=wf.h("st"))).status_code]
    assert refused == [401, "other-league", "not-assigned", "application-not-found", 401, 422]
