"""Transactional outbox, one implementation (contracts: Outbox). Used by workflow and scoring.

Rules it implements:
- `enqueue()` adds the message row in the caller's transaction (never commits): the effect and its
  announcement commit or roll back together. The message `id` is the peer's `event_id` /
  `Idempotency-Key`; the body is sent exactly as enqueued.
- Order is per aggregate (e.g. "application:42"), by `seq`. A dispatcher claims only the head of an
  aggregate: the oldest message not yet delivered, when it is pending, due (`next_attempt_at <= now`)
  and not under a live lease. So one aggregate never has two deliveries in flight, and a `dead`
  message blocks the rest of its aggregate until `replay()` puts it back (or someone discards it by
  hand): later messages of that aggregate may depend on it.
- Claiming is one `UPDATE … WHERE seq IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING …` on
  PostgreSQL, the same UPDATE … RETURNING inside `BEGIN IMMEDIATE` on SQLite; it sets a lease
  (`lease_until`, `leased_by`) and counts the attempt. Any number of dispatchers may run.
- Outcomes: 2xx → `delivered`; connection errors, timeouts, 408, 429 and 5xx → retried at
  `next_attempt_at` with exponential backoff and full jitter (or after `Retry-After`), until
  `max_attempts` or `retry_window` is exhausted → `dead`; any other status → `dead` at once, with the
  peer's answer (its problem body) in `last_error`. One 4xx is transient by the Idempotency-Key
  contract and is retried: 409 `idempotency-key-in-flight` (an earlier attempt still running there).
- The retry window is counted from the enqueue, or from the latest `replay()` (`replayed_at`): a
  message replayed after its window ran out gets a whole window again, not one attempt.
- The dispatcher's own backoff does the retrying: give it peer clients with `retries=0` (a client
  with retries adds its short in-call retries first, which is harmless but slower to give up).
- Delivery is at least once: a worker that dies or outlives its lease lets another worker send the
  message again with the same Idempotency-Key, which the peer answers from its idempotency store.
  Keep `lease_seconds` above the peer client's worst case (timeouts × retries); a delivery is cut
  off at 90 % of the lease, counted from the claim.
- `seq` is assigned at insert, not at commit: on PostgreSQL two transactions touching the same
  aggregate must serialise on the aggregate's row (change it, which locks it, before `enqueue`) so
  that `seq` order within an aggregate is commit order. SQLite serialises all writers anyway."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import random
import socket
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import structlog
from sqlalchemy import (
    BigInteger,
    Index,
    Integer,
    String,
    Text,
    and_,
    exists,
    func,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, aliased, declared_attr, mapped_column
from sqlalchemy.sql.expression import ColumnClause

from shared.db import Database, PortableJSON, UTCDateTime, utcnow
from shared.logging import request_id_var
from shared.peers import is_in_flight, retry_after_seconds
from shared.rows import Adds

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
# States inlined as SQL literals in the claim, so PostgreSQL's generic plans can use the partial indexes.
_PENDING_SQL: ColumnClause[str] = literal_column(f"'{PENDING}'")
_DELIVERED_SQL: ColumnClause[str] = literal_column(f"'{DELIVERED}'")
RETRY_STATUSES = frozenset({408, 429})  # and every 5xx
MAX_ERROR_CHARS = 8000

log = structlog.get_logger("outbox")


class OutboxMessageMixin:
    """Columns of a service's `outbox_messages` table. Declare it with
    `class OutboxMessage(OutboxMessageMixin, Base): __tablename__ = "outbox_messages"`."""

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        table = cls.__tablename__  # type: ignore[attr-defined]
        undelivered = text("state <> 'delivered'")
        pending = text("state = 'pending'")
        return (
            # the head-of-aggregate test (is there an earlier undelivered message?) reads only this
            Index(f"ix_{table}_undelivered", "aggregate", "seq",
                  postgresql_where=undelivered, sqlite_where=undelivered),
            # the claim's scan of pending messages in seq order (delivered rows are never read)
            Index(f"ix_{table}_pending", "seq", postgresql_where=pending, sqlite_where=pending),
            {"sqlite_autoincrement": True},  # never reuse a seq
        )

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                     autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    aggregate: Mapped[str] = mapped_column(String(200), index=True)
    destination: Mapped[str] = mapped_column(String(50))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(500))
    body: Mapped[Any] = mapped_column(PortableJSON, nullable=True)
    state: Mapped[str] = mapped_column(String(10), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    leased_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    replayed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)  # restarts the window


def enqueue(session: AsyncSession | Adds, model: type[Any], *, aggregate: str, destination: str, method: str,
            path: str, body: Any, message_id: str | None = None) -> str:
    """Add a message in the caller's transaction (no flush, no commit); returns its id."""
    json.dumps(body)  # fail here, in the caller's request, rather than at flush
    now = utcnow()
    message_id = message_id or str(uuid.uuid4())
    session.add(model(id=message_id, aggregate=aggregate, destination=destination, method=method.upper(),
                      path=path, body=body, state=PENDING, attempts=0, next_attempt_at=now, created_at=now))
    return message_id


# ------------------------------------------------------------------------------ dead letters


async def list_dead(session: AsyncSession, model: type[Any], *, destination: str | None = None,
                    limit: int = 100) -> Sequence[Any]:
    """Dead messages, oldest first (each blocks its aggregate)."""
    query = select(model).where(model.state == DEAD)
    if destination is not None:
        query = query.where(model.destination == destination)
    return (await session.execute(query.order_by(model.seq).limit(limit))).scalars().all()


async def replay(session: AsyncSession, model: type[Any], message_id: str) -> Any | None:
    """Put a dead message back to pending, due now, attempts reset and the retry window restarted
    (`replayed_at`; body unchanged, same id). Returns the message, or None when no dead message has
    this id. The caller commits."""
    message = (await session.execute(
        select(model).where(model.id == message_id, model.state == DEAD).with_for_update()
    )).scalar_one_or_none()
    if message is None:
        return None
    now = utcnow()
    message.state = PENDING
    message.attempts = 0
    message.next_attempt_at = now
    message.replayed_at = now  # the retry window starts again
    message.lease_until = None
    await session.flush()
    return message


async def deliveries(session: AsyncSession, model: type[Any], aggregate: str) -> Sequence[Any]:
    """Every message of one aggregate, in order, whatever its state."""
    return (await session.execute(
        select(model).where(model.aggregate == aggregate).order_by(model.seq)
    )).scalars().all()


# -------------------------------------------------------------------------------- dispatcher


class PeerLike(Protocol):
    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response: ...


@dataclass(frozen=True, slots=True)
class Claimed:
    seq: int
    id: str
    aggregate: str
    destination: str
    method: str
    path: str
    body: Any
    attempts: int
    window_start: dt.datetime  # where the retry window starts: the latest replay, else the enqueue
    deadline: float = 0.0  # event-loop time by which the delivery must end (90 % of the lease)


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Dispatcher:
    """Claims due messages in batches and delivers them to `peers[destination]`.

    Deliveries of one batch run concurrently (at most `concurrency` at once); a batch never holds two
    messages of one aggregate. `max_attempts` and `retry_window` (seconds since the enqueue or the
    latest replay) bound the retries; None disables either."""

    def __init__(
        self,
        db: Database,
        model: type[Any],
        peers: Mapping[str, PeerLike],
        *,
        worker_id: str | None = None,
        batch_size: int = 50,
        concurrency: int = 16,
        lease_seconds: float = 60.0,
        base_delay: float = 1.0,
        max_delay: float = 300.0,
        max_retry_after: float = 3600.0,
        max_attempts: int | None = None,
        retry_window: float | dt.timedelta | None = None,
    ) -> None:
        self.db = db
        self.model = model
        self.peers = peers
        self.worker_id = worker_id or default_worker_id()
        self.batch_size = batch_size
        self.lease = dt.timedelta(seconds=lease_seconds)
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_retry_after = max_retry_after
        self.max_attempts = max_attempts
        self.retry_window = (dt.timedelta(seconds=retry_window) if isinstance(retry_window, int | float)
                             else retry_window)
        self._semaphore = asyncio.Semaphore(concurrency)
        self.log = log.bind(worker=self.worker_id)

    # ------------------------------------------------------------------------------------ claim

    async def claim(self) -> list[Claimed]:
        """Lease up to `batch_size` heads of aggregates that are due; one short write transaction."""
        m = self.model
        earlier = aliased(m)
        now = utcnow()
        candidates = (
            select(m.seq)
            .where(
                m.state == _PENDING_SQL,
                m.next_attempt_at <= now,
                or_(m.lease_until.is_(None), m.lease_until <= now),
                ~exists().where(and_(earlier.aggregate == m.aggregate, earlier.seq < m.seq,
                                     earlier.state != _DELIVERED_SQL)),
            )
            .order_by(m.seq)
            .limit(self.batch_size)
        )
        if self.db.dialect == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True)
        statement = (
            update(m)
            .where(m.seq.in_(candidates.scalar_subquery()))
            .values(lease_until=now + self.lease, leased_by=self.worker_id, attempts=m.attempts + 1)
            .returning(m.seq, m.id, m.aggregate, m.destination, m.method, m.path, m.body, m.attempts,
                       func.coalesce(m.replayed_at, m.created_at).label("window_start"))
            .execution_options(synchronize_session=False)
        )
        deadline = asyncio.get_running_loop().time() + self.lease.total_seconds() * 0.9
        async with self.db.transaction(write=True) as session:
            rows = (await session.execute(statement)).all()
        return sorted((Claimed(**row._mapping, deadline=deadline) for row in rows), key=lambda c: c.seq)

    # ------------------------------------------------------------------------------ deliveries

    async def run_once(self) -> int:
        """Claim one batch and deliver it; returns the number of messages processed."""
        batch = await self.claim()
        if batch:
            await asyncio.gather(*(self.deliver(message) for message in batch))
        return len(batch)

    async def run_forever(self, poll_interval: float = 1.0, stop_event: asyncio.Event | None = None) -> None:
        """Loop until `stop_event` is set: a batch that processed anything is followed at once by the
        next (its deliveries may have freed the next heads), an empty one waits `poll_interval`.
        A failing database is logged and retried with backoff."""
        stop = stop_event or asyncio.Event()
        failures = 0
        while not stop.is_set():
            try:
                processed = await self.run_once()
                failures = 0
            except Exception:
                failures += 1
                self.log.exception("outbox batch failed", failures=failures)
                processed = 0
            if processed:
                continue
            delay = poll_interval if not failures else min(self.max_delay, poll_interval * 2 ** min(failures, 10))
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
            except TimeoutError:
                pass

    async def deliver(self, message: Claimed) -> None:
        """Send one claimed message (its id as Idempotency-Key) and record the outcome."""
        async with self._semaphore:
            status: int | None = None
            error: str | None = None
            retry_after: float | None = None
            transient = True  # no answer at all counts as transient
            peer = self.peers.get(message.destination)
            if peer is None:
                await self._record(message, DEAD, None, f"no peer named {message.destination!r}", None)
                return
            token = request_id_var.set(message.id)  # the peer logs the message id as the request id
            try:
                async with asyncio.timeout_at(message.deadline):
                    response = await peer.request(
                        message.method, message.path,
                        json=message.body,
                        headers={"Idempotency-Key": message.id},
                    )
                status = response.status_code
                retry_after = retry_after_seconds(response)
                transient = status in RETRY_STATUSES or status >= 500 or is_in_flight(response)
                if not response.is_success:
                    error = response.text
            except (httpx.HTTPError, OSError, TimeoutError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # a bug or a misconfigured peer: keep the message, retry later
                self.log.exception("outbox delivery crashed", message_id=message.id)
                error = f"{type(exc).__name__}: {exc}"
            finally:
                request_id_var.reset(token)

            if status is not None and 200 <= status < 300:
                outcome = DELIVERED
            elif transient:
                outcome = PENDING if self._may_retry(message) else DEAD
            else:
                outcome = DEAD
            await self._record(message, outcome, status, error, retry_after)

    def _may_retry(self, message: Claimed) -> bool:
        if self.max_attempts is not None and message.attempts >= self.max_attempts:
            return False
        return not (self.retry_window is not None and utcnow() - message.window_start >= self.retry_window)

    def backoff(self, attempts: int, retry_after: float | None = None) -> float:
        """Seconds until the next attempt: `Retry-After` when given (capped), else full jitter."""
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** max(attempts - 1, 0)))

    async def _record(self, message: Claimed, outcome: str, status: int | None, error: str | None,
                      retry_after: float | None) -> None:
        """Write the outcome, fenced by our lease (worker id and attempt number): a worker whose lease
        was taken over does not overwrite the newer attempt."""
        m = self.model
        now = utcnow()
        values: dict[str, Any] = {"state": outcome, "lease_until": None, "last_status": status,
                                  "last_error": error[:MAX_ERROR_CHARS] if error else None}
        if outcome == DELIVERED:
            values["delivered_at"] = now
        elif outcome == PENDING:
            values["next_attempt_at"] = now + dt.timedelta(seconds=self.backoff(message.attempts, retry_after))
        statement = (
            update(m)
            .where(m.seq == message.seq, m.state == PENDING, m.leased_by == self.worker_id,
                   m.attempts == message.attempts)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        async with self.db.transaction(write=True) as session:
            result = await session.execute(statement)
        if result.rowcount != 1:  # type: ignore[attr-defined]
            self.log.warning("outbox lease lost", message_id=message.id, outcome=outcome)
        elif outcome != DELIVERED:
            self.log.info("outbox delivery failed", message_id=message.id, destination=message.destination,
                          status=status, outcome=outcome, attempts=message.attempts)
