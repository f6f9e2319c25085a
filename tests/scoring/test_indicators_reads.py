"""The indicator routes read the unit-year's revision and the previous year's, with their values, in one
database statement (issue #4), and answer as before: the latest or a given revision, last year's latest."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from tests.scoring.conftest import REGIONAL_HITECH, Services

PATH = f"/zones/{REGIONAL_HITECH}/years/{{year}}/data"


@contextmanager
def data_statements(services: Services) -> Iterator[list[str]]:
    """The SQL statements that touch the annual data tables while the block runs."""
    engine = services.scoring._transport.app.state.db.engine.sync_engine  # type: ignore[attr-defined]
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "data_revisions" in statement or "data_values" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def put(services: Services, year: int, **values: Any) -> None:
    r = await services.scoring.put(PATH.format(year=year), json={"values": values}, headers=services.headers())
    assert r.status_code == 201, r.text


async def indicators(services: Services, query: str = "", year: int = 2024) -> dict[str, Any]:
    r = await services.scoring.get(f"/zones/{REGIONAL_HITECH}/years/{year}/indicators{query}",
                                   headers=services.headers("observer"))
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def by_code(body: dict[str, Any], code: str) -> Any:
    return next(i for i in body["indicators"] if i["code"] == code)


@pytest.mark.parametrize("route", ["zone", "unit"])
async def test_current_and_previous_year_in_one_statement(services: Services, route: str) -> None:
    await put(services, 2023, hitech_enterprises=30, operating_revenue="900")
    await put(services, 2024, hitech_enterprises=41, operating_revenue="1000", rd_expenditure="20")
    await put(services, 2024, hitech_enterprises=45, operating_revenue="1000", rd_expenditure="30")
    path = (f"/zones/{REGIONAL_HITECH}/years/2024/indicators" if route == "zone" else
            f"/frameworks/nmg-hitech-2022/units/{REGIONAL_HITECH}/years/2024/indicators")
    with data_statements(services) as seen:
        r = await services.scoring.get(path, headers=services.headers("observer"))
    assert r.status_code == 200, r.text
    assert len(seen) == 1, seen
    body = r.json()
    assert body["data_revision"]["revision"] == 2 and body["data_revision"]["year"] == 2024
    assert body["previous_year_revision"]["year"] == 2023 and body["previous_year_revision"]["revision"] == 1
    assert by_code(body, "2.1")["value"] == "15"  # 45 − 30: both years' values came back with their revisions
    assert by_code(body, "1.1")["value"] == "0.03"


async def test_a_given_revision_a_missing_previous_year_and_a_missing_revision(services: Services) -> None:
    await put(services, 2024, hitech_enterprises=41, operating_revenue="1000", rd_expenditure="20")
    await put(services, 2024, hitech_enterprises=45, operating_revenue="1000", rd_expenditure="30")
    first = await indicators(services, "?revision=1")
    assert first["data_revision"]["revision"] == 1 and first["previous_year_revision"] is None
    assert by_code(first, "1.1")["value"] == "0.02"
    assert by_code(first, "2.1")["value"] is None
    await put(services, 2023, hitech_enterprises=40)
    assert by_code(await indicators(services, "?revision=1"), "2.1")["value"] == "1"
    assert by_code(await indicators(services), "2.1")["value"] == "5"
    missing = await services.scoring.get(f"/zones/{REGIONAL_HITECH}/years/2024/indicators?revision=3",
                                         headers=services.headers("observer"))
    assert missing.status_code == 404 and missing.json()["code"] == "data-not-found"
    empty = await services.scoring.get(f"/zones/{REGIONAL_HITECH}/years/2022/indicators",
                                       headers=services.headers("observer"))
    assert empty.status_code == 404
