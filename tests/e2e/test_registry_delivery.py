"""The outcome reaches the registry exactly once (issue #6 §6), with the REAL services under uvicorn on
both databases: (a) the registry is down when the government approves: nothing is lost (the delivery
waits, visible in /applications/{id}/deliveries, across a restart of the workflow too) and once the
registry is back the zone changes exactly once; (b) a proxy lets the registry commit the approval but
drops its answer: the redelivery (same event id) leaves one event in the zone's history, not two."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from shared.testing import Tokens
from tests.clock import shanghai_today
from tests.e2e.conftest import Stack, start_stack, stop_stack

pytestmark = pytest.mark.e2e
APPROVED_NAME = "锡林郭勒测试高新技术产业开发区"


def approval_body() -> dict[str, str]:
    """The government's approval, dated today in Shanghai when it is given (tests/clock.py)."""
    return {"document": "内政字〔2026〕12号", "date": shanghai_today(), "approved_name": APPROVED_NAME}


async def until(check: Callable[[], Awaitable[Any]], within: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} not reached within {within} s"
        await asyncio.sleep(0.1)


async def deliveries(stack: Stack, app_id: int) -> list[dict[str, Any]]:
    r = await stack.wf.client.get(f"/applications/{app_id}/deliveries", headers=stack.wf.h("st"))
    assert r.status_code == 200, r.text
    return list(r.json())


async def all_delivered(stack: Stack, app_id: int, count: int) -> list[dict[str, Any]] | None:
    found = await deliveries(stack, app_id)
    return found if len(found) == count and all(d["state"] == "delivered" for d in found) else None


async def ours(stack: Stack, zone: str, app_id: int) -> list[dict[str, Any]]:
    """The zone's history events sent by this application."""
    r = await stack.wf.registry.get(f"/zones/{zone}/history")
    assert r.status_code == 200, r.text
    return [e for e in r.json()["events"] if e["source"] == f"workflow:applications/{app_id}"]


async def submitted(stack: Stack) -> tuple[int, str]:
    """An application submitted to the government, its intent delivered (the park is applying)."""
    zone = await stack.wf.candidate_zone()
    app_id = await stack.wf.to_state("submitted_to_government", zone)
    await until(lambda: all_delivered(stack, app_id, 1), what="the intent delivered")
    return app_id, zone


async def check_accredited_once(stack: Stack, zone: str, app_id: int, delivery: dict[str, Any]) -> None:
    zone_now = (await stack.wf.registry.get(f"/zones/{zone}")).json()
    assert (zone_now["kind"], zone_now["level"], zone_now["status"], zone_now["name_zh"]) == (
        "hitech", "regional", "accredited", APPROVED_NAME)
    events = await ours(stack, zone, app_id)
    assert [e["change"].get("status") for e in events] == ["applying", "accredited"]  # one approval, not two
    assert events[-1]["event_id"] == delivery["id"]
    decision = (await stack.wf.get(app_id))["decision"]
    assert events[-1]["legal_basis"] == {"document": "内政字〔2026〕12号", "date": decision["date"]}


async def test_registry_down_at_approval_changes_the_zone_exactly_once(
    tokens: Tokens, databases: tuple[str, str], tmp_path: Path
) -> None:
    stack = await start_stack(tokens, databases, tmp_path)
    try:
        app_id, zone = await submitted(stack)
        await stack.registry.stop()
        await stack.wf.must(app_id, "approve", "gov", approval_body())

        async def failing() -> dict[str, Any] | None:
            approval = (await deliveries(stack, app_id))[-1]
            return approval if approval["attempts"] >= 2 else None

        approval = await until(failing, what="two failed attempts")
        assert approval["state"] == "pending" and approval["last_status"] is None
        assert "Connect" in approval["last_error"]  # connection refused: transient, kept
        assert approval["body"]["change"][0] == {"field": "status", "value": "accredited"}
        # the workflow restarts too while the registry is down: the message is in its database
        await stack.workflow.stop()
        await stack.registry.start()
        assert [e["change"].get("status") for e in await ours(stack, zone, app_id)] == ["applying"]
        await stack.workflow.start()
        delivered = await until(lambda: all_delivered(stack, app_id, 2), what="the approval delivered")
        assert delivered[-1]["id"] == approval["id"] and delivered[-1]["attempts"] > approval["attempts"]
        assert delivered[-1]["last_status"] == 201
        await check_accredited_once(stack, zone, app_id, delivered[-1])
    finally:
        await stop_stack(stack)


class DroppingProxy:
    """A TCP proxy in front of the registry. Bytes pass both ways, except for the next `drop` requests
    containing `marker`: the request reaches the registry, which answers; the answer is thrown away and
    the caller's connection cut, so the sender cannot know the registry committed."""

    def __init__(self, upstream_port: int, marker: bytes, drop: int = 1) -> None:
        self.upstream_port, self.marker, self.remaining = upstream_port, marker, drop
        self.dropped: list[bytes] = []  # the status line of each answer thrown away
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{self.port}"

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        drop = asyncio.Event()

        async def forward() -> None:
            tail = b""
            while data := await reader.read(65536):
                window = tail + data
                if self.remaining and self.marker in window:
                    self.remaining -= 1
                    drop.set()
                tail = window[-len(self.marker):]
                up_writer.write(data)
                await up_writer.drain()
            up_writer.close()

        async def backward() -> None:
            while data := await up_reader.read(65536):
                if drop.is_set():
                    self.dropped.append(data.split(b"\r\n", 1)[0])
                    writer.transport.abort()  # no answer at all: the connection just ends
                    up_writer.close()
                    return
                writer.write(data)
                await writer.drain()
            writer.close()

        await asyncio.gather(forward(), backward(), return_exceptions=True)


async def test_lost_answer_redelivered_leaves_one_event(tokens: Tokens, databases: tuple[str, str],
                                                        tmp_path: Path) -> None:
    proxies: list[DroppingProxy] = []

    async def through_proxy(registry_url: str) -> str:
        proxies.append(DroppingProxy(int(registry_url.rsplit(":", 1)[1]), marker=b'"accredited"'))
        return await proxies[0].start()

    stack = await start_stack(tokens, databases, tmp_path, in_between=through_proxy)
    (proxy,) = proxies
    try:
        app_id, zone = await submitted(stack)
        await stack.wf.must(app_id, "approve", "gov", approval_body())
        delivered = await until(lambda: all_delivered(stack, app_id, 2), what="the approval delivered")
        approval = delivered[-1]
        assert proxy.dropped == [b"HTTP/1.1 201 Created"]  # the registry recorded it the first time
        assert approval["attempts"] == 2  # lost answer → retried once with the same event id
        await check_accredited_once(stack, zone, app_id, approval)
        history = (await stack.wf.registry.get(f"/zones/{zone}/history")).json()["events"]
        assert sum(e["event_id"] == approval["id"] for e in history) == 1
    finally:
        await proxy.close()
        await stop_stack(stack)
