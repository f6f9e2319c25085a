"""The registry as scoring sees it: zones by code (one batched lookup), leagues; cached briefly."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import httpx

from shared.peers import PeerClient, PeerError, json_or_raise
from shared.problems import Problem


class RegistryUnavailable(Problem):
    def __init__(self, why: str) -> None:
        super().__init__(503, "registry-unavailable", f"The registry could not be asked: {why}. Nothing was "
                         "stored; retry later.", headers={"Retry-After": "5"})


class RegistryClient:
    """Zone facts (kind, level, status, league) by code; a short TTL cache absorbs bursts of posts."""

    def __init__(self, peer: PeerClient, *, ttl_seconds: float = 30.0) -> None:
        self.peer = peer
        self.ttl = ttl_seconds
        self._zones: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._leagues: tuple[float, dict[str, dict[str, Any]]] | None = None

    async def zones(self, codes: Iterable[str], *, fresh: bool = False) -> dict[str, dict[str, Any] | None]:
        """Each code → the registry's zone now (None: not in the register). One request for the uncached;
        `fresh` asks for every code (a decision that depends on the status cannot trust the cache)."""
        now = time.monotonic()
        wanted = list(dict.fromkeys(codes))
        out: dict[str, dict[str, Any] | None] = {}
        ask = []
        for code in wanted:
            hit = self._zones.get(code)
            if not fresh and hit is not None and now - hit[0] < self.ttl:
                out[code] = hit[1]
            else:
                ask.append(code)
        for start in range(0, len(ask), 10_000):
            chunk = ask[start:start + 10_000]
            body = await self._call("POST", "/zones/lookup", json={"codes": chunk})
            found = {z["code"]: z for z in body.get("items", [])}
            for code in chunk:
                zone = found.get(code)
                self._zones[code] = (now, zone)
                out[code] = zone
        if len(self._zones) > 50_000:
            self._zones = {k: v for k, v in self._zones.items() if now - v[0] < self.ttl}
        return out

    async def leagues(self) -> dict[str, dict[str, Any]]:
        now = time.monotonic()
        if self._leagues is None or now - self._leagues[0] >= self.ttl:
            body = await self._call("GET", "/leagues")
            items = body.get("items", body) if isinstance(body, dict) else body
            self._leagues = (now, {lg["code"]: lg for lg in items})
        return self._leagues[1]

    async def list_zones(self, **filters: Any) -> list[dict[str, Any]]:
        """Every zone matching the filters (cursor pages followed to the end)."""
        params = {k: v for k, v in filters.items() if v}
        params["limit"] = 500
        out: list[dict[str, Any]] = []
        while True:
            body = await self._call("GET", "/zones", params=params)
            out += body["items"]
            cursor = body.get("next_cursor")
            if not cursor:
                return out
            params["cursor"] = cursor

    async def _call(self, method: str, url: str, **kwargs: Any) -> Any:
        try:
            return json_or_raise(await self.peer.request(method, url, **kwargs))
        except PeerError as exc:
            raise RegistryUnavailable(f"{method} {url} answered {exc.status}") from None
        except httpx.HTTPError as exc:
            raise RegistryUnavailable(f"{type(exc).__name__}") from None
