"""Bearer tokens: refused tokens are 401 problem+json, roles are 403, public reads need none."""

from __future__ import annotations

import datetime as dt

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.testing import Tokens

BODY = {"kind": "industrial_park", "level": "none", "name_zh": "令牌园区", "league_code": "150900"}


async def test_refused_tokens(registry: httpx.AsyncClient, tokens: Tokens) -> None:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    forged = jwt.encode({"sub": "x", "role": "st_department", "iss": "hitech-zones-test", "aud": "hitech-zones",
                         "exp": dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)}, other_key, algorithm="RS256",
                        headers={"kid": "dev-1"})
    cases = {
        "expired": tokens("st_department", ttl=dt.timedelta(seconds=-120)),
        "audience": tokens("st_department", audience="someone-else"),
        "issuer": tokens("st_department", issuer="elsewhere"),
        "role": tokens("emperor"),
        "league": tokens("league_government"),
        "forged": forged,
        "garbage": "not.a.token",
    }
    for name, token in cases.items():
        r = await registry.post("/zones", json=BODY, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, name
        assert r.headers["content-type"] == "application/problem+json" and r.json()["code"] == "invalid-token"
    r = await registry.post("/zones", json=BODY, headers={"Authorization": "Basic abc"})
    assert r.status_code == 401


async def test_public_reads_and_role_refusals(registry: httpx.AsyncClient, tokens: Tokens) -> None:
    assert (await registry.get("/zones")).status_code == 200
    assert (await registry.get("/leagues")).status_code == 200
    for role in ("observer", "expert", "statistics_bureau", "regional_government", "service"):
        r = await registry.post("/zones", json=BODY, headers=tokens.headers(role))
        assert r.status_code == 403 and r.json()["code"] == "forbidden-role", role
    r = await registry.get("/zones", headers={"X-Request-ID": "trace-123"})
    assert r.headers["x-request-id"] == "trace-123"
