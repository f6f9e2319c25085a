"""The webhook dispatcher: the outbox's dispatcher (`shared.outbox.Dispatcher`: batches, leases,
backoff with full jitter or `Retry-After`, the fenced outcome write, `run_forever`) with its own claim
and delivery.

- Claim: the due pending deliveries whose subscription is active and which have no earlier pending
  delivery of the same subscription (per-subscription order by change sequence: a retried change holds
  back the later ones), `FOR UPDATE SKIP LOCKED` on PostgreSQL, inside `BEGIN IMMEDIATE` on SQLite.
  Unlike the outbox, a dead delivery does not block its subscription: a receiver that refuses one change
  still receives the next ones, and the dead one waits in the log for a replay.
- Delivery: the SSRF guard again (the name may resolve elsewhere now), then a POST to one of the
  addresses just checked (Host and TLS SNI of the URL's host), signed per Standard Webhooks with every
  secret that signs now. Redirects are not followed.
- Outcomes: 2xx → delivered; connection errors, timeouts, 408, 429, 5xx and a name that does not
  resolve → retried (backoff with full jitter, or `Retry-After`) until `max_attempts` or `retry_window`
  → dead; 410 Gone → the subscription is disabled (reason recorded) and its pending deliveries
  `disabled`; any other status (3xx, 4xx) or an address the guard refuses → dead."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from sqlalchemy import and_, exists, func, literal_column, or_, select, true, update
from sqlalchemy.orm import aliased
from sqlalchemy.sql.expression import ColumnClause

from shared.db import Database, utcnow
from shared.outbox import MAX_ERROR_CHARS, RETRY_STATUSES, Dispatcher
from shared.peers import retry_after_seconds
from shared.webhooks.models import (
    DEAD,
    DELIVERED,
    DISABLED,
    PENDING,
    WebhookModels,
    WebhookSettings,
    signing_secrets,
)
from shared.webhooks.signing import signature_headers
from shared.webhooks.store import disable_subscription
from shared.webhooks.urls import Resolver, UnsafeCallbackUrl, check_callback_url, pinned_request_url, system_resolver

MAX_RESPONSE_BYTES = 8192  # of a receiver's answer kept in last_error (the rest is not read)
_PENDING_SQL: ColumnClause[str] = literal_column(f"'{PENDING}'")
log = structlog.get_logger("webhooks")


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    seq: int
    id: str
    webhook_id: str
    subscription_id: str
    event_type: str
    body: str
    attempts: int
    window_start: dt.datetime  # where the retry window starts: the latest replay, else the fan-out
    url: str
    secrets: tuple[str, ...]
    deadline: float

    @property
    def destination(self) -> str:  # what the outbox dispatcher's log lines name
        return f"subscription:{self.subscription_id}"


class WebhookDispatcher(Dispatcher):
    """Claims due deliveries in batches and POSTs them, signed. `client`: an httpx.AsyncClient of your
    own (tests), else one is made (no redirects, no proxies from the environment, `timeout`)."""

    def __init__(
        self,
        db: Database,
        models: WebhookModels,
        *,
        client: httpx.AsyncClient | None = None,
        allow_private: bool = False,
        resolver: Resolver = system_resolver,
        timeout: float = 15.0,
        user_agent: str = "hitech-zones-webhooks/1",
        worker_id: str | None = None,
        batch_size: int = 50,
        concurrency: int = 16,
        lease_seconds: float = 60.0,
        base_delay: float = 5.0,
        max_delay: float = 6 * 3600.0,
        max_retry_after: float = 24 * 3600.0,
        max_attempts: int | None = 40,
        retry_window: float | dt.timedelta | None = dt.timedelta(days=3),
    ) -> None:
        super().__init__(db, models.delivery, {}, worker_id=worker_id, batch_size=batch_size,
                         concurrency=concurrency, lease_seconds=lease_seconds, base_delay=base_delay,
                         max_delay=max_delay, max_retry_after=max_retry_after, max_attempts=max_attempts,
                         retry_window=retry_window)
        self.models = models
        self.allow_private = allow_private
        self.resolver = resolver
        self.user_agent = user_agent
        self._own_client = client is None
        self.client = client or httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False)
        self.log = log.bind(worker=self.worker_id)

    @classmethod
    def from_settings(cls, db: Database, models: WebhookModels, settings: WebhookSettings,
                      **kwargs: Any) -> WebhookDispatcher:
        """A dispatcher configured by the service's `WebhookSettings` fields (kwargs override)."""
        options: dict[str, Any] = {
            "allow_private": settings.webhook_allow_private_urls,
            "timeout": settings.webhook_timeout_seconds,
            "retry_window": dt.timedelta(hours=settings.webhook_retry_window_hours),
            "lease_seconds": max(60.0, settings.webhook_timeout_seconds * 4),
        }
        options.update(kwargs)
        return cls(db, models, **options)

    async def aclose(self) -> None:
        if self._own_client:
            await self.client.aclose()

    async def __aenter__(self) -> WebhookDispatcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------------------------ claim

    async def claim(self) -> list[ClaimedDelivery]:  # type: ignore[override]
        """Lease up to `batch_size` heads of subscriptions that are due; one short write transaction."""
        m, s = self.models.delivery, self.models.subscription
        earlier = aliased(m)
        now = utcnow()
        candidates = (
            select(m.seq)
            .where(
                m.state == _PENDING_SQL,
                m.next_attempt_at <= now,
                or_(m.lease_until.is_(None), m.lease_until <= now),
                ~exists().where(and_(earlier.subscription_id == m.subscription_id, earlier.seq < m.seq,
                                     earlier.state == _PENDING_SQL)),
                exists().where(and_(s.id == m.subscription_id, s.active == true())),
            )
            .order_by(m.seq)
            .limit(self.batch_size)
        )
        if self.db.dialect == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True, of=m)
        statement = (
            update(m)
            .where(m.seq.in_(candidates.scalar_subquery()))
            .values(lease_until=now + self.lease, leased_by=self.worker_id, attempts=m.attempts + 1,
                    last_attempt_at=now)
            .returning(m.seq, m.id, m.webhook_id, m.subscription_id, m.event_type, m.body, m.attempts,
                       func.coalesce(m.replayed_at, m.created_at).label("window_start"))
            .execution_options(synchronize_session=False)
        )
        deadline = asyncio.get_running_loop().time() + self.lease.total_seconds() * 0.9
        async with self.db.transaction(write=True) as session:
            rows = (await session.execute(statement)).all()
            if not rows:
                return []
            subscriptions = {
                sub.id: sub for sub in (await session.execute(
                    select(s).where(s.id.in_({row.subscription_id for row in rows}))
                )).scalars()
            }
        claimed = [ClaimedDelivery(**row._mapping, url=subscriptions[row.subscription_id].url,
                                   secrets=tuple(signing_secrets(subscriptions[row.subscription_id], now)),
                                   deadline=deadline) for row in rows]
        return sorted(claimed, key=lambda c: c.seq)

    # --------------------------------------------------------------------------------- delivery

    async def deliver(self, message: ClaimedDelivery) -> None:  # type: ignore[override]
        """Check the URL, sign, POST, and record the outcome."""
        async with self._semaphore:
            status: int | None = None
            error: str | None = None
            retry_after: float | None = None
            transient = True
            try:
                async with asyncio.timeout_at(message.deadline):
                    status, error, retry_after = await self._post(message)
                transient = status in RETRY_STATUSES or status >= 500
            except UnsafeCallbackUrl as exc:
                transient = exc.transient
                error = f"callback URL refused ({exc.reason}): {exc}"
            except (httpx.HTTPError, OSError, TimeoutError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # a bug: keep the delivery, retry later
                self.log.exception("webhook delivery crashed", delivery_id=message.id)
                error = f"{type(exc).__name__}: {exc}"

            if status is not None and 200 <= status < 300:
                await self._record(message, DELIVERED, status, None, None)  # type: ignore[arg-type]
            elif status == 410:
                await self._gone(message, error)
            elif transient:
                outcome = PENDING if self._may_retry(message) else DEAD  # type: ignore[arg-type]
                await self._record(message, outcome, status, error, retry_after)  # type: ignore[arg-type]
            else:
                await self._record(message, DEAD, status, error, None)  # type: ignore[arg-type]

    async def _post(self, message: ClaimedDelivery) -> tuple[int, str | None, float | None]:
        """One attempt: (status, the answer's text when not 2xx, Retry-After seconds)."""
        target = await check_callback_url(message.url, allow_private=self.allow_private, resolver=self.resolver)
        body = message.body.encode()
        headers = {
            "content-type": "application/json",
            "user-agent": self.user_agent,
            "host": target.url.netloc.decode("ascii"),
            **signature_headers(message.webhook_id, body, message.secrets),
        }
        extensions = {"sni_hostname": target.host} if target.url.scheme == "https" else {}
        last_error: Exception | None = None
        for address in target.addresses:  # each checked address in turn, until one connects
            request = self.client.build_request("POST", pinned_request_url(target, address), content=body,
                                                headers=headers, extensions=extensions)
            try:
                response = await self.client.send(request, stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                last_error = exc
                continue
            try:
                text = None
                if not response.is_success:
                    kept = b""
                    async for chunk in response.aiter_raw():
                        kept += chunk
                        if len(kept) >= MAX_RESPONSE_BYTES:
                            break
                    text = kept[:MAX_RESPONSE_BYTES].decode("utf-8", "replace")
                return response.status_code, text, retry_after_seconds(response)
            finally:
                await response.aclose()
        assert last_error is not None
        raise last_error

    async def _gone(self, message: ClaimedDelivery, error: str | None) -> None:
        """410 Gone: this delivery and the subscription's other pending ones `disabled`, the subscription
        inactive with the reason; fenced by our lease like every outcome."""
        m = self.models.delivery
        now = utcnow()
        reason = f"410 Gone from {message.url} at {now.isoformat()}"
        async with self.db.transaction(write=True) as session:
            result = await session.execute(
                update(m)
                .where(m.seq == message.seq, m.state == PENDING, m.leased_by == self.worker_id,
                       m.attempts == message.attempts)
                .values(state=DISABLED, lease_until=None, last_status=410,
                        last_error=(error or reason)[:MAX_ERROR_CHARS])
                .execution_options(synchronize_session=False))
            if result.rowcount == 1:  # type: ignore[attr-defined]
                await disable_subscription(session, self.models, message.subscription_id, reason)
        self.log.warning("webhook subscription disabled", subscription_id=message.subscription_id, reason=reason)


