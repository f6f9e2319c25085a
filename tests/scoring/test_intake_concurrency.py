"""Intake under load: XLSX/CSV bodies are parsed off the event loop, and two posts racing for the same
zone-year revision on PostgreSQL end in one 201 and one 409 problem+json, never a 500."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from openpyxl import Workbook

from services.scoring.data import formats
from services.scoring.data import repository as repo
from tests.scoring.conftest import REGIONAL_HITECH, Services

YEAR = 2024
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx(revenue: str) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["code", "operating_revenue", "employees"])
    sheet.append([REGIONAL_HITECH, revenue, 10])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("media_type", "reader"), [(XLSX_TYPE, "read_xlsx"), ("text/csv", "read_csv")])
async def test_tables_are_parsed_off_the_event_loop(services: Services, monkeypatch: pytest.MonkeyPatch,
                                                    media_type: str, reader: str) -> None:
    loop_thread = threading.get_ident()
    threads: list[int] = []
    original = getattr(formats, reader)

    def spy(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.get_ident())
        return original(*args, **kwargs)

    monkeypatch.setattr(formats, reader, spy)
    body = xlsx("12.5") if media_type == XLSX_TYPE else f"code,operating_revenue\n{REGIONAL_HITECH},12.5\n".encode()
    r = await services.scoring.post(f"/years/{YEAR}/data", content=body,
                                    headers={**services.headers(), "Content-Type": media_type})
    assert r.status_code == 201, r.text
    assert threads and loop_thread not in threads
    # a refused file is refused from the worker thread just the same
    bad = await services.scoring.post(f"/years/{YEAR}/data", content=b"not a table \xff",
                                      headers={**services.headers(), "Content-Type": media_type})
    assert 400 <= bad.status_code < 500 and bad.headers["content-type"] == "application/problem+json", bad.text


def rendezvous(monkeypatch: pytest.MonkeyPatch, parties: int) -> None:
    """Make every request wait at the revision insert until `parties` have read the latest revision:
    all of them then insert the same revision number."""
    original: Callable[..., Awaitable[list[int]]] = repo.insert_revisions
    arrived = 0
    everyone = asyncio.Event()

    async def insert_revisions(*args: Any, **kwargs: Any) -> list[int]:
        nonlocal arrived
        arrived += 1
        if arrived >= parties:
            everyone.set()
        await asyncio.wait_for(everyone.wait(), timeout=10)
        return await original(*args, **kwargs)

    monkeypatch.setattr(repo, "insert_revisions", insert_revisions)


@pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)
@pytest.mark.parametrize("channel", ["single", "bulk json", "bulk xlsx"])
async def test_a_lost_race_for_a_revision_is_409_not_500(services: Services, monkeypatch: pytest.MonkeyPatch,
                                                         channel: str) -> None:
    rendezvous(monkeypatch, 2)
    path = f"/zones/{REGIONAL_HITECH}/years/{YEAR}/data"

    def post(revenue: str) -> Callable[[], Awaitable[Any]]:
        headers = services.headers()
        if channel == "single":
            return lambda: services.scoring.put(path, json={"values": {"operating_revenue": revenue}},
                                                headers=headers)
        if channel == "bulk json":
            body = {"records": [{"unit": REGIONAL_HITECH, "values": {"operating_revenue": revenue}}]}
            return lambda: services.scoring.post(f"/years/{YEAR}/data", json=body, headers=headers)
        return lambda: services.scoring.post(f"/years/{YEAR}/data", content=xlsx(revenue),
                                             headers={**headers, "Content-Type": XLSX_TYPE})

    first, second = await asyncio.gather(post("100")(), post("200")())
    assert sorted([first.status_code, second.status_code]) == [201, 409], (first.text, second.text)
    lost = first if first.status_code == 409 else second
    won = second if lost is first else first
    assert lost.headers["content-type"] == "application/problem+json"
    assert lost.json()["code"] == "conflict" and lost.headers["retry-after"] == "1"
    # the winner's figures are revision 1; the loser stored nothing and may post again (revision 2)
    history = (await services.scoring.get(path + "/revisions", headers=services.headers("observer"))).json()
    won_revenue = "100" if won is first else "200"
    assert [(i["revision"], i["values"]["operating_revenue"]) for i in history["items"]] == [(1, won_revenue)]
    monkeypatch.undo()
    again = await post("300")()
    assert again.status_code == 201 and (again.json().get("revision") == 2 or again.json()["records"][0]["revision"]
                                         == 2), again.text
