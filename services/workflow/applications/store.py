"""A transition's reads and writes as plain statements on the driver connection of the request's
transaction (shared/rows.py), instead of ORM queries and a unit-of-work flush: taking a transition is the
workflow's most frequent write, and SQLAlchemy's per-statement work cost more than its eight statements
(issue #6 §11). The same statements, the same row lock, the same transaction: the ORM session commits it.

Rows come back as transient model instances, so the domain code (guards, audit, outbox, callbacks) is
the one the ORM paths use; what they `add` is collected here and written by `flush`."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

import asyncpg
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncSession

from services.workflow.applications import access
from services.workflow.models import Application, ExpertAssignment, Material, Opinion, WebhookSubscription
from shared.auth import Principal
from shared.problems import Problem
from shared.rows import Also, driver_of, mapper, write_together


def _receives(league: str) -> str:
    """Which subscriptions `s` are told of an application of `league` (subscriptions.repository.receivers):
    the department's (no league) and that league's."""
    return f"s.league_code IS NULL OR s.league_code = {league}"


# what guard_rows reads, per kind: the model and the rest of its SELECT, `a` being the application's row
_GUARD_ROWS: dict[str, tuple[type[Any], str]] = {
    "materials": (Material, "FROM materials x WHERE x.application_id = a.id ORDER BY x.item, x.version"),
    "opinions": (Opinion, "FROM opinions x WHERE x.application_id = a.id AND x.round = a.round "
                          "ORDER BY x.round, x.created_at, x.id"),
}

# the driver errors that mean "a concurrent request wrote first" (the ORM path maps IntegrityError)
CONFLICTS: tuple[type[BaseException], ...] = (asyncpg.IntegrityConstraintViolationError, sqlite3.IntegrityError)


class TransitionStore:
    """One transition's statements; `add` collects new rows (panel conclusion, outbox message, audit
    entry, callback deliveries) for `flush`, which also writes the application's row."""

    def __init__(self, driver: Any, dialect: str) -> None:
        self.driver = driver
        self.dialect = dialect
        self.application = mapper(Application, dialect)
        self._added: list[Any] = []
        self._receivers: tuple[str, list[tuple[str, list[str]]]] | None = None
        self._prefetched: dict[str, tuple[int, int, list[Any]]] = {}  # kind: (application, round, rows)
        self.defer_flush = False
        self._deferred: Application | None = None

    @classmethod
    async def of(cls, session: AsyncSession) -> TransitionStore:
        """The store of the session's transaction."""
        return cls(await driver_of(session), session.get_bind().dialect.name)

    async def readable(self, principal: Principal, application_id: int, *, for_update: bool = True,
                       with_receivers: bool = False, prefetch: frozenset[str] = frozenset()
                       ) -> tuple[Application, list[str]]:
        """The application, its row locked (unless a read), and its panel (experts not removed, in order
        of assignment), when the caller may see it: as service.readable, in one statement. With
        `with_receivers`, on PostgreSQL the same statement also reads the subscriptions told of the
        application's league (`receivers` then answers without a round trip); with `prefetch` (of
        "materials", "opinions"), the rows `guard_rows` would read next (as arrays of rows: no round trip)."""
        access.check_role(principal)
        m, d = self.application, self.application.dialect
        if d.sqlite:  # in-process: a statement costs no round trip; the write transaction holds the database
            rows = await d.fetch(self.driver, f"SELECT {m.select('a')}, e.expert_sub FROM applications a "
                                 "LEFT JOIN expert_assignments e ON e.application_id = a.id AND e.removed_at IS NULL "
                                 "WHERE a.id = ? ORDER BY e.assigned_at, e.id", application_id)
        else:
            receivers = (", (SELECT coalesce(json_agg(json_build_array(s.id, s.events) ORDER BY s.created_at, s.id), "
                         "'[]') FROM webhook_subscriptions s WHERE s.active AND s.deleted_at IS NULL AND "
                         f"({_receives('a.league_code')})) AS receivers" if with_receivers else "")
            lock = " FOR UPDATE OF a" if for_update else ""
            prefetched = "".join(f", ARRAY(SELECT ROW({mapper(model, self.dialect).select('x')}) {rows_of})"
                                 for kind, (model, rows_of) in _GUARD_ROWS.items() if kind in prefetch)
            rows = await d.fetch(self.driver, f"SELECT {m.select('a')}, ARRAY(SELECT e.expert_sub FROM "
                                 "expert_assignments e WHERE e.application_id = a.id AND e.removed_at IS NULL "
                                 f"ORDER BY e.assigned_at, e.id) AS experts{receivers}{prefetched} FROM "
                                 f"applications a WHERE a.id = $1{lock}", application_id)
        if not rows:
            raise Problem(404, "application-not-found", f"No application {application_id}.")
        app: Application = m.load(rows[0])
        panel = len(m.names)  # the column after the application's
        if d.sqlite:  # one row per expert
            experts = [r[panel] for r in rows if r[panel] is not None]
        else:
            experts = list(rows[0][panel])
            at = panel + 1
            if with_receivers:
                found = rows[0][at]
                self._receivers = (app.league_code, [(sid, list(events or [])) for sid, events in
                                                     (json.loads(found) if isinstance(found, str) else found)])
                at += 1
            for kind, (model, _) in _GUARD_ROWS.items():
                if kind in prefetch:
                    loaded = mapper(model, self.dialect)
                    self._prefetched[kind] = (app.id, app.round, [loaded.load(r) for r in rows[0][at]])
                    at += 1
        access.check_read(principal, app.league_code, experts)
        return app, experts

    async def guard_rows(self, app: Application, reads: frozenset[str]
                         ) -> tuple[Sequence[Material], Sequence[Opinion]]:
        """As service.guard_rows: every material version, the opinions of the current round."""
        materials: Sequence[Material] = ()
        opinions: Sequence[Opinion] = ()
        if "materials" in reads and (found := self._prefetched_for(app, "materials")) is not None:
            materials, reads = found, reads - {"materials"}
        if "opinions" in reads and (found := self._prefetched_for(app, "opinions")) is not None:
            opinions, reads = found, reads - {"opinions"}
        if "materials" in reads:
            m = mapper(Material, self.dialect)
            materials = [m.load(r) for r in await m.dialect.fetch(
                self.driver, f"SELECT {m.select()} FROM materials WHERE application_id = {m.dialect.param(1)} "
                "ORDER BY item, version", app.id)]
        if "opinions" in reads:
            m = mapper(Opinion, self.dialect)
            opinions = [m.load(r) for r in await m.dialect.fetch(
                self.driver, f"SELECT {m.select()} FROM opinions WHERE application_id = {m.dialect.param(1)} "
                f"AND round = {m.dialect.param(2)} ORDER BY round, created_at, id", app.id, app.round)]
        return materials, opinions

    def _prefetched_for(self, app: Application, kind: str) -> list[Any] | None:
        """The rows `readable` read with the application, while they are still the ones to read (the same
        application and round, nothing added since)."""
        found = self._prefetched.pop(kind, None)
        if found is None or found[:2] != (app.id, app.round) or self._added:
            return None
        return found[2]

    async def next_material_version(self, application_id: int, item: str) -> int:
        d = self.application.dialect
        (row,) = await d.fetch(self.driver, "SELECT max(version) FROM materials WHERE application_id = "
                               f"{d.param(1)} AND item = {d.param(2)}", application_id, item)
        return (row[0] or 0) + 1

    async def assignment(self, application_id: int, expert_sub: str) -> ExpertAssignment | None:
        m = mapper(ExpertAssignment, self.dialect)
        rows = await m.dialect.fetch(self.driver, f"SELECT {m.select()} FROM expert_assignments WHERE application_id "
                                     f"= {m.dialect.param(1)} AND expert_sub = {m.dialect.param(2)}",
                                     application_id, expert_sub)
        return m.load(rows[0]) if rows else None

    async def assignments(self, application_id: int) -> list[ExpertAssignment]:
        """The panel's rows, removed ones too, in order of assignment (as panel.service.panel)."""
        m = mapper(ExpertAssignment, self.dialect)
        return [m.load(r) for r in await m.dialect.fetch(
            self.driver, f"SELECT {m.select()} FROM expert_assignments WHERE application_id = {m.dialect.param(1)} "
            "ORDER BY assigned_at, id", application_id)]

    async def update(self, instance: Any, names: Sequence[str]) -> None:
        """UPDATE these columns of a row read through this store (before `flush` writes the new ones)."""
        model: Any = type(instance)
        await mapper(model, self.dialect).update(self.driver, instance, names)

    async def receivers(self, league_code: str) -> list[tuple[str, list[str]]]:
        """As subscriptions.repository.receivers: the active subscriptions told of this league's applications
        (read with the application when `readable` was asked to)."""
        if self._receivers is not None and self._receivers[0] == league_code:
            return self._receivers[1]
        m = mapper(WebhookSubscription, self.dialect)
        events = m.decoders[m.names.index("events")]
        true = "1" if m.dialect.sqlite else "true"
        rows = await m.dialect.fetch(
            self.driver, f"SELECT id, events FROM webhook_subscriptions s WHERE active = {true} AND deleted_at IS NULL "
            f"AND ({_receives(m.dialect.param(1))}) ORDER BY created_at, id", league_code)
        return [(r[0], list(events(r[1]) or [])) for r in rows]

    def add(self, instance: object) -> None:
        self._added.append(instance)

    async def flush(self, app: Application) -> None:
        """The application's changed columns, then the new rows in the order added; a write that a
        concurrent request made impossible is a 409, as on the ORM path (shared.db). Only what was set
        since `readable` is written (the attribute events record it, as for an ORM flush): the eligibility
        advice kept from the intent (~44 kB with the scoring service's explanations) is not encoded and
        sent again with every transition. The row is locked, so the other columns are the ones read.
        With `defer_flush`, the write waits for `finish` (the caller adds a statement of its own to it)."""
        if self.defer_flush:
            self._deferred = app
            return
        await self._write(app, ())

    @property
    def deferred(self) -> bool:
        """A flush waits for `finish`."""
        return self._deferred is not None

    async def finish(self, also: Sequence[Also] = ()) -> list[Any] | None:
        """The deferred flush, with the statements `also` in the same round trip; None when nothing was
        flushed (`also` not run)."""
        app, self._deferred = self._deferred, None
        return None if app is None else await self._write(app, also)

    async def _write(self, app: Application, also: Sequence[Also]) -> list[Any]:
        m = self.application
        state = sa_inspect(app)
        changed = [n for n in m.names if n in state.committed_state and n not in m.primary_key]
        try:  # one round trip on PostgreSQL
            returned = await write_together(self.driver, self.dialect, (app, changed) if changed else None,
                                            self._added, also)
        except CONFLICTS:
            raise Problem(409, "conflict", "A concurrent request changed the same data first; read again and "
                          "retry.", headers={"Retry-After": "1"}) from None
        state.committed_state.clear()  # written: a second flush writes only what changes after this one
        self._added.clear()
        return returned

