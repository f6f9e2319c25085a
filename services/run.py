"""`make run`: migrate the three databases, load the registry's reference data, mint the peer tokens,
start registry (8001), workflow (8002) and scoring (8003) with uvicorn, stop them all on Ctrl-C."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import time

from services.registry.data.load import load
from shared.auth import ensure_dev_keys, mint_token
from shared.db import Database
from shared.migrate import upgrade
from shared.settings import VAR_DIR

SERVICES = (("registry", 8001), ("workflow", 8002), ("scoring", 8003))


def _settings(service: str):  # type: ignore[no-untyped-def]
    module = __import__(f"services.{service}.settings", fromlist=["Settings"])
    return module.Settings()


async def _load_reference(url: str) -> str:
    db = Database(url)
    try:
        return str(await load(db))
    finally:
        await db.dispose()


def _load_demo(peer_token: str, scoring_url: str) -> str:
    """Once registry and scoring answer (scoring has loaded its frameworks): the demonstration data
    (synthetic, only for zone-years without data)."""
    import httpx

    from services.scoring.clients.registry import RegistryClient
    from services.scoring.data.demo import load_demo
    from shared.peers import PeerClient

    settings = _settings("scoring")
    deadline = time.monotonic() + 60
    for url in (settings.registry_url, scoring_url):
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)

    async def go() -> str:
        db = Database(settings.database_url)
        peer = PeerClient(settings.registry_url, peer_token)
        try:
            counts = await load_demo(db, RegistryClient(peer))
        finally:
            await peer.aclose()
            await db.dispose()
        return (f"scoring demonstration data (synthetic): +{counts['zone_years']} zone-years, "
                f"+{counts['reference_years']} league/region reference years")

    return asyncio.run(go())


def main() -> None:
    VAR_DIR.mkdir(exist_ok=True)
    private, _ = ensure_dev_keys(VAR_DIR / "keys")
    for service, _port in SERVICES:
        upgrade(service, _settings(service).database_url)
        print(f"migrated {service}")
    print(asyncio.run(_load_reference(_settings("registry").database_url)))
    host = os.environ.get("HZ_HOST", "127.0.0.1")
    env = dict(os.environ)
    base = _settings("registry")
    for peer in ("workflow", "scoring"):
        key = f"{peer.upper()}_PEER_TOKEN"
        env.setdefault(key, mint_token(private.read_bytes(), sub=peer, role="service", issuer=base.jwt_issuer,
                                       audience=base.jwt_audience, ttl=dt.timedelta(days=30)))
    procs = []
    for service, port in SERVICES:
        port = int(os.environ.get(f"{service.upper()}_PORT", port))
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "uvicorn", f"services.{service}.app:create_app", "--factory",
             "--host", host, "--port", str(port), "--log-level", "warning", "--no-access-log"], env=env))
        print(f"{service:9s} http://{host}:{port}  (OpenAPI: http://{host}:{port}/docs)")
    scoring_port = int(os.environ.get("SCORING_PORT", 8003))
    print(_load_demo(env["SCORING_PEER_TOKEN"], f"http://{host}:{scoring_port}"))
    print("development token: make token ROLE=st_department   (roles: observer, league_government LEAGUE=150200, "
          "st_department, expert, regional_government, statistics_bureau, service)")
    print("Ctrl-C stops all three.")

    def stop(*_: object) -> None:
        for p in procs:
            if p.poll() is None:
                p.terminate()

    def on_sigterm(*_: object) -> None:
        stop()
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        print("a service stopped; stopping the others", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        stop()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
