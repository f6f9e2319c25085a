"""The change feed's `after` takes up to 20 digits (its documented pattern); a position beyond the largest
sequence number is past every event: an empty page, not a 500 from an integer the database cannot bind."""

from __future__ import annotations

import httpx
import pytest


@pytest.mark.parametrize("after", ["2147483647", "2147483648", "9223372036854775808", "99999999999999999999"])
async def test_a_position_past_every_event_is_an_empty_page(registry: httpx.AsyncClient, after: str) -> None:
    r = await registry.get("/events", params={"after": after})
    assert r.status_code == 200, r.text
    assert r.json()["items"] == [] and r.json()["next_after"] == after
    first = (await registry.get("/events", params={"limit": 1})).json()
    assert len(first["items"]) == 1  # the reference history is there; the empty page is the position's doing
