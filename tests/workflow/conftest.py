"""Fixtures of the workflow tests: the real registry app (reference data, its own database) and the real
workflow app calling it over HTTP through its peer clients (httpx.ASGITransport), on each dialect.
Scoring is unreachable unless a test starts it; the outbox and webhook dispatchers are run by hand."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.testing import DatabaseFactory, Tokens, asgi_client, dump_rows, settings_overrides

LEAGUE = "152500"  # 锡林郭勒盟 (001: its parks working towards a regional high-tech zone)
OTHER_LEAGUE = "150200"  # 包头市
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
REQUIRED_ITEMS = ("application_letter", "basic_situation", "development_plan", "implementation_plan",
                  "establishment_approval", "planning_conformity", "policy_documents", "innovation_entities",
                  "indicators_three_years")
_names = itertools.count(1)


def unreachable(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("scoring is down", request=request)


# who acts as what in the tests
ACTORS: dict[str, dict[str, Any]] = {
    "league": {"role": "league_government", "sub": "xilingol-gov", "league_code": LEAGUE},
    "other_league": {"role": "league_government", "sub": "baotou-gov", "league_code": OTHER_LEAGUE},
    "st": {"role": "st_department", "sub": "kjt-officer"},
    "expert_a": {"role": "expert", "sub": "expert-a"},
    "expert_b": {"role": "expert", "sub": "expert-b"},
    "expert_other": {"role": "expert", "sub": "expert-z"},
    "gov": {"role": "regional_government", "sub": "nmg-gov"},
    "observer": {"role": "observer", "sub": "fgw-observer"},
    "bureau": {"role": "statistics_bureau", "sub": "tjj"},
    "service": {"role": "service", "sub": "scoring"},
}


@dataclass
class Workflow:
    client: httpx.AsyncClient
    registry: httpx.AsyncClient
    app: Any
    tokens: Tokens
    url: str
    materials_dir: Path
    registry_url: str
    registry_app: Any = None
    _headers: dict[str, dict[str, str]] = field(default_factory=dict)

    def h(self, actor: str | None, **extra: str) -> dict[str, str]:
        """Headers of an actor of ACTORS (None: no token)."""
        if actor is None:
            return dict(extra)
        if actor not in self._headers:
            a = ACTORS[actor]
            self._headers[actor] = self.tokens.headers(a["role"], sub=a["sub"], league_code=a.get("league_code"))
        return {**self._headers[actor], **extra}

    async def candidate_zone(self, league: str = LEAGUE, **over: Any) -> str:
        """A new park in the register (st_department), level none, status candidate; its code."""
        body = {"kind": "industrial_park", "level": "none", "status": "candidate", "league_code": league,
                "name_zh": f"测试园区{next(_names)}", **over}
        r = await self.registry.post("/zones", json=body, headers=self.tokens.headers("st_department"))
        assert r.status_code == 201, r.text
        return str(r.json()["code"])

    async def create(self, zone: str | None = None, actor: str = "league") -> dict[str, Any]:
        zone = zone or await self.candidate_zone()
        body = {"zone_code": zone, "proposed_name": "锡林郭勒测试高新技术产业开发区"}
        r = await self.client.post("/applications", json=body, headers=self.h(actor))
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def get(self, app_id: int, actor: str = "st") -> dict[str, Any]:
        r = await self.client.get(f"/applications/{app_id}", headers=self.h(actor))
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def upload(self, app_id: int, item: str, data: bytes = PDF, content_type: str = "application/pdf",
                     actor: str = "league", filename: str = "doc.pdf") -> httpx.Response:
        return await self.client.post(f"/applications/{app_id}/materials/{item}", headers=self.h(actor),
                                      files={"file": (filename, data, content_type)})

    async def upload_required(self, app_id: int) -> None:
        for item in REQUIRED_ITEMS:
            r = await self.upload(app_id, item, PDF + item.encode())
            assert r.status_code == 201, r.text

    async def act(self, app_id: int, name: str, actor: str, body: dict[str, Any] | None = None,
                  etag: str | None = None, **headers: str) -> httpx.Response:
        """Take a transition with the current ETag (or the one given)."""
        if etag is None:
            etag = (await self.get(app_id))["etag"]
        return await self.client.post(f"/applications/{app_id}/transitions/{name}", json=body or {},
                                      headers=self.h(actor, **{"If-Match": etag}, **headers))

    async def must(self, app_id: int, name: str, actor: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        r = await self.act(app_id, name, actor, body)
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def assign(self, app_id: int, *subs: str) -> None:
        for sub in subs:
            r = await self.client.post(f"/applications/{app_id}/experts", json={"expert_sub": sub},
                                       headers=self.h("st"))
            assert r.status_code == 201, r.text

    async def opine(self, app_id: int, actor: str, recommendation: str = "recommend") -> httpx.Response:
        return await self.client.post(f"/applications/{app_id}/opinions", headers=self.h(actor),
                                      json={"recommendation": recommendation, "text": f"{actor}: {recommendation}"})

    async def to_state(self, state: str, zone: str | None = None) -> int:
        """A new application driven to `state` along the happy path (one expert, expert_a)."""
        app_id = int((await self.create(zone))["id"])
        path = [("draft", None), ("intent_submitted", "submit_intent"), ("under_expert_review", "start_expert_review"),
                ("recommended", "recommend"), ("under_audit", "start_audit"),
                ("submitted_to_government", "submit_to_government")]
        for target, name in path:
            if name == "submit_intent":
                await self.upload_required(app_id)
            if name == "start_expert_review":
                await self.assign(app_id, "expert-a")
            if name == "recommend":
                assert (await self.opine(app_id, "expert_a")).status_code == 201
            if name is not None:
                await self.must(app_id, name, "league" if name == "submit_intent" else "st")
            if name == "submit_to_government":  # a joint act (process v2): the department signs, then the league
                await self.must(app_id, name, "league")
            if target == state:
                return app_id
        raise AssertionError(f"no path to {state}")

    async def deliver(self) -> int:
        return int(await self.app.state.dispatcher.run_once())

    async def rows(self) -> dict[str, list[tuple[Any, ...]]]:
        from services.workflow.models import Base

        return await dump_rows(self.url, Base.metadata)

    def files(self) -> list[str]:
        return sorted(str(p.relative_to(self.materials_dir)) for p in self.materials_dir.rglob("*") if p.is_file())


@pytest.fixture
async def workflow_db(database_factory: DatabaseFactory, dialect: str) -> AsyncIterator[str]:
    url = await database_factory.fresh("workflow", dialect)
    yield url
    await database_factory.drop(url)


@pytest.fixture
async def wf(registry_db: str, workflow_db: str, tokens: Tokens, tmp_path: Path) -> AsyncIterator[Workflow]:
    from services.registry.app import create_app as create_registry
    from services.registry.settings import Settings as RegistrySettings
    from services.workflow.app import create_app
    from services.workflow.settings import Settings

    registry_app = create_registry(RegistrySettings(**settings_overrides(tokens, registry_db)))
    async with asgi_client(registry_app, "http://registry") as registry:
        app = create_app(
            Settings(**settings_overrides(tokens, workflow_db), registry_url="http://registry",
                     scoring_url="http://scoring", peer_token=tokens("service", sub="workflow"),
                     materials_dir=tmp_path / "materials", dispatcher_enabled=False, webhook_dispatcher_enabled=False,
                     max_material_bytes=64 * 1024, webhook_base_delay_seconds=0.05, webhook_timeout_seconds=5),
            registry_transport=httpx.ASGITransport(app=registry_app),
            scoring_transport=httpx.MockTransport(unreachable))
        async with asgi_client(app, "http://workflow") as client:
            yield Workflow(client, registry, app, tokens, workflow_db, tmp_path / "materials", registry_db,
                           registry_app)
