"""Bearer JWT verification (contracts: tokens), roles, the league claim, FastAPI dependencies, and the
development key pair / token minting used by `make run` and `make token`."""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Request
from jwt import PyJWK, PyJWKClient

from shared.problems import Problem


class Role(StrEnum):
    public = "public"
    observer = "observer"
    league_government = "league_government"
    st_department = "st_department"
    expert = "expert"
    regional_government = "regional_government"
    statistics_bureau = "statistics_bureau"
    service = "service"


TOKEN_ROLES = frozenset(Role) - {Role.public}


@dataclass(frozen=True, slots=True)
class Principal:
    sub: str
    role: Role
    league_code: str | None = None

    @property
    def is_public(self) -> bool:
        return self.role is Role.public


PUBLIC = Principal(sub="public", role=Role.public)
VERIFIED_TTL = 60.0  # seconds a verified token is trusted without checking its signature again
VERIFIED_MAX = 10_000  # remembered tokens at most (then forgotten at once)


class TokenVerifier:
    """Verifies RS256/ES256 bearer tokens against a JWKS (a URL in production, a file by default)."""

    def __init__(self, *, issuer: str, audience: str, jwks_url: str | None = None,
                 jwks_file: Path | None = None, jwks: dict[str, Any] | None = None, leeway: int = 30) -> None:
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self._client = PyJWKClient(jwks_url, cache_keys=True, lifespan=300) if jwks_url else None
        self._keys: dict[str, PyJWK] = {}
        if jwks is None and jwks_file is not None and jwks_file.exists():
            jwks = json.loads(jwks_file.read_text())
        for k in (jwks or {}).get("keys", []):
            self._keys[k.get("kid", "")] = PyJWK(k)
        # token → (principal, when to verify it again): a platform sends one token with every request, and
        # the signature check is most of the cost of authentication
        self._verified: dict[str, tuple[Principal, float]] = {}

    def _key_for(self, token: str) -> Any:
        if self._client is not None:
            return self._client.get_signing_key_from_jwt(token).key
        kid = jwt.get_unverified_header(token).get("kid", "")
        if kid in self._keys:
            return self._keys[kid].key
        if len(self._keys) == 1 and not kid:
            return next(iter(self._keys.values())).key
        raise jwt.InvalidTokenError("unknown signing key")

    def verify(self, token: str) -> Principal:
        """The token's principal; 401 problem when it is refused. A verified token is remembered until its
        exp (plus leeway) or for VERIFIED_TTL seconds, whichever comes first, so that a key taken out of the
        key set stops working within that time."""
        now = time.time()
        found = self._verified.get(token)
        if found is not None and found[1] > now:
            return found[0]
        principal, expires = self._verify(token)
        if len(self._verified) >= VERIFIED_MAX:
            self._verified.clear()
        self._verified[token] = (principal, min(expires + self.leeway, now + VERIFIED_TTL))
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            claims = jwt.decode(
                token, self._key_for(token), algorithms=["RS256", "ES256"], audience=self.audience,
                issuer=self.issuer, leeway=self.leeway, options={"require": ["sub", "exp", "iss", "aud"]},
            )
        except (jwt.PyJWTError, jwt.PyJWKClientError, ValueError) as exc:
            raise Problem(401, "invalid-token", f"The bearer token was refused: {exc}.",
                          headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}) from None
        role = claims.get("role")
        if role not in TOKEN_ROLES:
            raise Problem(401, "invalid-token", f"The token's role {role!r} is not one of {sorted(TOKEN_ROLES)}.",
                          headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        league = claims.get("league_code")
        if role == Role.league_government and not league:
            raise Problem(401, "invalid-token", "A league_government token must carry league_code.",
                          headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return Principal(sub=str(claims["sub"]), role=Role(role),
                         league_code=str(league) if role == Role.league_government else None), float(claims["exp"])


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(401, "invalid-token", "The Authorization header must be 'Bearer <token>'.",
                      headers={"WWW-Authenticate": "Bearer"})
    return token.strip()


def principal_of(request: Request) -> Principal:
    """The caller: PUBLIC without a token; a verified principal with one (cached on the request)."""
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    token = bearer_token(request)
    principal = PUBLIC if token is None else request.app.state.verifier.verify(token)
    request.state.principal = principal
    return principal


async def current_principal(request: Request) -> Principal:
    return principal_of(request)


def require_roles(*roles: Role) -> Callable[[Request], Coroutine[Any, Any, Principal]]:
    """Dependency: the caller must hold one of `roles` (401 without a token, 403 with another role)."""
    allowed = frozenset(roles)

    async def dependency(request: Request) -> Principal:
        principal = principal_of(request)
        if principal.role in allowed:
            return principal
        names = ", ".join(sorted(r.value for r in allowed))
        if principal.is_public:
            raise Problem(401, "unauthenticated", f"This action needs a bearer token with one of the roles: {names}.",
                          headers={"WWW-Authenticate": "Bearer"})
        raise Problem(403, "forbidden-role", f"Role {principal.role.value} may not do this; allowed: {names}.",
                      role=principal.role.value)

    return dependency


# ------------------------------------------------------------------------------ development keys


def ensure_dev_keys(key_dir: Path) -> tuple[Path, Path]:
    """Create (once) the development RSA key pair: private.pem for minting, jwks.json for verifying."""
    key_dir.mkdir(parents=True, exist_ok=True)
    private_path, jwks_path = key_dir / "private.pem", key_dir / "jwks.json"
    if not private_path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never world-readable
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
    if not jwks_path.exists():
        write_jwks(private_path, jwks_path)
    return private_path, jwks_path


def write_jwks(private_path: Path, jwks_path: Path) -> None:
    key = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))  # type: ignore[arg-type]
    jwk.update({"kid": "dev-1", "use": "sig", "alg": "RS256"})
    jwks_path.write_text(json.dumps({"keys": [jwk]}, indent=2))


def mint_token(private_pem: bytes, *, sub: str, role: str, issuer: str, audience: str,
               league_code: str | None = None, ttl: dt.timedelta = dt.timedelta(hours=12), kid: str = "dev-1") -> str:
    now = dt.datetime.now(dt.UTC)
    claims: dict[str, Any] = {"sub": sub, "role": role, "iss": issuer, "aud": audience,
                              "iat": now, "exp": now + ttl}
    if league_code:
        claims["league_code"] = league_code
    return jwt.encode(claims, _signing_key(private_pem), algorithm="RS256", headers={"kid": kid})


@functools.lru_cache(maxsize=8)
def _signing_key(private_pem: bytes) -> Any:
    """The parsed private key, once per PEM: parsing and checking an RSA key costs ~35 ms, signing ~1 ms."""
    return serialization.load_pem_private_key(private_pem, password=None)
