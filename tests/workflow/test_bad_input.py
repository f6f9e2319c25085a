"""Bad input (issue #6 §10): each a 4xx problem+json naming the rule and the field, and nothing changed:
every row of the workflow database (dump_rows) and every stored file are the same before and after."""

from __future__ import annotations

from typing import Any

import httpx

from shared.testing import execute_raw
from tests.workflow.conftest import PDF, PNG, Workflow

PROBLEM = "application/problem+json"


def _problem(r: httpx.Response, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body = dict(r.json())
    assert body["code"] == code, body
    if field is not None:
        assert field in [e["field"] for e in body.get("errors", [])], body
    return body


async def _unchanged(wf: Workflow, call: Any) -> httpx.Response:
    rows, files = await wf.rows(), wf.files()
    r = await call()
    assert await wf.rows() == rows
    assert wf.files() == files
    return r  # type: ignore[no-any-return]


async def test_refused_requests_change_nothing(wf: Workflow) -> None:
    draft = await wf.to_state("draft")
    review = await wf.to_state("under_expert_review")
    c = wf.client

    # unknown zone; a zone of another league; a zone whose status and level do not allow an application
    r = await _unchanged(wf, lambda: c.post("/applications", json={"zone_code": "NM-99999", "proposed_name": "x"},
                                            headers=wf.h("league")))
    _problem(r, 422, "unknown-zone", "zone_code")
    other = await wf.candidate_zone("150200")
    r = await _unchanged(wf, lambda: c.post("/applications", json={"zone_code": other, "proposed_name": "x"},
                                            headers=wf.h("league")))
    _problem(r, 403, "other-league", "zone_code")
    r = await _unchanged(wf, lambda: c.post("/applications", json={"zone_code": "S157027", "proposed_name": "x"},
                                            headers=wf.h("league")))  # 锡林郭勒经济开发区: accredited, regional
    assert "status 'accredited'" in _problem(r, 409, "zone-cannot-apply", "zone_code")["detail"]
    r = await _unchanged(wf, lambda: c.post("/applications", json={"zone_code": "bad code", "proposed_name": "x"},
                                            headers=wf.h("league")))
    _problem(r, 422, "validation-failed", "zone_code")
    zone_of_draft = (await wf.get(draft))["zone_code"]
    r = await _unchanged(wf, lambda: c.post("/applications", json={"zone_code": zone_of_draft, "proposed_name": "x"},
                                            headers=wf.h("league")))
    _problem(r, 409, "application-open", "zone_code")

    # a transition not allowed from the current state; an unknown one
    r = await _unchanged(wf, lambda: wf.act(draft, "approve", "gov", {"document": "d", "date": "2024-01-01"}))
    assert _problem(r, 409, "transition-refused", "name")["reasons"][0]["code"] == "wrong_state"
    r = await _unchanged(wf, lambda: wf.act(review, "submit_intent", "league"))
    body = _problem(r, 409, "transition-refused", "name")
    assert body["reasons"][0]["code"] == "wrong_state"
    r = await _unchanged(wf, lambda: wf.act(review, "fly_away", "st"))
    _problem(r, 404, "unknown-transition", "name")

    # a missing material
    r = await _unchanged(wf, lambda: wf.act(draft, "submit_intent", "league"))
    body = _problem(r, 409, "transition-refused", "name")
    assert body["reasons"][0]["code"] == "required_materials_present"
    assert "application_letter" in body["reasons"][0]["reason"]

    # a stale version; no version at all
    stale = (await wf.get(review))["etag"]
    assert (await wf.opine(review, "expert_a")).status_code == 201  # changes the version
    r = await _unchanged(wf, lambda: wf.act(review, "recommend", "st", etag=stale))
    _problem(r, 412, "precondition-failed", "If-Match")
    r = await _unchanged(wf, lambda: c.post(f"/applications/{review}/transitions/recommend", json={},
                                            headers=wf.h("st")))
    _problem(r, 428, "precondition-required", "If-Match")

    # an expert who is not assigned; the same expert twice in a round; a body the transition does not take
    r = await _unchanged(wf, lambda: wf.opine(review, "expert_other"))
    _problem(r, 403, "not-assigned")
    r = await _unchanged(wf, lambda: wf.opine(review, "expert_a"))
    _problem(r, 409, "opinion-given")
    r = await _unchanged(wf, lambda: wf.act(review, "recommend", "st", {"approved_name": "x"}))
    _problem(r, 422, "validation-failed", "approved_name")
    r = await _unchanged(wf, lambda: wf.act(review, "reject", "st", {}))
    _problem(r, 422, "validation-failed", "comment")
    r = await _unchanged(wf, lambda: wf.act(review, "reject", "st", {"comment": "x", "date": "2999-01-01"}))
    _problem(r, 422, "validation-failed", "date")
    r = await _unchanged(wf, lambda: wf.act(review, "reject", "st", {"comment": "x", "date": 0}))
    _problem(r, 422, "validation-failed", "date")
    r = await _unchanged(wf, lambda: wf.act(review, "reject", "st", {"comment": "x", "colour": "red"}))
    _problem(r, 422, "validation-failed", "colour")

    # materials: an oversized file, a disallowed type, a PDF that is not one, an unknown item, a closed state
    r = await _unchanged(wf, lambda: wf.upload(draft, "other", b"%PDF-" + b"x" * (64 * 1024)))
    _problem(r, 413, "material-too-large", "file")
    r = await _unchanged(wf, lambda: wf.upload(draft, "other", b"MZ\x90\x00", "application/x-msdownload"))
    _problem(r, 415, "unsupported-material-type", "file")
    r = await _unchanged(wf, lambda: wf.upload(draft, "other", PNG, "application/pdf"))
    _problem(r, 415, "unsupported-material-type", "file")
    r = await _unchanged(wf, lambda: wf.upload(draft, "horoscope"))
    _problem(r, 404, "unknown-material-item", "item")
    r = await _unchanged(wf, lambda: wf.upload(review, "other"))
    _problem(r, 409, "materials-closed")
    r = await _unchanged(wf, lambda: c.post(f"/applications/{draft}/materials/other", headers=wf.h("league")))
    _problem(r, 422, "validation-failed", "file")


async def test_an_unreadable_body_is_a_400_naming_the_body(wf: Workflow) -> None:
    """Found by Schemathesis: a body the framework cannot read (bytes that are not UTF-8 sent as JSON, a
    multipart body without its boundary) was a 400 with the generic code http-400 and no `errors`; it
    names the rule (malformed-body) and the body, and changes nothing."""
    draft = await wf.to_state("draft")
    review = await wf.to_state("under_expert_review")
    c = wf.client
    r = await _unchanged(wf, lambda: c.post(f"/applications/{review}/opinions", content=b"Z\xff\xfe6\x9c[A",
                                            headers=wf.h("expert_a", **{"Content-Type": "application/json"})))
    body = _problem(r, 400, "malformed-body", "body")
    assert body["errors"][0]["in"] == "body"
    r = await _unchanged(wf, lambda: c.post(f"/applications/{draft}/materials/other", content=b"",
                                            headers=wf.h("league", **{"Content-Type": "multipart/form-data"})))
    assert "boundary" in _problem(r, 400, "malformed-body", "body")["detail"]


async def test_a_revision_without_new_plans_is_refused_and_changes_nothing(wf: Workflow) -> None:
    """002 art. 6(二): submit_revision needs versions of the plans newer than those current when the panel
    asked for the revision, whatever the clocks say."""
    app_id = await wf.to_state("under_expert_review")
    assert (await wf.opine(app_id, "expert_a", "revise")).status_code == 201
    await wf.must(app_id, "request_revision", "st")
    # the state's clock far in the past: every upload of the draft would look "newer" by time
    await execute_raw(wf.url, f"UPDATE applications SET state_entered_at = '2000-01-01 00:00:00' WHERE id = {app_id}")

    r = await _unchanged(wf, lambda: wf.act(app_id, "submit_revision", "league"))
    body = _problem(r, 409, "transition-refused", "name")
    assert [x["code"] for x in body["reasons"]] == ["revised_plans_uploaded"]
    assert body["reasons"][0]["reason"].endswith("development_plan, implementation_plan")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("name", "revised_plans_uploaded")]

    # one plan revised: still refused, naming the other
    assert (await wf.upload(app_id, "development_plan", PDF + b" revised")).status_code == 201
    r = await _unchanged(wf, lambda: wf.act(app_id, "submit_revision", "league"))
    body = _problem(r, 409, "transition-refused", "name")
    assert body["reasons"] == [{"code": "revised_plans_uploaded",
                                "reason": "no revised version since the revision was requested: implementation_plan"}]

    # both: accepted, with the versions recorded at the request in its audit entry
    assert (await wf.upload(app_id, "implementation_plan", PDF + b" revised")).status_code == 201
    assert (await wf.must(app_id, "submit_revision", "league"))["state"] == "revised"
    audit = (await wf.client.get(f"/applications/{app_id}/audit", headers=wf.h("st"))).json()["entries"]
    request = next(e for e in audit if e["action"] == "request_revision")
    assert request["data"]["revision_baseline"]["development_plan"] == 1
