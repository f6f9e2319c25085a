"""End-to-end fixtures (issue #6 §6): the REAL registry and workflow started with uvicorn on free ports,
each with its own database, talking over TCP; a service can be stopped and started again on its port.
Waiting is asynchronous, so an in-process proxy on the test's event loop keeps serving meanwhile."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from shared.testing import ISSUER, DatabaseFactory, Tokens
from tests.conftest import load_registry_reference
from tests.workflow.conftest import Workflow

ROOT = Path(__file__).resolve().parent.parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Service:
    """A service run as `uvicorn <factory> --factory` on a fixed port; `stop()` and `start()` again."""

    factory: str
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, within: float = 30.0) -> None:
        assert self.proc is None, "already running"
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "uvicorn", self.factory, "--factory", "--host", "127.0.0.1", "--port",
            str(self.port), "--log-level", "warning", "--no-access-log", env={**os.environ, **self.env}, cwd=ROOT)
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=1) as client:
            while True:
                if self.proc.returncode is not None:
                    raise RuntimeError(f"{self.factory} exited with {self.proc.returncode}")
                try:
                    if (await client.get(f"{self.url}/readyz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    await self.stop()
                    raise RuntimeError(f"{self.factory} did not become ready on {self.url}")
                await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """SIGTERM (uvicorn's graceful shutdown: the lifespan stops the dispatchers), SIGKILL after 10 s."""
        if self.proc is None:
            return
        if self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        self.proc = None


@dataclass
class Stack:
    registry: Service
    workflow: Service
    wf: Workflow  # the tests' helper, over HTTP to the real services


def registry_env(tokens: Tokens, database_url: str) -> dict[str, str]:
    return {"REGISTRY_DATABASE_URL": database_url, "REGISTRY_JWKS_FILE": str(tokens.jwks_file),
            "REGISTRY_JWT_ISSUER": ISSUER, "REGISTRY_LOG_LEVEL": "WARNING"}


def workflow_env(tokens: Tokens, database_url: str, registry_url: str, materials: Path) -> dict[str, str]:
    """The dispatcher delivers on its own every 0.1 s, retrying after 0.1–0.5 s (jittered)."""
    return {"WORKFLOW_DATABASE_URL": database_url, "WORKFLOW_JWKS_FILE": str(tokens.jwks_file),
            "WORKFLOW_JWT_ISSUER": ISSUER, "WORKFLOW_LOG_LEVEL": "WARNING", "WORKFLOW_REGISTRY_URL": registry_url,
            "WORKFLOW_SCORING_URL": f"http://127.0.0.1:{free_port()}", "WORKFLOW_ELIGIBILITY_TIMEOUT_SECONDS": "0.5",
            "WORKFLOW_PEER_TOKEN": tokens("service", sub="workflow"), "WORKFLOW_MATERIALS_DIR": str(materials),
            "WORKFLOW_DISPATCHER_POLL_SECONDS": "0.1", "WORKFLOW_OUTBOX_BASE_DELAY_SECONDS": "0.1",
            "WORKFLOW_OUTBOX_MAX_DELAY_SECONDS": "0.5", "WORKFLOW_WEBHOOK_DISPATCHER_ENABLED": "false"}


@pytest.fixture
async def databases(database_factory: DatabaseFactory, dialect: str) -> AsyncIterator[tuple[str, str]]:
    registry = await database_factory.fresh("registry", dialect, "reference", load_registry_reference)
    workflow = await database_factory.fresh("workflow", dialect)
    yield registry, workflow
    await database_factory.drop(registry)
    await database_factory.drop(workflow)


async def start_stack(tokens: Tokens, databases: tuple[str, str], tmp_path: Path,
                      in_between: Callable[[str], Awaitable[str]] | None = None) -> Stack:
    """The registry, then the workflow pointed at it (or at the URL `in_between(registry_url)` answers)."""
    registry_db, workflow_db = databases
    registry = Service("services.registry.app:create_app", registry_env(tokens, registry_db))
    await registry.start()
    target = await in_between(registry.url) if in_between else registry.url
    workflow = Service("services.workflow.app:create_app",
                       workflow_env(tokens, workflow_db, target, tmp_path / "materials"))
    try:
        await workflow.start()
    except BaseException:
        await registry.stop()
        raise
    wf = Workflow(httpx.AsyncClient(base_url=workflow.url, timeout=10),
                  httpx.AsyncClient(base_url=registry.url, timeout=10), None, tokens, workflow_db,
                  tmp_path / "materials", registry_db)
    return Stack(registry, workflow, wf)


async def stop_stack(stack: Stack) -> None:
    await stack.wf.client.aclose()
    await stack.wf.registry.aclose()
    await stack.workflow.stop()
    await stack.registry.stop()
