"""The client for service-to-service calls (contracts: tokens, Idempotency-Key).

Rules it implements:
- timeouts: connect 3 s, read/write/pool 10 s by default (`timeout=` overrides);
- every request carries `Authorization: Bearer <service token>` (a fixed token or a provider called
  per attempt, so a refreshed token is picked up) and `X-Request-ID` from `shared.logging.request_id_var`;
- retries with exponential backoff and full jitter (tenacity) on connection errors, timeouts and
  502/503/504, and on 429/503 after `Retry-After` (capped at `max_retry_after`); also on the peer's
  409 `idempotency-key-in-flight` (the same key is still being processed there):
  GET/HEAD/OPTIONS/PUT/DELETE always; POST/PATCH only when the caller sends an `Idempotency-Key`
  (a connect error or pool timeout is retried for any method: the request never left);
- the last response is returned as is (a 503 after the last retry is a 503, not an exception);
  `json_or_raise()` turns a non-2xx answer into a typed `PeerError` carrying the problem body."""

from __future__ import annotations

import datetime as dt
import email.utils
import inspect
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx
from tenacity import AsyncRetrying, RetryCallState, stop_after_attempt, wait_random_exponential

from shared.logging import request_id_var

TokenProvider = Callable[[], "str | Awaitable[str]"]

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=3.0)
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
RETRY_STATUSES = frozenset({429, 502, 503, 504})
# Errors raised before any byte of the request was sent: safe to retry whatever the method.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Errors that may come after the peer received the request.
_MAYBE_SENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


class PeerError(Exception):
    """A peer answered with a non-2xx status; `problem` is its problem+json body (or text)."""

    def __init__(self, status: int, problem: Any, *, method: str | None = None, url: str | None = None) -> None:
        self.status = status
        self.problem = problem
        self.method = method
        self.url = url
        detail = problem.get("detail") if isinstance(problem, dict) else problem
        super().__init__(f"{method or ''} {url or ''} → {status}: {detail}".strip())

    @property
    def code(self) -> str | None:
        """The problem's stable `code` slug, when the peer sent one."""
        return self.problem.get("code") if isinstance(self.problem, dict) else None

    @classmethod
    def from_response(cls, response: httpx.Response) -> PeerError:
        try:
            problem: Any = response.json()
        except ValueError:
            problem = response.text
        try:
            request: httpx.Request | None = response.request
        except RuntimeError:  # a response built by hand, without its request
            request = None
        return cls(response.status_code, problem,
                   method=request.method if request else None, url=str(request.url) if request else None)


def raise_for_problem(response: httpx.Response) -> httpx.Response:
    """Return the response when it is 2xx, else raise `PeerError`."""
    if not response.is_success:
        raise PeerError.from_response(response)
    return response


def json_or_raise(response: httpx.Response) -> Any:
    """The decoded JSON body of a 2xx answer (None when empty), else `PeerError`."""
    raise_for_problem(response)
    if not response.content:
        return None
    return response.json()


def retry_after_seconds(response: httpx.Response, *, now: dt.datetime | None = None) -> float | None:
    """`Retry-After` as seconds (delta-seconds or an HTTP-date); None when absent or unparsable."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - (now or dt.datetime.now(dt.UTC))).total_seconds()
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


IN_FLIGHT_CODE = "idempotency-key-in-flight"  # shared/idempotency.py: same key still being processed


def is_in_flight(response: httpx.Response) -> bool:
    """The peer's 409 for an Idempotency-Key whose first request is still running: retry later."""
    if response.status_code != 409:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("code") == IN_FLIGHT_CODE


def is_retry_safe(method: str, headers: httpx.Headers) -> bool:
    """Idempotent methods always; POST/PATCH only with an Idempotency-Key."""
    return method.upper() in IDEMPOTENT_METHODS or "idempotency-key" in headers


class PeerClient:
    """An `httpx.AsyncClient` for one peer, with the house's timeouts, retries, token and request id.

    `auth` is the bearer token or a callable (sync or async) returning it. `retries` is the number of
    retries after the first attempt (0 disables them). `transport` lets tests inject
    `httpx.MockTransport`."""

    def __init__(
        self,
        base_url: str,
        auth: str | TokenProvider | None = None,
        *,
        timeout: httpx.Timeout | float | None = None,
        retries: int = 2,
        backoff: float = 0.2,
        max_backoff: float = 2.0,
        max_retry_after: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        limits: httpx.Limits | None = None,
    ) -> None:
        if retries < 0:
            raise ValueError("retries must be >= 0")
        self.base_url = base_url
        self._auth = auth
        self.retries = retries
        self.max_retry_after = max_retry_after
        self._jitter = wait_random_exponential(multiplier=backoff, max=max_backoff)
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
            transport=transport,
            headers=dict(headers or {}),
            # as many connections as are kept alive: past 20 in flight a request waits for one (pool timeout)
            # instead of opening a connection that is closed after its one request
            limits=limits or httpx.Limits(max_connections=20, max_keepalive_connections=20),
            follow_redirects=False,
        )

    # ---------------------------------------------------------------------------------- plumbing

    async def _token(self) -> str | None:
        if self._auth is None or isinstance(self._auth, str):
            return self._auth
        token = self._auth()
        if inspect.isawaitable(token):
            token = await token
        return token

    def _wait(self, state: RetryCallState) -> float:
        outcome = state.outcome
        if outcome is not None and not outcome.failed:
            response: httpx.Response = outcome.result()
            after = retry_after_seconds(response)
            if after is not None and response.status_code in (409, 429, 503):
                return min(after, self.max_retry_after)
        return float(self._jitter(state))

    @staticmethod
    def _should_retry(retry_safe: bool) -> Callable[[RetryCallState], bool]:
        def predicate(state: RetryCallState) -> bool:
            outcome = state.outcome
            if outcome is None:
                return False
            if outcome.failed:
                exc = outcome.exception()
                if isinstance(exc, _NOT_SENT):
                    return True
                return retry_safe and isinstance(exc, _MAYBE_SENT)
            response = outcome.result()
            return retry_safe and (response.status_code in RETRY_STATUSES or is_in_flight(response))

        return predicate

    async def _send_once(self, request: httpx.Request) -> httpx.Response:
        token = await self._token()
        if token is not None:
            request.headers["Authorization"] = f"Bearer {token}"
        return await self._client.send(request)

    # ------------------------------------------------------------------------------------- verbs

    async def request(self, method: str, url: str, *, headers: Mapping[str, str] | None = None,
                      **kwargs: Any) -> httpx.Response:
        """Send one request (with retries as above); returns the last response whatever its status."""
        method = method.upper()
        request = self._client.build_request(method, url, headers=headers, **kwargs)
        request_id = request_id_var.get()
        if request_id and "x-request-id" not in request.headers:
            request.headers["X-Request-ID"] = request_id
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retries + 1),
            wait=self._wait,
            retry=self._should_retry(is_retry_safe(method, request.headers)),
            # after the last attempt: hand back the last response, or re-raise the last error
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
        )
        return await retrying(self._send_once, request)  # type: ignore[no-any-return]

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", url, **kwargs)

    async def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("PUT", url, **kwargs)

    async def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("PATCH", url, **kwargs)

    async def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("DELETE", url, **kwargs)

    json_or_raise = staticmethod(json_or_raise)
    raise_for_problem = staticmethod(raise_for_problem)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> PeerClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
