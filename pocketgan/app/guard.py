"""What keeps one client from taking the server's capacity from everyone else.

The translation pool's places (:mod:`pocketgan.app.pool`) are only given to uploads whose whole
body has arrived, so a connection that sends part of an upload and goes quiet holds no place; its
upload is still being *received*, which this module bounds instead:

* :class:`UploadGate` (in the app, for every ASGI server): at most ``uploads_per_client`` uploads
  from one address being received at once (429 beyond), at most ``max_receiving`` in all (503);
* :func:`read_body_form` reads a multipart body with a deadline: the whole body within
  ``body_timeout`` seconds and no pause longer than ``idle_timeout`` (408 otherwise), never more
  than the size limit (413);
* :func:`guarded_h11` (for uvicorn, used by `pocketgan serve`): at most
  ``connections_per_client`` open connections from one address (trusted reverse proxies excepted),
  and a connection must send a complete request line and headers within ``header_timeout``
  seconds of opening (or of its previous response), so idle or slow-header connections cannot pile
  up either.

The address is the ASGI ``client``: behind a trusted reverse proxy (``trusted_proxies``, given to
uvicorn as ``forwarded_allow_ips``) uvicorn has already put the client the proxy forwarded there. The
per-address caps do not apply to the trusted proxies' own addresses (by default loopback): every
client of a proxy that forwards no address shares it, and a local user needs no cap.
"""
from __future__ import annotations

import asyncio
import ipaddress
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from . import ServeError


@dataclass(frozen=True)
class ClientLimits:
    """Per-client and timing limits of the server (see the module docstring)."""

    uploads_per_client: int = 4
    max_receiving: int = 128
    body_timeout: float = 120.0
    idle_timeout: float = 10.0
    connections_per_client: int = 32
    header_timeout: float = 10.0
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")

    def check(self) -> None:
        for name in ("uploads_per_client", "max_receiving", "connections_per_client"):
            if getattr(self, name) < 1:
                raise ServeError(f"{name} must be at least 1 (got {getattr(self, name)})")
        for name in ("body_timeout", "idle_timeout", "header_timeout"):
            value = getattr(self, name)
            if not (value > 0 and value < float("inf")):
                raise ServeError(f"{name} must be a positive number of seconds (got {value})")


class Refused(Exception):
    """An upload refused before its body is read: ``status`` (429/503) and a one-line reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class UploadGate:
    """Counts the uploads being received, per client address and in all. Event-loop thread only."""

    def __init__(self, limits: ClientLimits) -> None:
        self.limits = limits
        self.per_client: Counter[str] = Counter()
        self.receiving = 0
        self.trusted = trusted_addresses(limits.trusted_proxies)

    def enter(self, client: str) -> None:
        """Reserve a receiving place for ``client`` or raise Refused; pair with :meth:`leave`."""
        if not self.trusted(client) and self.per_client[client] >= self.limits.uploads_per_client:
            raise Refused(429, f"too many uploads at once from your address ({self.per_client[client]} still "
                               "arriving); wait for one to finish")
        if self.receiving >= self.limits.max_receiving:
            raise Refused(503, f"server busy: {self.receiving} uploads arriving; retry shortly")
        self.per_client[client] += 1
        self.receiving += 1

    def leave(self, client: str) -> None:
        self.receiving -= 1
        self.per_client[client] -= 1
        if self.per_client[client] <= 0:
            del self.per_client[client]


class BodyTooLarge(Exception):
    pass


class BodyTimeout(Exception):
    pass


async def read_body_form(request, limit: int, body_timeout: float, idle_timeout: float):
    """``request.form()`` (one file, a few fields), refusing as soon as more than ``limit`` bytes
    arrive (BodyTooLarge; a missing or lying Content-Length does not matter) or the body is too slow
    (BodyTimeout: longer than ``body_timeout`` in all, or a pause over ``idle_timeout``)."""
    from starlette.requests import Request

    received = 0
    deadline = time.monotonic() + body_timeout

    async def receive():
        nonlocal received
        left = deadline - time.monotonic()
        if left <= 0:
            raise BodyTimeout(f"the upload did not arrive within {body_timeout:g} s")
        try:
            message = await asyncio.wait_for(request.receive(), min(left, idle_timeout))
        except asyncio.TimeoutError:
            if left <= idle_timeout:
                raise BodyTimeout(f"the upload did not arrive within {body_timeout:g} s") from None
            raise BodyTimeout(f"the upload stalled (nothing received for {idle_timeout:g} s)") from None
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge
        return message

    limited = Request(request.scope, receive)
    return await limited.form(max_files=1, max_fields=8)


def trusted_addresses(addresses) -> Callable[[str], bool]:
    """A predicate for a list of addresses / networks / ``*`` such as uvicorn's ``forwarded_allow_ips``."""
    if addresses is None:
        return lambda host: False
    if isinstance(addresses, str):
        addresses = [a.strip() for a in addresses.split(",")]
    if "*" in addresses:
        return lambda host: True
    networks, names = [], set()
    for a in addresses:
        try:
            networks.append(ipaddress.ip_network(a, strict=False))
        except ValueError:
            names.add(a)

    def trusted(host: str) -> bool:
        if host in names:
            return True
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(ip in n for n in networks)
    return trusted


def guarded_h11(limits: ClientLimits):
    """A uvicorn HTTP protocol class (pass as ``http=``): uvicorn's h11 protocol plus a per-address
    connection cap and a deadline for each request's line and headers (see the module docstring)."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    open_by_client: Counter[str] = Counter()
    is_trusted = trusted_addresses(limits.trusted_proxies)
    body = json.dumps({"error": "too many connections from your address; close some and retry"}).encode()
    refusal = (b"HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nconnection: close\r\n"
               b"retry-after: 2\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)

    class GuardedH11Protocol(H11Protocol):
        _counted: str | None = None
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            host = self.client[0] if self.client else None
            if host is not None and not is_trusted(host):
                self._counted = host
                open_by_client[host] += 1
                if open_by_client[host] > limits.connections_per_client:
                    transport.write(refusal)
                    transport.close()
                    return
            self._arm_header_timer()

        def connection_lost(self, exc) -> None:
            self._cancel_header_timer()
            if self._counted is not None:
                open_by_client[self._counted] -= 1
                if open_by_client[self._counted] <= 0:
                    del open_by_client[self._counted]
                self._counted = None
            super().connection_lost(exc)

        def _waiting_for_request(self) -> bool:
            return self.cycle is None or self.cycle.response_complete

        def _arm_header_timer(self) -> None:
            self._cancel_header_timer()
            self._header_timer = self.loop.call_later(limits.header_timeout, self._header_deadline)

        def _cancel_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _header_deadline(self) -> None:
            self._header_timer = None
            if self._waiting_for_request() and not self.transport.is_closing():
                try:
                    self.conn.send(h11.ConnectionClosed())
                except h11.LocalProtocolError:
                    pass
                self.transport.close()

        def data_received(self, data: bytes) -> None:
            before = self.cycle
            super().data_received(data)
            if self.cycle is not before and not self._waiting_for_request():
                self._cancel_header_timer()  # a complete request arrived: the app's deadlines take over

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self._waiting_for_request() and not self.transport.is_closing():
                self._arm_header_timer()

    GuardedH11Protocol.open_by_client = open_by_client  # for tests and the benchmark
    return GuardedH11Protocol
