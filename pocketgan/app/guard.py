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

A body that ends before it is complete (fewer bytes than its Content-Length, the client gone, or a
multipart body that never reaches its closing boundary) is :class:`BodyTruncated` (400 "upload ended
early"), never mistaken for a form that lacks the photo's field.

:class:`HostCheck` (outermost in the app) answers only requests whose ``Host`` names the server,
against DNS rebinding: a page on any origin can point a name it controls at 127.0.0.1 and so reach a
server on the user's own machine, but its requests still carry that name. Allowed: ``localhost``
and ``*.localhost`` (browsers resolve them to loopback themselves, so no one else's page can have
them as its origin), loopback addresses (127.0.0.0/8, ::1), the address the connection came in on
(the ASGI ``server``; an IP literal is never a rebound name), and the names the app is given
(:func:`serve_hosts`: the ``--host`` served on, or this machine's name and addresses when bound to
every interface, plus each ``--allowed-host``; ``*`` turns the check off). Any other request gets
421 with one line naming the host and the option that allows it.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import json
import re
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterable
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


class BodyTruncated(Exception):
    """The body ended before it was complete; ``str()`` is the one-line reason for the client."""


def declared_length(header: str | None) -> int | None:
    """The Content-Length a request declares, or None (none, or not a number: ASCII digits only, as
    HTTP has them; ``str.isdigit`` would take '²', which ``int`` then refuses)."""
    header = (header or "").strip()
    return int(header) if header.isascii() and header.isdigit() else None


class BodyWatch:
    """Counts a body's bytes against its declared Content-Length, so that a body which stops short
    (or whose client goes away) is reported as such, with how much arrived."""

    def __init__(self, declared: int | None, limit: int) -> None:
        self.declared = declared
        self.limit = limit
        self.received = 0

    def cut_short(self) -> BodyTruncated:
        if self.declared is not None and self.received < self.declared:
            return BodyTruncated(f"upload ended early: {self.received} of {self.declared} bytes arrived")
        return BodyTruncated(f"upload ended early: the client went away after {self.received} bytes")

    def check(self, message: dict) -> None:
        """Raise for a message that makes the body too large or ends it early."""
        if message["type"] == "http.disconnect":
            raise self.cut_short()
        if message["type"] != "http.request":
            return
        self.received += len(message.get("body", b""))
        if self.received > self.limit:
            raise BodyTooLarge
        if not message.get("more_body", False) and self.declared is not None and self.received < self.declared:
            raise self.cut_short()


@functools.cache
def _closing_aware_parser():
    """Starlette's multipart parser, noting whether the body reached its closing boundary
    (python-multipart calls ``on_end`` there and only there; Starlette ignores it): a body cut
    anywhere before it would otherwise parse as a form that simply lacks its last part."""
    from starlette.formparsers import MultiPartParser

    class ClosingAwareParser(MultiPartParser):
        reached_end = False

        def on_end(self) -> None:
            self.reached_end = True

    return ClosingAwareParser


async def read_body_form(request, limit: int, body_timeout: float, idle_timeout: float):
    """The multipart form of ``request`` (one file, a few fields), refusing as soon as more than
    ``limit`` bytes arrive (BodyTooLarge; a missing or lying Content-Length does not matter), a body
    that is too slow (BodyTimeout: longer than ``body_timeout`` in all, or a pause over
    ``idle_timeout``) and one that ends early (BodyTruncated). A malformed body raises Starlette's
    MultiPartException (its ``message`` is one line)."""
    from starlette.requests import Request

    watch = BodyWatch(declared_length(request.headers.get("content-length")), limit)
    deadline = time.monotonic() + body_timeout

    async def receive():
        left = deadline - time.monotonic()
        if left <= 0:
            raise BodyTimeout(f"the upload did not arrive within {body_timeout:g} s")
        try:
            message = await asyncio.wait_for(request.receive(), min(left, idle_timeout))
        except asyncio.TimeoutError:
            if left <= idle_timeout:
                raise BodyTimeout(f"the upload did not arrive within {body_timeout:g} s") from None
            raise BodyTimeout(f"the upload stalled (nothing received for {idle_timeout:g} s)") from None
        watch.check(message)
        return message

    limited = Request(request.scope, receive)
    async with contextlib.aclosing(limited.stream()) as stream:
        parser = _closing_aware_parser()(limited.headers, stream, max_files=1, max_fields=8)
        form = await parser.parse()
    if not parser.reached_end:
        await form.close()
        raise BodyTruncated(f"upload ended early: {watch.received} bytes arrived, but the multipart body stops "
                            "before its closing boundary")
    return form


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
                with contextlib.suppress(h11.LocalProtocolError):
                    self.conn.send(h11.ConnectionClosed())
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

        def eof_received(self) -> bool | None:
            """The client shut down its sending side. In the middle of a request body, that is where
            the body ends: the app is told so (and answers how much arrived, see BodyWatch) on a
            connection kept open to send the answer. Otherwise the connection closes, as uvicorn's."""
            cycle = self.cycle
            if (cycle is not None and not cycle.response_complete and cycle.more_body
                    and self.conn.their_state is h11.SEND_BODY):
                cycle.more_body = False
                cycle.message_event.set()
                return True
            return super().eof_received()

    GuardedH11Protocol.open_by_client = open_by_client  # for tests and the benchmark
    return GuardedH11Protocol


# ---------------------------------------------------------------- Host check (DNS rebinding)

ANY_HOST = "*"
_NAME = re.compile(r"[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?")  # a DNS name or an IPv4 address, lower case
_PORT = re.compile(r"[0-9]{0,5}")


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """``text`` as an IP address (an IPv4-mapped IPv6 one as its IPv4 address), or None."""
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    return ip.ipv4_mapped or ip if isinstance(ip, ipaddress.IPv6Address) else ip


def parse_host(value: str) -> str | None:
    """The host of a Host header value, port and IPv6 brackets removed, in one canonical spelling
    (a name in lower case without its trailing dot, an address as ``ipaddress`` writes it), or None
    when it is not a host (empty, a bad port, a bare IPv6 address, stray characters)."""
    value = value.strip().lower()
    if value.startswith("["):
        inside, bracket, port = value[1:].partition("]")
        if not bracket or (port and not (port.startswith(":") and _PORT.fullmatch(port[1:]))):
            return None
        try:
            return str(ipaddress.IPv6Address(inside))
        except ValueError:
            return None
    name, _, port = value.partition(":")
    if not _PORT.fullmatch(port):
        return None
    name = name[:-1] if name.endswith(".") else name
    if not _NAME.fullmatch(name):
        return None
    ip = _address(name)
    return str(ip) if ip is not None else name


def canonical_host(text: str) -> str | None:
    """A host name or address as given on the command line (an IPv6 address bare or in brackets; a
    port, if any, dropped: the check is on the name), in :func:`parse_host`'s spelling, or None."""
    text = text.strip()
    canonical = parse_host(text)
    if canonical is None and ":" in text and not text.startswith("["):
        canonical = parse_host(f"[{text}]")
    return canonical


def check_allowed_hosts(hosts: Iterable[str]) -> frozenset[str]:
    """The allowed host names and addresses, canonical (see :func:`canonical_host`; ``*`` stays); a
    one-line ServeError for an entry that is not a host name or address (a URL, say)."""
    allowed = set()
    for host in [hosts] if isinstance(hosts, str) else hosts:
        if host.strip() == ANY_HOST:
            allowed.add(ANY_HOST)
            continue
        canonical = canonical_host(host)
        if canonical is None:
            raise ServeError(f"--allowed-host {host!r} is not a host name or address (give a name such as "
                             "photos.example.org, or '*' to allow any)")
        allowed.add(canonical)
    return frozenset(allowed)


def _is_loopback(host: str) -> bool:
    ip = _address(host)
    return ip.is_loopback if ip is not None else host == "localhost" or host.endswith(".localhost")


def host_allowed(header: str | None, allowed: frozenset[str], server: str | None = None) -> bool:
    """Whether a request whose Host header is ``header`` (None: no header) may be answered: see the
    module docstring. ``allowed``: from :func:`check_allowed_hosts`; ``server``: the address the
    connection came in on (the ASGI scope's ``server`` host), if any."""
    if ANY_HOST in allowed:
        return True
    host = parse_host(header) if header is not None else None
    if host is None:
        return False
    if _is_loopback(host) or host in allowed:
        return True
    ip, own = _address(host), _address(server) if server else None
    return host == server if own is None else ip == own


def machine_names() -> list[str]:
    """This machine's host name and the addresses it resolves to (what a phone on the network may
    type in place of an address), for a server bound to every interface. A name the system cannot
    resolve gives the name alone; anything that is not a valid host is left out."""
    name = socket.gethostname()
    found = [name]
    with contextlib.suppress(OSError, UnicodeError):
        found += [str(info[4][0]).partition("%")[0]  # no IPv6 zone: a Host never carries one
                  for info in socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)]
    names: list[str] = []
    for host in found:
        if canonical_host(host) is not None and host not in names:
            names.append(host)
    return names


def serve_hosts(bind: str, extra: Iterable[str] = ()) -> list[str]:
    """The host names a server bound to ``bind`` answers besides loopback: ``bind`` itself, or, for
    0.0.0.0 / ::, :func:`machine_names`; then ``extra`` (the ``--allowed-host`` names)."""
    own = machine_names() if bind.strip() in ("", "0.0.0.0", "::", "[::]") else [bind]
    return own + [host for host in extra if host not in own]


def refused_host(hosts: list[str]) -> str:
    """The one-line reason a request with these Host header values is refused, with the option that
    allows a name."""
    fix = "allow a name the server is reached by with pocketgan serve --allowed-host NAME"
    if len(hosts) > 1:
        return f"several Host headers: send one, naming the server; {fix}"
    if not hosts or not hosts[0].strip():
        return f"no Host header: this server answers only requests that name it; {fix}"
    host = parse_host(hosts[0])
    shown = "".join(c if c.isprintable() and c.isascii() else "?" for c in (host or hosts[0].strip()))[:100]
    if host is None:
        return f"malformed Host header {shown!r}; {fix}"
    return (f"this server is not reached as {shown!r} (a page on another site may have pointed that name at it); "
            f"if it is its name, start it with --allowed-host {shown}")


class HostCheck:
    """ASGI middleware: requests whose Host the server is not reached by get 421 before anything
    else happens (their body is never read); see :func:`host_allowed`."""

    def __init__(self, app, allowed: frozenset[str]) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket") or ANY_HOST in self.allowed:
            await self.app(scope, receive, send)
            return
        hosts = [value.decode("latin-1") for key, value in scope.get("headers", ()) if key.lower() == b"host"]
        server = scope.get("server")
        own = str(server[0]).lower() if server else None  # a Unix socket's path never matches a Host
        if len(hosts) == 1 and host_allowed(hosts[0], self.allowed, own):
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        else:
            await self._refuse(refused_host(hosts), send)

    @staticmethod
    async def _refuse(message: str, send) -> None:
        body = json.dumps({"error": message}).encode()
        await send({"type": "http.response.start", "status": 421, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"), (b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff")]})
        await send({"type": "http.response.body", "body": body})
