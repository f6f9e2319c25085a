"""shared.coalesce: the reads asked for in one loop turn share one fetch; a read asked for after a fetch began
waits for the next one (never an answer older than its request); failures and cancellations reach only the
requests of their batch."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from shared.coalesce import Coalescer


class Store:
    """A value per key and a log of the fetches (the keys each got)."""

    def __init__(self) -> None:
        self.values: dict[str, int] = {"a": 1, "b": 2, "c": 3}
        self.fetches: list[list[str]] = []
        self.fail: Exception | None = None
        self.gate: asyncio.Event | None = None  # when set up, a fetch waits for it (mid-statement)

    async def fetch_many(self, keys: Sequence[str]) -> dict[str, int | None]:
        self.fetches.append(list(keys))
        values = {k: self.values.get(k) for k in keys}  # read when the fetch begins, as a statement would
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return values


async def test_one_turns_requests_share_one_fetch() -> None:
    store = Store()
    reads = Coalescer(store.fetch_many)
    got = await asyncio.gather(*(reads.get(k) for k in ["a", "b", "a", "x", "c", "b"]))
    assert got == [1, 2, 1, None, 3, 2]
    assert store.fetches == [["a", "b", "x", "c"]]  # each distinct key once, in the order first asked
    assert (reads.batches, reads.requests) == (1, 6)
    assert await reads.get("c") == 3 and store.fetches[-1] == ["c"]  # a later turn: a batch of its own


async def test_a_request_after_the_fetch_began_sees_a_later_write() -> None:
    store = Store()
    store.gate = asyncio.Event()
    reads = Coalescer(store.fetch_many)
    first = asyncio.ensure_future(reads.get("a"))
    await asyncio.sleep(0)  # the request is in
    await asyncio.sleep(0)  # the fetch has begun and read a = 1
    store.values["a"] = 10  # a write commits
    second = asyncio.ensure_future(reads.get("a"))  # asked after the write: must not share the first read
    store.gate.set()
    assert await first == 1
    assert await second == 10
    assert store.fetches == [["a"], ["a"]]


async def test_a_failed_fetch_fails_its_batch_only() -> None:
    store = Store()
    reads = Coalescer(store.fetch_many)
    store.fail = ConnectionError("database down")
    got = await asyncio.gather(reads.get("a"), reads.get("b"), return_exceptions=True)
    assert [type(g) for g in got] == [ConnectionError, ConnectionError]
    store.fail = None
    assert await reads.get("a") == 1  # the next batch is fetched afresh


async def test_a_key_the_fetch_does_not_answer_fails_instead_of_hanging() -> None:
    async def forgetful(keys: Sequence[str]) -> dict[str, int]:
        return {k: 1 for k in keys if k != "b"}

    reads: Coalescer[str, int] = Coalescer(forgetful)
    got = await asyncio.wait_for(asyncio.gather(reads.get("a"), reads.get("b"), return_exceptions=True), 1)
    assert [type(g) for g in got] == [KeyError, KeyError]


async def test_a_cancelled_request_leaves_the_others_their_answer() -> None:
    store = Store()
    store.gate = asyncio.Event()
    reads = Coalescer(store.fetch_many)
    gone, stays = asyncio.ensure_future(reads.get("a")), asyncio.ensure_future(reads.get("a"))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    gone.cancel()  # its client went away mid-fetch
    store.gate.set()
    assert await stays == 1
    with pytest.raises(asyncio.CancelledError):
        await gone
