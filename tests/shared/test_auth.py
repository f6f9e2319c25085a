"""shared.auth: development tokens are signed with a key parsed once per PEM."""

from __future__ import annotations

from pathlib import Path

from shared.auth import TokenVerifier, _signing_key, ensure_dev_keys, mint_token


def test_mint_token_parses_the_key_once(tmp_path: Path) -> None:
    private, jwks = ensure_dev_keys(tmp_path)
    pem = private.read_bytes()
    verifier = TokenVerifier(issuer="iss", audience="aud", jwks_file=jwks)
    before = _signing_key.cache_info()
    tokens = [mint_token(pem, sub=f"s{i}", role="league_government", league_code="150200", issuer="iss",
                         audience="aud") for i in range(5)]
    after = _signing_key.cache_info()
    assert after.misses - before.misses <= 1 and after.hits - before.hits >= 4
    assert [verifier.verify(t).sub for t in tokens] == [f"s{i}" for i in range(5)]
    assert {verifier.verify(t).league_code for t in tokens} == {"150200"}
