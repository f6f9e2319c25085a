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


def test_a_remembered_token_still_expires_and_a_forged_one_is_refused(tmp_path: Path) -> None:
    import datetime as dt
    import time

    import jwt
    import pytest

    from shared.problems import Problem

    private, jwks = ensure_dev_keys(tmp_path)
    pem = private.read_bytes()
    verifier = TokenVerifier(issuer="iss", audience="aud", jwks_file=jwks, leeway=0)
    # exp is in whole seconds: a 1 s token minted at x.99 s expired 10 ms later (a flaky test); with 2 s it
    # is valid for more than a second, and the sleep runs past its own exp
    short = mint_token(pem, sub="brief", role="observer", issuer="iss", audience="aud", ttl=dt.timedelta(seconds=2))
    assert verifier.verify(short).sub == "brief"
    assert verifier.verify(short).sub == "brief"  # remembered
    time.sleep(max(0.0, jwt.decode(short, options={"verify_signature": False})["exp"] - time.time()) + 0.2)
    with pytest.raises(Problem) as refused:
        verifier.verify(short)  # past exp: refused although it was remembered
    assert refused.value.status == 401
    good = mint_token(pem, sub="alice", role="observer", issuer="iss", audience="aud")
    assert verifier.verify(good).sub == "alice"
    head, payload, signature = good.split(".")
    forged = f"{head}.{payload}.{signature[:-4]}AAAA"
    with pytest.raises(Problem):
        verifier.verify(forged)  # another string: verified on its own, not taken from the remembered one
