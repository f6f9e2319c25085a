"""Scoring as the workflow reads it: the park's eligibility to apply (002 art. 4), as advice. Never fails:
any error is "not_available" with the reason."""

from __future__ import annotations

from typing import Any

import httpx

from shared.peers import PeerClient


class ScoringClient:
    def __init__(self, peer: PeerClient) -> None:
        self.peer = peer

    async def eligibility(self, zone_code: str, year: int) -> dict[str, Any]:
        """{"status": "available", "year", "result"} or {"status": "not_available", "year", "reason"}."""
        try:
            response = await self.peer.get(f"/zones/{zone_code}/eligibility", params={"year": year})
        except (httpx.HTTPError, OSError) as exc:
            return {"status": "not_available", "year": year, "reason": f"scoring unreachable ({type(exc).__name__})"}
        if not response.is_success:
            return {"status": "not_available", "year": year,
                    "reason": f"scoring answered {response.status_code}"}
        try:
            result = response.json()
        except ValueError:
            return {"status": "not_available", "year": year, "reason": "scoring answered no JSON"}
        return {"status": "available", "year": year, "result": result}
