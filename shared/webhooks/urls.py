"""The SSRF guard for callback URLs, checked when a subscription is made and again before every
attempt (a name may resolve elsewhere later: DNS rebinding). The dispatcher then connects to one of the
addresses checked here, never to a fresh resolution.

A URL is accepted when it is http(s), has a host and no credentials, and EVERY address its host
resolves to is public, i.e. none is private, loopback, link-local, shared (100.64/10), reserved,
multicast or unspecified, including IPv4 embedded in IPv6 (mapped, 6to4, NAT64). `allow_private=True`
(the embedded default and the tests) accepts private, loopback and link-local addresses; unspecified
and multicast addresses are refused whatever the setting."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import httpx

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UnsafeCallbackUrl(ValueError):
    """A callback URL refused; `reason` is a stable slug. `transient` when only the resolution failed
    (at delivery time that is retried, not a verdict on the URL)."""

    def __init__(self, reason: str, detail: str, *, transient: bool = False) -> None:
        super().__init__(detail)
        self.reason = reason
        self.transient = transient


@dataclass(frozen=True, slots=True)
class CallbackTarget:
    url: httpx.URL
    host: str  # as written in the URL (IDNA-encoded), for the Host header and TLS SNI
    port: int
    addresses: tuple[str, ...]  # every address the host resolved to, all checked


async def system_resolver(host: str, port: int) -> Sequence[str]:
    """Every address of `host` (A and AAAA) through the event loop's getaddrinfo."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_problem(address: IPAddress, *, allow_private: bool) -> str | None:
    """Why this address may not be called back, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            address = ipaddress.IPv6Address(str(address).split("%", 1)[0])
        inner = _embedded_ipv4(address)
        if inner is not None:
            why = address_problem(inner, allow_private=allow_private)
            return f"{why} (embedded in {address})" if why else None
    if address.is_unspecified:
        return f"{address} is unspecified"
    if address.is_multicast:
        return f"{address} is multicast"
    if allow_private:
        return None
    for label, flag in (("loopback", address.is_loopback), ("link-local", address.is_link_local),
                        ("private", address.is_private), ("reserved", address.is_reserved)):
        if flag:
            return f"{address} is {label}"
    if not address.is_global:
        return f"{address} is not a public address"
    return None


def parse_callback_url(url: str) -> tuple[httpx.URL, str, int]:
    """Syntax only: the URL, its host and port (refuses other schemes, credentials, a missing host)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise UnsafeCallbackUrl("invalid-url", f"not a URL: {exc}") from None
    if parsed.scheme not in ("http", "https"):
        raise UnsafeCallbackUrl("scheme", "a callback URL is http or https")
    if not parsed.host:
        raise UnsafeCallbackUrl("no-host", "a callback URL names a host")
    if parsed.userinfo:
        raise UnsafeCallbackUrl("credentials", "a callback URL carries no user name or password")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return parsed, parsed.host, port


async def check_callback_url(url: str, *, allow_private: bool = False,
                             resolver: Resolver = system_resolver) -> CallbackTarget:
    """Resolve the URL's host with `resolver` and check every address; raises `UnsafeCallbackUrl`."""
    parsed, host, port = parse_callback_url(url)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        raw: Sequence[str] = [str(literal)]
    else:
        try:
            raw = await resolver(host, port)
        except (OSError, UnicodeError) as exc:
            raise UnsafeCallbackUrl("unresolvable", f"{host} does not resolve: {exc}", transient=True) from None
        if not raw:
            raise UnsafeCallbackUrl("unresolvable", f"{host} resolves to no address", transient=True)
    addresses: list[str] = []
    for text in raw:
        try:
            address = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            raise UnsafeCallbackUrl("unresolvable", f"{host} resolved to {text!r}, not an address") from None
        why = address_problem(address, allow_private=allow_private)
        if why is not None:
            raise UnsafeCallbackUrl("private-address", f"{host} resolves to a refused address: {why}")
        addresses.append(str(address))
    return CallbackTarget(parsed, host, port, tuple(addresses))


def pinned_request_url(target: CallbackTarget, address: str) -> httpx.URL:
    """The URL with its host replaced by a checked address (send Host and SNI for the original host)."""
    return target.url.copy_with(host=address)
