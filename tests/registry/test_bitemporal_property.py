"""Property: for random histories of renames and corrections, every as_of/known_at answer of the API
equals a plain fold over the events written here (this file imports nothing from services/)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.testing import Tokens

BASIS = {"document": "内政办发〔2022〕17号"}
START = dt.date(2010, 1, 1)


@dataclass
class Written:
    event_id: str
    effective: dt.date
    order: int
    name: str | None
    supersedes: str | None
    recorded_at: dt.datetime


def plain_fold(events: list[Written], as_of: dt.date, known_at: dt.datetime) -> str | None:
    known = [e for e in events if e.recorded_at <= known_at]
    superseded = {e.supersedes for e in known if e.supersedes}
    name = None
    for e in sorted((e for e in known if e.event_id not in superseded), key=lambda e: (e.effective, e.order)):
        if e.effective <= as_of and e.name is not None:
            name = e.name
    return name


steps = st.lists(st.tuples(st.integers(0, 5000), st.booleans(), st.integers(0, 30)), min_size=1, max_size=8)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=steps, probes=st.lists(st.tuples(st.integers(-10, 5500), st.integers(0, 20), st.booleans()),
                                    min_size=3, max_size=6))
async def test_as_of_known_at_equal_a_plain_fold(registry: httpx.AsyncClient, tokens: Tokens,
                                                 steps: list[tuple[int, bool, int]],
                                                 probes: list[tuple[int, int, bool]]) -> None:
    st_dept = tokens.headers("st_department")
    name0 = f"性质园区{uuid.uuid4().hex[:8]}"
    r = await registry.post("/zones", headers=st_dept, json={
        "kind": "industrial_park", "level": "none", "status": "candidate", "name_zh": name0, "league_code": "150800",
        "established": {"effective_date": str(START), "legal_basis": BASIS}})
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    first = (await registry.get(f"/zones/{code}/history")).json()["events"][0]
    written = [Written(first["event_id"], START, 0, name0, None, dt.datetime.fromisoformat(first["recorded_at"]))]
    for i, (days, correct, pick) in enumerate(steps, start=1):
        live = [w for w in written[1:] if w.event_id not in {x.supersedes for x in written}]
        supersedes = live[pick % len(live)].event_id if correct and live else None
        event_id = str(uuid.uuid4())
        body = {"event_id": event_id, "change": {"field": "name_zh", "value": f"{name0}-{i}"},
                "effective_date": str(START + dt.timedelta(days=days)), "legal_basis": BASIS, "actor": "测试",
                "supersedes": supersedes}
        r = await registry.post(f"/zones/{code}/events", json=body, headers=st_dept)
        if r.status_code == 409 and r.json()["code"] in ("no-change",):
            continue
        assert r.status_code == 201, r.text
        written.append(Written(event_id, START + dt.timedelta(days=days), i, f"{name0}-{i}", supersedes,
                               dt.datetime.fromisoformat(r.json()["recorded_at"])))
    for offset, which, just_before in probes:
        as_of = START + dt.timedelta(days=offset)
        stamp = written[which % len(written)].recorded_at - (dt.timedelta(microseconds=1) if just_before
                                                             else dt.timedelta(0))
        expected = plain_fold(written, as_of, stamp)
        r = await registry.get(f"/zones/{code}", params={"as_of": str(as_of), "known_at": stamp.isoformat()})
        if expected is None:
            assert r.status_code == 404, (as_of, stamp, r.text)
        else:
            assert r.status_code == 200 and r.json()["name_zh"] == expected, (as_of, stamp, r.text, written)
        listed = (await registry.get("/zones", params={"as_of": str(as_of), "known_at": stamp.isoformat(),
                                                       "league": "150800", "q": name0, "limit": 500})).json()
        names = [z["name_zh"] for z in listed["items"] if z["code"] == code]
        assert names == ([expected] if expected is not None else []), (as_of, stamp, listed)
