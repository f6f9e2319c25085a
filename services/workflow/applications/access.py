"""Who may see an application (002 art. 6; contracts: reads): the S&T Department, the co-organising
departments (observer) and the regional government see all; a league government its own league's;
an expert those on whose panel it sits. Pure."""

from __future__ import annotations

from collections.abc import Collection

from shared.auth import Principal, Role
from shared.problems import Problem

ALL_READERS = frozenset({Role.st_department, Role.observer, Role.regional_government})
READERS = ALL_READERS | {Role.league_government, Role.expert}


def check_role(principal: Principal) -> None:
    """401 without a token; 403 for a role with no business with applications."""
    if principal.is_public:
        raise Problem(401, "unauthenticated", "Applications need a bearer token.",
                      headers={"WWW-Authenticate": "Bearer"})
    if principal.role not in READERS:
        names = ", ".join(sorted(r.value for r in READERS))
        raise Problem(403, "forbidden-role", f"Role {principal.role.value} has no business with applications; "
                      f"roles: {names}.", role=principal.role.value)


def check_read(principal: Principal, league_code: str, experts: Collection[str]) -> None:
    """403 unless the caller may see this application."""
    check_role(principal)
    if principal.role == Role.league_government and principal.league_code != league_code:
        raise Problem(403, "other-league", f"This application is of league {league_code}; a league government "
                      "sees and acts on its own league's applications only (002 art. 6).",
                      league_code=principal.league_code)
    if principal.role == Role.expert and principal.sub not in experts:
        raise Problem(403, "not-assigned", "This expert is not on the application's panel: an expert sees and "
                      "gives opinions only on the applications assigned to them.")
