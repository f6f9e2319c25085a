"""shared/rows.py: driver statements join the ORM session's transaction and use the models' stored forms."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from services.workflow.models import Application, AuditEntry
from shared.db import Database
from shared.rows import driver_of, mapper
from shared.testing import DatabaseFactory


def _application(now: dt.datetime) -> Application:
    return Application(zone_code="NM-1", league_code="152500", park_name="园区", proposed_name="高新区",
                       state="draft", process_version="v2", status_at_intent="candidate",
                       zone_at_intent={"名称": "园区"}, eligibility={"status": "not_available"}, created_by="a",
                       created_at=now, updated_at=now, state_entered_at=now, due_at=None)


async def test_driver_statements_are_in_the_session_transaction(database_factory: DatabaseFactory,
                                                                dialect: str) -> None:
    url = await database_factory.fresh("workflow", dialect)
    db = Database(url)
    now = dt.datetime(2026, 12, 3, 5, 6, 7, 123456, tzinfo=dt.UTC)
    try:
        # written on the driver, rolled back with the session: nothing stays
        try:
            async with db.transaction(write=True) as session:
                driver = await driver_of(session)
                if dialect == "postgresql":
                    assert driver.is_in_transaction()
                await mapper(Application, dialect).insert(driver, [_application(now)])
                raise RuntimeError("roll back")
        except RuntimeError:
            pass
        async with db.transaction() as session:
            assert (await session.execute(select(Application))).scalars().all() == []

        # committed with the session; the ORM reads back the values the driver wrote, and vice versa
        async with db.transaction(write=True) as session:
            await mapper(Application, dialect).insert(await driver_of(session), [_application(now)])
        async with db.transaction() as session:
            (app,) = (await session.execute(select(Application))).scalars().all()
        assert (app.created_at, app.zone_at_intent, app.round, app.version) == (now, {"名称": "园区"}, 0, 1)
        async with db.transaction(write=True) as session:
            m = mapper(Application, dialect)
            rows = await m.dialect.fetch(await driver_of(session), f"SELECT {m.select()} FROM applications")
            loaded = m.load(rows[0])
            assert (loaded.id, loaded.created_at, loaded.zone_at_intent, loaded.decision) == (
                app.id, now, {"名称": "园区"}, None)
            loaded.decision, loaded.version = {"outcome": "approved"}, 2
            await m.update(await driver_of(session), loaded, ["decision", "version"])
            session.add(AuditEntry(application_id=app.id, seq=1, at=now, actor_sub="a", actor_role="st_department",
                                   action="x", round=0, data={}, documents=[], entry_hash="h"))  # ORM beside it
        async with db.transaction() as session:
            (app,) = (await session.execute(select(Application))).scalars().all()
            assert (app.decision, app.version) == ({"outcome": "approved"}, 2)
            assert len((await session.execute(select(AuditEntry))).scalars().all()) == 1
    finally:
        await db.dispose()
        await database_factory.drop(url)


async def test_write_together_updates_inserts_and_returns_keys(database_factory: DatabaseFactory,
                                                                dialect: str) -> None:
    from services.workflow.models import Opinion
    from shared.rows import write_together

    url = await database_factory.fresh("workflow", dialect)
    db = Database(url)
    now = dt.datetime(2026, 12, 3, 5, 6, 7, 123456, tzinfo=dt.UTC)
    try:
        async with db.transaction(write=True) as session:
            await mapper(Application, dialect).insert(await driver_of(session), [_application(now)])
        async with db.transaction(write=True) as session:
            driver = await driver_of(session)
            m = mapper(Application, dialect)
            app = m.load((await m.dialect.fetch(driver, f"SELECT {m.select()} FROM applications"))[0])
            app.version, app.state = 2, "intent_submitted"
            first = Opinion(application_id=app.id, round=1, expert_sub="expert-a", recommendation="revise",
                            text="修改", created_at=now)
            second = Opinion(application_id=app.id, round=1, expert_sub="expert-b", recommendation="recommend",
                             text="同意", created_at=now)
            entry = AuditEntry(application_id=app.id, seq=1, at=now, actor_sub="a", actor_role="expert",
                               action="give_opinion", round=1, data={"n": 1}, documents=[], entry_hash="h")
            await write_together(driver, dialect, (app, ["version", "state"]), [first, entry, second])
            assert first.id is not None and second.id is not None and second.id > first.id
        async with db.transaction() as session:
            (stored,) = (await session.execute(select(Application))).scalars().all()
            assert (stored.version, stored.state) == (2, "intent_submitted")
            opinions = (await session.execute(select(Opinion).order_by(Opinion.id))).scalars().all()
            assert [(o.id, o.expert_sub, o.text) for o in opinions] == [(first.id, "expert-a", "修改"),
                                                                       (second.id, "expert-b", "同意")]
            (audit,) = (await session.execute(select(AuditEntry))).scalars().all()
            assert (audit.data, audit.at) == ({"n": 1}, now)
    finally:
        await db.dispose()
        await database_factory.drop(url)
