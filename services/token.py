"""Mint a development token: python -m services.token ROLE [--league CODE] [--sub NAME] [--hours N]."""

from __future__ import annotations

import argparse
import datetime as dt

from shared.auth import TOKEN_ROLES, ensure_dev_keys, mint_token
from shared.settings import VAR_DIR, ServiceSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("role", choices=sorted(TOKEN_ROLES))
    parser.add_argument("--league", help="league code (league_government tokens)")
    parser.add_argument("--sub", help="subject; default dev-<role>")
    parser.add_argument("--hours", type=float, default=12)
    args = parser.parse_args()
    if args.role == "league_government" and not args.league:
        parser.error("a league_government token needs --league (e.g. 150200)")
    private, _ = ensure_dev_keys(VAR_DIR / "keys")
    defaults = ServiceSettings.model_fields
    print(mint_token(private.read_bytes(), sub=args.sub or f"dev-{args.role}", role=args.role,
                     issuer=str(defaults["jwt_issuer"].default), audience=str(defaults["jwt_audience"].default),
                     league_code=args.league, ttl=dt.timedelta(hours=args.hours)))


if __name__ == "__main__":
    main()
