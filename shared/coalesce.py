"""Coalesced reads: the reads of one kind that requests ask for in the same turn of the event loop share one
database statement (a batch of keys, each distinct key fetched once), instead of one pool checkout and one
round trip each. Under load most of a hot read's cost is that per-statement overhead (the driver's protocol,
its system calls, the pool), not the rows.

Not a cache: a batch closes when its fetch starts, and a request that arrives after that waits for the next
batch, so every answer comes from a statement that began after its request arrived (a write committed before
the request is seen). Nothing is kept once a batch is answered. A failed fetch fails each of its requests
with the same exception (the middleware turns a database that is down into 503s)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Coalescer(Generic[K, V]):
    """`await get(key)`: the value `fetch_many` gives for the key, fetched together with the other keys asked
    for in the same loop turn. `fetch_many(keys)` gets distinct keys and answers every one of them."""

    def __init__(self, fetch_many: Callable[[Sequence[K]], Awaitable[Mapping[K, V]]]) -> None:
        self._fetch_many = fetch_many
        self._open: dict[K, list[asyncio.Future[V]]] | None = None  # the batch still taking requests
        self._running: set[asyncio.Task[None]] = set()  # strong references to the batches being fetched
        self.batches = 0  # batches fetched and keys asked for, since start (for a bench's report)
        self.requests = 0

    async def get(self, key: K) -> V:
        loop = asyncio.get_running_loop()
        if self._open is None:
            # the batch's task first runs after every request task already scheduled in this turn of the
            # loop, so those join it; it then closes the batch and fetches
            self._open = {}
            task = loop.create_task(self._fetch())
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        future: asyncio.Future[V] = loop.create_future()
        self._open.setdefault(key, []).append(future)
        self.requests += 1
        return await future

    async def _fetch(self) -> None:
        batch, self._open = self._open or {}, None
        self.batches += 1
        try:
            found = await self._fetch_many(list(batch))
            answers = [(futures, found[key]) for key, futures in batch.items()]  # a key unanswered fails all
        except BaseException as exc:
            for futures in batch.values():
                for future in futures:
                    if not future.done():
                        if isinstance(exc, asyncio.CancelledError):
                            future.cancel()
                        else:
                            future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for futures, value in answers:
            for future in futures:
                if not future.done():  # a request cancelled meanwhile (its client went away)
                    future.set_result(value)
