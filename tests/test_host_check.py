"""`pocketgan serve` refuses requests whose Host it is not reached by (DNS rebinding).

A page on any origin can point a name it controls at 127.0.0.1 and then call the API of a server
running on the user's laptop; the browser sends that name as Host. The server answers only
localhost (and *.localhost), loopback addresses, the address it is bound to (or this machine's
names when bound to every interface), and names given with ``--allowed-host``; every other request
gets 421 with one line, before any other work. Raw requests over a real socket to uvicorn (as
`pocketgan serve` runs it), plus the pure functions behind the check.
"""
from __future__ import annotations

import asyncio
import io
import json
import socket
import time
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from pocketgan.app import ServeError  # noqa: E402
from pocketgan.app.guard import ClientLimits, HostCheck, check_allowed_hosts, host_allowed, parse_host, serve_hosts  # noqa: E402
from pocketgan.app.server import create_app  # noqa: E402
from pocketgan.cli import main  # noqa: E402
from pocketgan.models.pretrained import save_pretrained  # noqa: E402
from test_hostile_server import serving  # noqa: E402  (uvicorn with serve's protocol on a free port)

LIMITS = ClientLimits(body_timeout=5.0, idle_timeout=2.0, header_timeout=2.0)
PROXY_NAME = "photos.example.org"


@pytest.fixture(scope="module")
def model(tmp_path_factory, expressive_generator) -> Path:
    return save_pretrained(tmp_path_factory.mktemp("hostcheck") / "model",
                           {"G_A": expressive_generator(0), "G_B": expressive_generator(1)})


@pytest.fixture(scope="module")
def served(model):
    """(port, app) of a server that also allows PROXY_NAME."""
    app = create_app(model, max_side=32, workers=1, limits=LIMITS, allowed_hosts=[PROXY_NAME])
    with serving(app, LIMITS) as port:
        yield port, app


@pytest.fixture(scope="module")
def open_server(model):
    """The port of a server started with allowed_hosts=['*'] (the check off)."""
    with serving(create_app(model, max_side=32, workers=1, limits=LIMITS, allowed_hosts=["*"]), LIMITS) as port:
        yield port


def exchange(port: int, request: bytes, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read one response: (status, headers, body); status 0 if closed unanswered."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        data = b""
        s.settimeout(timeout)
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                return 0, {}, b""
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
    return int(lines[0].split()[1]), headers, body


def get(port: int, path: str, host: str | None, version: str = "1.1", extra: str = "") -> tuple[int, dict, bytes]:
    host_line = "" if host is None else f"Host: {host}\r\n"
    return exchange(port, f"GET {path} HTTP/{version}\r\n{host_line}{extra}Connection: close\r\n\r\n".encode())


def assert_refused(status: int, headers: dict, body: bytes, shown: str | None) -> str:
    assert status == 421, body
    assert headers["content-type"] == "application/json" and headers["connection"] == "close"
    assert b"\n" not in body and b"Traceback" not in body
    message = json.loads(body)["error"]
    assert list(json.loads(body)) == ["error"] and "--allowed-host" in message
    if shown is not None:
        assert repr(shown) in message
    return message


# ---------------------------------------------------------------- refused over a real socket

@pytest.mark.parametrize("host, shown", [
    ("evil.example", "evil.example"),
    ("evil.example:{port}", "evil.example"),
    ("127.0.0.1.evil.example", "127.0.0.1.evil.example"),
    ("localhost.evil.example:{port}", "localhost.evil.example"),
    ("EVIL.example", "evil.example"),
    ("10.1.2.3:{port}", "10.1.2.3"),  # an address the server is not reached by
    ("photos.example.org.evil.example", "photos.example.org.evil.example"),
])
@pytest.mark.parametrize("path", ["/api/health", "/api/model", "/", "/models/AtoB-0.onnx", "/app.js"])
def test_forged_hosts_are_refused_on_every_route(served, host, shown, path):
    port, _ = served
    assert_refused(*get(port, path, host.format(port=port)), shown)


def test_missing_or_malformed_host_is_refused(served):
    port, _ = served
    message = assert_refused(*get(port, "/api/health", None, version="1.0"), None)  # HTTP/1.0 may omit Host
    assert "no Host header" in message
    status, _, _ = get(port, "/api/health", None)  # HTTP/1.1 without Host: uvicorn's h11 answers 400 itself
    assert status == 400
    for bad in ("", "localhost:80:80", "[::1", "local host", "localhost:http"):
        status, headers, body = get(port, "/api/health", bad)
        assert status in (400, 421) and b"\n" not in body and b"Traceback" not in body, (bad, body)
        if status == 421:
            assert "--allowed-host" in json.loads(body)["error"]
    status, _, body = get(port, "/api/health", "localhost", extra="Host: evil.example\r\n")  # which one counts?
    assert status in (400, 421) and b"Traceback" not in body


def test_the_check_comes_before_any_work_on_the_request(served):
    """A forged-Host upload declaring 1 GB, whose body never comes, is refused at once: not 413 (the
    size check), not 408 after the idle timeout, and it never took a receiving place."""
    port, app = served
    start = time.perf_counter()
    status, headers, body = exchange(port, b"POST /api/translate HTTP/1.1\r\nHost: evil.example\r\n"
                                           b"Content-Type: multipart/form-data; boundary=x\r\n"
                                           b"Content-Length: 1000000000\r\n\r\n")
    assert_refused(status, headers, body, "evil.example")
    assert time.perf_counter() - start < 1.5 and app.state.gate.receiving == 0


# ---------------------------------------------------------------- accepted over a real socket

@pytest.mark.parametrize("host", ["localhost", "localhost:{port}", "LOCALHOST:{port}", "localhost.:{port}",
                                  "127.0.0.1:{port}", "127.0.0.1", "127.8.9.10:{port}", "[::1]:{port}", "[::1]",
                                  "app.localhost:{port}", PROXY_NAME, f"{PROXY_NAME.upper()}:443"])
def test_the_names_a_server_is_reached_by_are_answered(served, host):
    port, _ = served
    status, _, body = get(port, "/api/health", host.format(port=port))
    assert status == 200 and json.loads(body)["status"] == "ok"


def test_allowed_host_star_turns_the_check_off(open_server):
    for host in ("evil.example", "evil.example:8000", "127.0.0.1.evil.example"):
        status, _, body = get(open_server, "/api/health", host)
        assert status == 200 and json.loads(body)["status"] == "ok"
    assert get(open_server, "/api/health", None, version="1.0")[0] == 200


def test_a_translation_with_a_good_host_still_works(served):
    buf = io.BytesIO()
    Image.new("RGB", (12, 8), (200, 40, 10)).save(buf, "PNG")
    body = (b"--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n"
            + buf.getvalue() + b"\r\n--b--\r\n")
    port, _ = served
    head = (f"POST /api/translate HTTP/1.1\r\nHost: localhost:{port}\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    status, headers, png = exchange(port, head + body, timeout=30)
    assert status == 200 and headers["content-type"] == "image/png" and png.startswith(b"\x89PNG")


# ---------------------------------------------------------------- the pure functions

@pytest.mark.parametrize("value, expected", [
    ("localhost", "localhost"), ("LocalHost:8000", "localhost"), ("localhost.", "localhost"),
    ("localhost:", "localhost"), ("127.0.0.1:80", "127.0.0.1"), ("[::1]:8000", "::1"), ("[0:0::1]", "::1"),
    ("[::ffff:127.0.0.1]", "::ffff:7f00:1"), ("photos.example.org", "photos.example.org"),
    ("", None), ("::1", None), ("[::1", None), ("[nothex]", None), ("localhost:80:80", None), ("host:http", None),
    ("host:123456", None), (":80", None), ("a b", None), ("user@localhost", None), ("x/y", None), ("[::1]x", None),
])
def test_parse_host(value, expected):
    assert parse_host(value) == expected


def test_host_allowed():
    loopback_only = check_allowed_hosts(())
    for host in ("localhost", "a.b.localhost:1", "127.0.0.1", "127.255.0.1:9", "[::1]:8000", "[::ffff:127.0.0.1]"):
        assert host_allowed(host, loopback_only), host
    for host in (None, "", "evil.example", "localhost.evil.example", "127.0.0.1.nip.io", "0.0.0.0", "[::]",
                 "192.168.1.5", "evillocalhost", "testserver"):
        assert not host_allowed(host, loopback_only), host
    # the address the connection came in on (the ASGI server's own address) is reached by definition
    assert host_allowed("192.168.1.5:8000", loopback_only, server="192.168.1.5")
    assert host_allowed("192.168.1.5", loopback_only, server="::ffff:192.168.1.5")  # dual-stack socket
    assert not host_allowed("evil.example", loopback_only, server="192.168.1.5")
    named = check_allowed_hosts(["Photos.Example.org.", "10.0.0.7", "fe80::1"])
    assert named == frozenset({"photos.example.org", "10.0.0.7", "fe80::1"})
    for host in ("photos.example.org:443", "PHOTOS.example.org", "10.0.0.7:8000", "[fe80:0::1]"):
        assert host_allowed(host, named), host
    for host in ("www.photos.example.org", "photos.example.org.evil", "10.0.0.8"):
        assert not host_allowed(host, named), host
    anything = check_allowed_hosts(["*"])
    assert all(host_allowed(h, anything) for h in (None, "", "evil.example", "a b"))


@pytest.mark.parametrize("bad", ["", " ", "http://photos.example.org/", "photos.example.org/x", "a b", "[::1", "x:y:z"])
def test_bad_allowed_host_values_are_one_line_errors(bad, model):
    with pytest.raises(ServeError) as e:
        check_allowed_hosts([bad])
    assert "--allowed-host" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(ServeError):
        create_app(model, allowed_hosts=[bad])


def test_serve_hosts_follow_the_bound_address(monkeypatch):
    import pocketgan.app.guard as guard

    assert serve_hosts("127.0.0.1") == ["127.0.0.1"]
    assert serve_hosts("photos.lan", ["a.example"]) == ["photos.lan", "a.example"]
    monkeypatch.setattr(guard.socket, "gethostname", lambda: "mylaptop")
    monkeypatch.setattr(guard.socket, "getaddrinfo", lambda *a, **k: [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.168.1.5", 0)),
        (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("fe80::5%eth0", 0, 0, 2)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.168.1.5", 0))])
    for wildcard in ("0.0.0.0", "::"):
        assert serve_hosts(wildcard, ["x.example"]) == ["mylaptop", "192.168.1.5", "fe80::5", "x.example"]

    def unresolvable(*a, **k):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    monkeypatch.setattr(guard.socket, "getaddrinfo", unresolvable)
    assert serve_hosts("0.0.0.0") == ["mylaptop"]
    monkeypatch.setattr(guard.socket, "gethostname", lambda: "my laptop")  # not a host name: left out
    assert serve_hosts("0.0.0.0", ["x.example"]) == ["x.example"]
    check_allowed_hosts(serve_hosts("0.0.0.0"))  # whatever the machine reports, serve starts


def test_websocket_requests_with_a_forged_host_are_closed():
    sent, ran = [], []

    async def inner(scope, receive, send):
        ran.append(scope)

    async def send(message):
        sent.append(message)

    scope = {"type": "websocket", "headers": [(b"host", b"evil.example")], "server": ("127.0.0.1", 8000)}
    asyncio.run(HostCheck(inner, check_allowed_hosts(()))(scope, None, send))
    assert sent == [{"type": "websocket.close", "code": 1008}] and not ran


# ---------------------------------------------------------------- the command line

def test_serve_help_documents_allowed_host(capsys):
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--allowed-host NAME" in text and "'*'" in text and "DNS rebinding" in text


def test_serve_passes_its_hosts_to_the_app(model, monkeypatch, capsys):
    import uvicorn

    import pocketgan.app.server as server

    made = {}
    monkeypatch.setattr(server, "check_address", lambda host, port: None)
    monkeypatch.setattr(server, "create_app", lambda model, **kw: made.update(kw) or _FakeApp())
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: made.update(uvicorn_host=kw["host"]))
    monkeypatch.setattr("pocketgan.app.assets.find_static", lambda *a: Path("."))
    monkeypatch.setattr("pocketgan.app.pool.ALLOCATOR.enable", lambda: False)  # not in the test process
    assert main(["serve", "--model", str(model), "--host", "127.0.0.1", "--allowed-host", PROXY_NAME,
                 "--allowed-host", "10.0.0.7"]) == 0
    assert made["allowed_hosts"] == ["127.0.0.1", PROXY_NAME, "10.0.0.7"] and made["uvicorn_host"] == "127.0.0.1"
    assert main(["serve", "--model", str(model), "--allowed-host", "*"]) == 0
    assert "*" in made["allowed_hosts"]
    capsys.readouterr()
    made.clear()
    assert main(["serve", "--model", str(model), "--allowed-host", "http://photos.example.org/"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pocketgan: error: --allowed-host 'http://photos.example.org/' is not a host name")
    assert err.count("\n") == 1 and not made  # refused before the model was looked at


class _FakeApp:
    class state:  # noqa: N801 - stands in for app.state
        limits = ClientLimits()

        class served:  # noqa: N801
            directions = {"AtoB": None}
