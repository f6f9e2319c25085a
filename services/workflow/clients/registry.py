"""The registry as the workflow reads it: one zone by code (the park an application is for). Writes go
through the outbox only (services/workflow/applications/registry_events.py)."""

from __future__ import annotations

from typing import Any

import httpx

from services.contracts import ZONE_CODE_RE
from shared.peers import PeerClient, PeerError, json_or_raise
from shared.problems import Problem


class RegistryUnavailable(Problem):
    def __init__(self, why: str) -> None:
        super().__init__(503, "registry-unavailable", f"The registry could not be asked: {why}. Nothing was "
                         "stored; retry later.", headers={"Retry-After": "5"})


class RegistryClient:
    def __init__(self, peer: PeerClient) -> None:
        self.peer = peer

    async def zone(self, code: str) -> dict[str, Any] | None:
        """The zone's current state (None: not in the register, or not a code the register can hold)."""
        if not ZONE_CODE_RE.match(code):
            return None
        try:
            response = await self.peer.get(f"/zones/{code}")
            if response.status_code == 404:
                return None
            return json_or_raise(response)  # type: ignore[no-any-return]
        except PeerError as exc:
            raise RegistryUnavailable(f"GET /zones/{code} answered {exc.status}") from None
        except httpx.HTTPError as exc:
            raise RegistryUnavailable(type(exc).__name__) from None
