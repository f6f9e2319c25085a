"""The process definition (issue #6 §1): validated data, guards as pure functions, /actions reasons,
GET /process and the diagram drawn from the same table, and an application keeping its version."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.contracts import ApplicationState
from services.workflow import diagram, process
from services.workflow.guards import (
    GuardContext,
    MaterialFact,
    all_opinions_in,
    latest_versions,
    revised_plans_uploaded,
)
from services.workflow.process import ProcessDefinition, definition, refusals
from tests.workflow.conftest import REQUIRED_ITEMS, Workflow

V1 = json.loads((process.DEFINITIONS_DIR / "v1.json").read_text(encoding="utf-8"))
SVG = "{http://www.w3.org/2000/svg}"


def _edges(p: ProcessDefinition) -> set[tuple[str, str, str]]:
    return {(s.value, t.name, t.to.value) for t in p.transitions for g in t.grants for s in g.from_states}


def test_v1_covers_the_contract_states_and_the_measures() -> None:
    p = definition("v1")
    assert {s.name.value for s in p.states} == {s.value for s in ApplicationState}
    assert {s.name.value for s in p.states if s.final} == {"approved", "rejected", "withdrawn"}
    reject = p.transition("reject")
    assert reject is not None and reject.roles_from("submitted_to_government") == ("regional_government",)
    assert reject.roles_from("under_audit") == ("st_department",) and "draft" not in reject.from_states
    withdraw = p.transition("withdraw")
    assert withdraw is not None and set(withdraw.from_states) == set(p.open_states)
    assert len(p.materials.checklist) == 10 and p.required_items == REQUIRED_ITEMS


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["transitions"][0].update(guards=["moon_is_full"]), "unknown guard moon_is_full"),
    (lambda d: d["transitions"][0]["grants"][0].update({"from": ["approved"]}), "leaves final state approved"),
    (lambda d: d["transitions"][0]["grants"][0].update(role="expert"), "role expert does not take transitions"),
    (lambda d: d["transitions"].pop(1), "cannot be reached"),
    (lambda d: d["states"].pop(), "every application state"),
])
def test_broken_definitions_are_refused(change, message) -> None:  # type: ignore[no-untyped-def]
    broken = json.loads(json.dumps(V1))
    change(broken)
    with pytest.raises(ValidationError, match=message):
        ProcessDefinition.model_validate(broken)


def test_guards_are_pure_functions_with_reasons() -> None:
    ctx = GuardContext(state="under_expert_review", round=2, experts=frozenset({"a", "b"}), opinions=frozenset({"a"}))
    assert all_opinions_in(ctx) == "opinions outstanding in round 2 from: b"
    assert all_opinions_in(GuardContext(state="x", round=1)) == "no expert is assigned"
    # 002 art. 6(二): versions newer than those recorded when the revision was requested, not clocks
    plans = (MaterialFact("development_plan", 1, 0), MaterialFact("development_plan", 2, 1),
             MaterialFact("implementation_plan", 1, 0))
    revising = GuardContext(state="revision_requested", round=1,
                            revised_items=("development_plan", "implementation_plan"), materials=plans,
                            revision_baseline={"development_plan": 1, "implementation_plan": 1})
    assert revised_plans_uploaded(revising) == "no revised version since the revision was requested: " \
                                               "implementation_plan"
    assert revised_plans_uploaded(replace(revising, revision_baseline={"development_plan": 2})) == \
        "no revised version since the revision was requested: development_plan"
    assert revised_plans_uploaded(replace(revising, revision_baseline={"development_plan": 1})) is None
    assert "no revision was requested" in str(revised_plans_uploaded(replace(revising, revision_baseline=None)))
    assert latest_versions(plans) == {"development_plan": 2, "implementation_plan": 1}
    p = definition()
    submit = p.transition("submit_intent")
    assert submit is not None
    draft = GuardContext(state="draft", round=0, required_items=p.required_items)
    assert [r.code for r in refusals(p, submit, "st_department", draft)] == ["wrong_role"]
    assert [r.code for r in refusals(p, submit, "league_government", draft)] == ["required_materials_present"]
    assert [r.code for r in refusals(p, submit, "league_government",
                                     GuardContext(state="revised", round=1))] == ["wrong_state"]


def test_diagram_and_mermaid_come_from_the_table() -> None:
    p = definition()
    text = diagram.mermaid(p)
    for source, name, target in _edges(p):
        assert f"{source} --> {target} : {name} (" in text
    root = ET.fromstring(diagram.svg(p))
    states = {g.get("data-state") for g in root.iter(f"{SVG}g") if g.get("class") == "state"}
    assert states == {s.name.value for s in p.states}
    drawn = {(e.get("data-from"), e.get("data-transition"), e.get("data-to")) for e in root.iter()
             if (e.get("class") or "").startswith("edge")}
    assert drawn == _edges(p)
    labels = {t.text for t in root.iter(f"{SVG}text")}
    assert {"专家考察论证中", "已批复"} <= labels


async def test_process_endpoints_and_actions(wf: Workflow) -> None:
    body = (await wf.client.get("/process")).json()
    assert body["version"] == "v2" and body["versions"] == ["v1", "v2"]
    assert {t["name"] for t in body["transitions"]} >= {"submit_intent", "approve", "reject", "withdraw"}
    assert "every assigned expert" in body["guard_rules"]["all_opinions_in"].lower()
    svg = await wf.client.get("/process/diagram")
    assert svg.headers["content-type"] == "image/svg+xml" and ET.fromstring(svg.content) is not None
    mermaid = await wf.client.get("/process/diagram?format=mermaid")
    assert mermaid.text == diagram.mermaid(definition())
    assert (await wf.client.get("/process?version=v9")).status_code == 404

    app_id = await wf.to_state("draft")
    acts = (await wf.client.get(f"/applications/{app_id}/actions", headers=wf.h("league"))).json()
    assert {a["name"] for a in acts["possible"]} == {"withdraw"}
    submit = next(a for a in acts["impossible"] if a["name"] == "submit_intent")
    assert submit["reasons"][0]["code"] == "required_materials_present"
    assert "application_letter" in submit["reasons"][0]["reason"]

    app_id = await wf.to_state("under_expert_review")
    acts = (await wf.client.get(f"/applications/{app_id}/actions", headers=wf.h("st"))).json()
    assert {a["name"] for a in acts["possible"]} == {"reject"}
    recommend = next(a for a in acts["impossible"] if a["name"] == "recommend")
    assert recommend["reasons"] == [{"code": "all_opinions_in",
                                     "reason": "opinions outstanding in round 1 from: expert-a"}]
    acts = (await wf.client.get(f"/applications/{app_id}/actions", headers=wf.h("expert_a"))).json()
    assert acts["possible"] == []
    assert next(a for a in acts["impossible"] if a["name"] == "recommend")["reasons"][0]["code"] == "wrong_role"
    assert (await wf.opine(app_id, "expert_a")).status_code == 201
    acts = (await wf.client.get(f"/applications/{app_id}/actions", headers=wf.h("st"))).json()
    assert {a["name"] for a in acts["possible"]} == {"recommend", "request_revision", "not_recommend", "reject"}
    assert next(a for a in acts["possible"] if a["name"] == "not_recommend")["comment"] == "required"


async def test_an_application_keeps_its_process_version(wf: Workflow, monkeypatch: pytest.MonkeyPatch) -> None:
    """An application started under v1 keeps v1's submission by the department alone; under v2 the
    submission is a joint act, the department's signature first, then the league's (002 art. 6(三))."""
    monkeypatch.setattr(wf.app.state.settings, "process_version", "v1")
    old = await wf.to_state("under_audit")
    monkeypatch.setattr(wf.app.state.settings, "process_version", "v2")
    new = await wf.to_state("under_audit")
    assert ((await wf.get(old))["process_version"], (await wf.get(new))["process_version"]) == ("v1", "v2")

    r = await wf.act(old, "submit_to_government", "league")
    assert r.status_code == 403 and r.json()["errors"][0]["code"] == "wrong_role"
    assert (await wf.must(old, "submit_to_government", "st"))["state"] == "submitted_to_government"

    before = await wf.get(new)
    r = await wf.act(new, "submit_to_government", "league")  # the department's audit agreement comes first
    assert r.status_code == 409 and r.json()["reasons"] == [{
        "code": "awaiting_cosigner", "reason": "submit_to_government is a joint act signed by st_department then "
                                               "league_government: waiting for st_department first"}]
    assert (await wf.get(new))["version"] == before["version"]
    signed = await wf.must(new, "submit_to_government", "st", {"comment": "审核同意"})
    assert (signed["state"], signed["version"], signed["joint"]["awaiting"]) == (
        "under_audit", before["version"] + 1, ["league_government"])
    r = await wf.act(new, "submit_to_government", "st")
    assert r.status_code == 409 and r.json()["reasons"][0]["code"] == "already_signed"
    stale = await wf.act(new, "submit_to_government", "league", etag=before["etag"])  # the ETag before the signature
    assert stale.status_code == 412

    league = (await wf.client.get(f"/applications/{new}/actions", headers=wf.h("league"))).json()
    assert "submit_to_government" in {a["name"] for a in league["possible"]}
    st = (await wf.client.get(f"/applications/{new}/actions", headers=wf.h("st"))).json()
    assert next(a for a in st["impossible"] if a["name"] == "submit_to_government")["reasons"] == [
        {"code": "already_signed", "reason": "st_department has signed submit_to_government; waiting for "
                                             "league_government"}]
    done = await wf.must(new, "submit_to_government", "league")
    assert (done["state"], done["joint"]) == ("submitted_to_government", None)
    assert (await wf.client.get("/process?version=v1")).json()["version"] == "v1"


def test_a_joint_transition_is_checked_at_load() -> None:
    broken = json.loads(json.dumps(V1))
    t = next(t for t in broken["transitions"] if t["name"] == "submit_to_government")
    t["joint"] = ["st_department", "league_government"]  # but only the department is granted
    with pytest.raises(ValidationError, match="the roles granted must be the joint roles"):
        ProcessDefinition.model_validate(broken)
    t["grants"].append({"role": "league_government", "from": ["under_audit"]})
    t["joint"] = ["st_department"]
    with pytest.raises(ValidationError, match="two or more distinct roles"):
        ProcessDefinition.model_validate(broken)


async def test_process_endpoints_default_to_the_configured_version(wf: Workflow, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """GET /process and /process/diagram without ?version= answer WORKFLOW_PROCESS_VERSION (the version new
    applications start with), not the code's constant."""
    v2 = json.loads(json.dumps(V1))
    v2["version"] = "v2"
    next(s for s in v2["states"] if s["name"] == "draft")["label_zh"] = "草稿（第二版）"
    (tmp_path / "v1.json").write_text(json.dumps(V1), encoding="utf-8")
    (tmp_path / "v2.json").write_text(json.dumps(v2), encoding="utf-8")
    monkeypatch.setattr(process, "DEFINITIONS_DIR", tmp_path)
    process.definitions.cache_clear()
    try:
        monkeypatch.setattr(wf.app.state.settings, "process_version", "v2")
        body = (await wf.client.get("/process")).json()
        assert (body["version"], body["current_version"], body["versions"]) == ("v2", "v2", ["v1", "v2"])
        mermaid = (await wf.client.get("/process/diagram?format=mermaid")).text
        assert mermaid == diagram.mermaid(definition("v2")) and "草稿（第二版）" in mermaid
        assert "草稿（第二版）" in (await wf.client.get("/process/diagram")).text
        assert (await wf.client.get("/process?version=v1")).json()["version"] == "v1"
        assert (await wf.create())["process_version"] == "v2"
    finally:
        monkeypatch.undo()
        process.definitions.cache_clear()
