"""Materials (002 art. 5) and the audit chain (issue #6 §§3–4) on both databases: versions never
overwrite, the hash is checked when served; the audit log, materials, opinions and panel conclusions
refuse UPDATE and DELETE, and an entry edited or deleted behind the application's back (trigger disabled)
is named by /audit/verify."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from sqlalchemy.exc import DBAPIError

from services.workflow.audit import chain
from services.workflow.audit.chain import entry_hash
from services.workflow.models import APPEND_ONLY_TABLES
from shared.testing import execute_raw
from tests.workflow.conftest import PDF, PNG, Workflow


async def _behind_the_back(wf: Workflow, dialect: str, operation: str, *statements: str) -> None:
    """Run `statements` with the append-only trigger of audit_log for `operation` (UPDATE / DELETE) off."""
    if dialect == "postgresql":
        off, on = ("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
                   "ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
    else:
        name = f"audit_log_no_{operation.lower()}"
        off, on = f"DROP TRIGGER {name}", (
            f"CREATE TRIGGER {name} BEFORE {operation} ON audit_log "
            f"BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: {operation} refused'); END")
    await execute_raw(wf.url, off)
    try:
        for statement in statements:
            await execute_raw(wf.url, statement)
    finally:
        await execute_raw(wf.url, on)


async def test_versions_are_kept_and_hashes_checked_when_served(wf: Workflow) -> None:
    app_id = await wf.to_state("draft")
    first = await wf.upload(app_id, "development_plan", PDF + b"v1", filename="规划.pdf")
    second = await wf.upload(app_id, "development_plan", PNG, "image/png", filename="../../etc/规划.png")
    assert (first.status_code, second.status_code) == (201, 201)
    v1, v2 = first.json(), second.json()
    assert (v1["version"], v2["version"]) == (1, 2)
    assert v1["sha256"] == hashlib.sha256(PDF + b"v1").hexdigest() and v2["size"] == len(PNG)
    assert v2["filename"] == "规划.png" and v2["uploaded_by"] == "xilingol-gov"

    listing = (await wf.client.get(f"/applications/{app_id}/materials", headers=wf.h("st"))).json()
    plan = next(c for c in listing["checklist"] if c["item"] == "development_plan")
    assert [v["version"] for v in plan["versions"]] == [1, 2] and plan["revised_in_revision"] is True
    assert "development_plan" not in listing["missing_required"] and "application_letter" in listing["missing_required"]

    for meta, data in ((v1, PDF + b"v1"), (v2, PNG)):
        r = await wf.client.get(meta["href"], headers=wf.h("observer"))
        assert r.status_code == 200 and r.content == data
        assert r.headers["content-type"] == meta["content_type"] and r.headers["x-content-sha256"] == meta["sha256"]

    # the stored file altered on disk: 409 naming the corruption; removed: 410
    path = wf.materials_dir / str(app_id) / v1["sha256"]
    path.write_bytes(b"%PDF-forged")
    r = await wf.client.get(v1["href"], headers=wf.h("st"))
    assert r.status_code == 409 and r.json()["code"] == "material-corrupted"
    assert r.json()["actual_sha256"] == hashlib.sha256(b"%PDF-forged").hexdigest()
    path.unlink()
    r = await wf.client.get(v1["href"], headers=wf.h("st"))
    assert r.status_code == 410 and r.json()["code"] == "material-missing"
    r = await wf.client.get(f"/applications/{app_id}/materials/development_plan/versions/9", headers=wf.h("st"))
    assert r.status_code == 404

    audit = (await wf.client.get(f"/applications/{app_id}/audit", headers=wf.h("st"))).json()["entries"]
    uploads = [e for e in audit if e["action"] == "upload_material"]
    assert [d["sha256"] for e in uploads for d in e["documents"]] == [v1["sha256"], v2["sha256"]]


async def test_audit_log_is_append_only(wf: Workflow) -> None:
    app_id = await wf.to_state("recommended")  # materials, an opinion and a panel conclusion written
    assert {"audit_log", "materials", "opinions", "panel_conclusions"} <= set(APPEND_ONLY_TABLES)
    for table in APPEND_ONLY_TABLES:
        for statement in (f"UPDATE {table} SET round = round WHERE application_id = {app_id}",
                          f"DELETE FROM {table} WHERE application_id = {app_id}"):
            with pytest.raises(DBAPIError, match="append-only"):
                await execute_raw(wf.url, statement)
    verify = (await wf.client.get(f"/applications/{app_id}/audit/verify", headers=wf.h("st"))).json()
    assert verify["valid"] is True and verify["entries"] > 1


async def test_tampered_entry_is_named_by_verify(wf: Workflow, dialect: str) -> None:
    app_id = await wf.to_state("under_expert_review")
    entries = (await wf.client.get(f"/applications/{app_id}/audit", headers=wf.h("st"))).json()["entries"]
    target = next(e for e in entries if e["action"] == "submit_intent")
    await _behind_the_back(wf, dialect, "UPDATE", f"UPDATE audit_log SET comment = '已篡改' WHERE id = {target['id']}")
    verify = (await wf.client.get(f"/applications/{app_id}/audit/verify", headers=wf.h("observer"))).json()
    assert verify["valid"] is False
    assert verify["first_broken"]["seq"] == target["seq"] and verify["first_broken"]["id"] == target["id"]
    assert verify["first_broken"]["code"] == "entry-hash-mismatch"

    # the forger also recomputes that entry's hash: the link of the next entry breaks instead
    rows = (await wf.client.get(f"/applications/{app_id}/audit", headers=wf.h("st"))).json()["entries"]
    stored = next(e for e in rows if e["id"] == target["id"])
    stored["at"] = dt.datetime.fromisoformat(stored["at"])
    await _behind_the_back(wf, dialect, "UPDATE",
                           f"UPDATE audit_log SET entry_hash = '{entry_hash(stored)}' WHERE id = {target['id']}")
    verify = (await wf.client.get(f"/applications/{app_id}/audit/verify", headers=wf.h("st"))).json()
    assert verify["first_broken"]["seq"] == target["seq"] + 1
    assert verify["first_broken"]["code"] == "prev-hash-mismatch"

    csv = await wf.client.get(f"/applications/{app_id}/audit?format=csv", headers=wf.h("st"))
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("seq,at,actor_sub,actor_role,action") and len(lines) == len(rows) + 1
    assert "已篡改" in csv.content.decode("utf-8-sig")


async def test_deleted_last_entries_are_named_by_verify(wf: Workflow, dialect: str) -> None:
    """The chain alone cannot tell a deleted tail: the head the application recorded can."""
    app_id = await wf.to_state("under_expert_review")
    entries = (await wf.client.get(f"/applications/{app_id}/audit", headers=wf.h("st"))).json()["entries"]
    verify = (await wf.client.get(f"/applications/{app_id}/audit/verify", headers=wf.h("st"))).json()
    assert verify["valid"] is True
    assert verify["recorded_head"] == {"seq": entries[-1]["seq"], "entry_hash": entries[-1]["entry_hash"]}

    await _behind_the_back(wf, dialect, "DELETE", f"DELETE FROM audit_log WHERE id = {entries[-1]['id']}")
    verify = (await wf.client.get(f"/applications/{app_id}/audit/verify", headers=wf.h("observer"))).json()
    assert verify["valid"] is False and verify["entries"] == len(entries) - 1
    broken = verify["first_broken"]
    assert (broken["code"], broken["seq"], broken["id"]) == ("entries-missing", entries[-1]["seq"], None)
    assert broken["missing"] == [entries[-1]["seq"]]
    assert f"entry {entries[-1]['seq']} is missing" in broken["reason"]

    await _behind_the_back(wf, dialect, "DELETE", f"DELETE FROM audit_log WHERE id = {entries[-2]['id']}")
    broken = (await wf.client.get(f"/applications/{app_id}/audit/verify", headers=wf.h("st"))).json()["first_broken"]
    assert broken["missing"] == [entries[-2]["seq"], entries[-1]["seq"]]


async def test_replaced_last_entry_is_named_by_verify(wf: Workflow, dialect: str) -> None:
    """The newest entry rewritten with a hash that fits its new content: the chain holds, the head does not."""
    app_id = await wf.to_state("intent_submitted")
    entries = (await wf.client.get(f"/applications/{app_id}/audit", headers=wf.h("st"))).json()["entries"]
    last = {**entries[-1], "comment": "另有其事", "at": dt.datetime.fromisoformat(entries[-1]["at"])}
    await _behind_the_back(wf, dialect, "UPDATE", f"UPDATE audit_log SET comment = '另有其事', "
                                                  f"entry_hash = '{entry_hash(last)}' WHERE id = {last['id']}")
    verify = (await wf.client.get(f"/applications/{app_id}/audit/verify", headers=wf.h("st"))).json()
    assert verify["valid"] is False
    broken = verify["first_broken"]
    assert (broken["code"], broken["seq"], broken["id"]) == ("head-hash-mismatch", last["seq"], last["id"])


def test_chain_end_is_checked_against_the_recorded_head() -> None:
    """audit/chain.verify, pure: the end of a sound chain against the head the application recorded."""
    entries: list[dict[str, object]] = []
    for seq in (1, 2, 3):
        e: dict[str, object] = {"id": 10 + seq, "application_id": 1, "seq": seq, "at": "2026-01-01T00:00:00.000000Z",
                                "actor_sub": "a", "actor_role": "st_department", "action": "x", "from_state": None,
                                "to_state": None, "round": 0, "comment": None, "data": {}, "documents": [],
                                "prev_hash": entries[-1]["entry_hash"] if entries else None}
        e["entry_hash"] = entry_hash(e)
        entries.append(e)
    head = chain.Head(3, str(entries[-1]["entry_hash"]))
    assert chain.verify(entries, head) is None and chain.verify(entries) is None
    assert chain.verify([], chain.Head(0, None)) is None
    cut = chain.verify(entries[:1], head)
    assert cut is not None and (cut.code, cut.seq, cut.missing) == ("entries-missing", 2, (2, 3))
    extra = chain.verify(entries, chain.Head(2, str(entries[1]["entry_hash"])))
    assert extra is not None and (extra.code, extra.seq, extra.entry_id) == ("entries-not-appended", 3, 13)
    other = chain.verify(entries, chain.Head(3, "0" * 64))
    assert other is not None and (other.code, other.seq) == ("head-hash-mismatch", 3)
    gap = chain.verify([entries[0], entries[2]], head)
    assert gap is not None and (gap.code, gap.seq, gap.missing) == ("sequence-gap", 3, (2,))
