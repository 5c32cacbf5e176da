"""Property-based (Hypothesis) fuzzing of POST /api/translate's upload path and of the Host check.

Hostile multipart bodies (random bytes, valid bodies cut at any point, wrong or absent boundaries,
huge and odd header values, random field names, payloads that are not images) are driven into the
app in-process at the ASGI level, so the tests control every byte, the declared Content-Length and
how the body ends. Whatever arrives, the server keeps its invariants: never a 5xx, never a traceback,
every error the API's JSON ``{"error": "..."}`` on one line, and an answer at once (a body that has
ended never waits for a stall timer). Bodies cut short are 400 "upload ended early", never a missing
field. The cases come from the "ci" profile in conftest.py (fixed seed, at most 150 per test).
"""
from __future__ import annotations

import asyncio
import io
import itertools
import json
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st
from PIL import Image

pytest.importorskip("fastapi")

from pocketgan.app import ServeError  # noqa: E402
from pocketgan.app.guard import ClientLimits, HostCheck, check_allowed_hosts, host_allowed, parse_host  # noqa: E402
from pocketgan.app.server import create_app  # noqa: E402
from pocketgan.models.pretrained import save_pretrained  # noqa: E402

MAX_UPLOAD = 48 * 1024
# an upload whose body has all arrived is answered well within IDLE s: it never waits for a stall timer
LIMITS = ClientLimits(uploads_per_client=4, max_receiving=64, body_timeout=6.0, idle_timeout=3.0)
IDLE = LIMITS.idle_timeout
PORT = 8000
BCHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'()+_,-./:=?"  # RFC 2046's, but space
HEADER_TEXT = st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f")  # what h11 lets in


def image_bytes(fmt: str, size=(6, 5)) -> bytes:
    rng = np.random.default_rng(len(fmt))
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(buf, fmt)
    return buf.getvalue()


PHOTOS = {fmt: image_bytes(fmt) for fmt in ("PNG", "JPEG", "GIF", "BMP", "WEBP")}
NOT_PHOTOS = [b"%!PS-Adobe-3.0 EPSF-3.0\n", b"%PDF-1.7\n", b"II*\x00" + bytes(40), b"<svg xmlns='x'/>",
              b"\x00\x00\x00\x18ftypheic" + bytes(40), b"", b"\x89PNG\r\n\x1a\n" + bytes(30), b"\xff\xd8\xff" + bytes(9)]


@pytest.fixture(scope="module")
def model(tmp_path_factory, expressive_generator) -> Path:
    return save_pretrained(tmp_path_factory.mktemp("fuzz") / "model",
                           {"G_A": expressive_generator(0), "G_B": expressive_generator(1)})


@pytest.fixture(scope="module")
def app(model):
    return create_app(model, max_side=32, workers=1, max_waiting=8, max_upload_bytes=MAX_UPLOAD, limits=LIMITS)


# ---------------------------------------------------------------- the ASGI driver and the invariants

@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    @property
    def error(self) -> str:
        """The API's one-line error ("" for an answer that is not one)."""
        if self.status == 200 or self.headers.get("content-type") != "application/json":
            return ""
        return json.loads(self.body)["error"]


async def _exchange(app, headers: list[tuple[bytes, bytes]], chunks: list[bytes], disconnect: bool, method: str,
                    path: str, query: bytes) -> tuple[int, dict[str, str], bytes]:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode("utf-8"), "query_string": query, "root_path": "",
             "client": ("10.9.0.1", 4000), "server": ("127.0.0.1", PORT), "headers": headers}
    pending, sent = list(chunks), []

    async def receive():
        if pending:
            body = pending.pop(0)
            return {"type": "http.request", "body": body, "more_body": bool(pending) or disconnect}
        if disconnect:
            return {"type": "http.disconnect"}
        await asyncio.sleep(3600)  # the body is over; the client waits for its answer

    async def send(message):
        sent.append(message)

    await asyncio.wait_for(app(scope, receive, send), LIMITS.body_timeout + 5)
    start = next(m for m in sent if m["type"] == "http.response.start")
    answer = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in start.get("headers", [])}
    return start["status"], answer, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def call(app, headers: list[tuple[bytes, bytes]], chunks: list[bytes], disconnect: bool = False, method: str = "POST",
         path: str = "/api/translate", query: bytes = b"direction=AtoB") -> Answer:
    """One request driven into ``app``; every answer is checked against the invariants."""
    start = time.perf_counter()
    status, answer_headers, body = asyncio.run(_exchange(app, headers, chunks, disconnect, method, path, query))
    answer = Answer(status, answer_headers, body, time.perf_counter() - start)
    assert_invariants(answer)
    return answer


def assert_invariants(answer: Answer) -> None:
    assert answer.status < 500, answer
    assert b"Traceback" not in answer.body and b'File "' not in answer.body
    assert answer.seconds < IDLE and answer.status != 408, answer  # every body here has arrived in full
    if answer.headers.get("content-type") == "application/json":
        payload = json.loads(answer.body)
        assert b"\n" not in answer.body and b"\r" not in answer.body
        if answer.status != 200:
            assert list(payload) == ["error"] and isinstance(payload["error"], str), payload
            assert payload["error"].strip() and len(payload["error"].splitlines()) == 1, payload
            assert len(payload["error"]) <= 600, payload  # names the client sent are cut short in messages
            assert "pocketgan-upload" not in payload["error"] and "/tmp/" not in payload["error"]
    elif answer.status == 200 and answer.headers.get("content-type") == "image/png":
        assert answer.body.startswith(b"\x89PNG")


def request_headers(content_type: bytes, length: int | bytes | None, host: bytes = b"localhost:8000") -> list:
    declared = [] if length is None else [(b"content-length", str(length).encode() if isinstance(length, int) else length)]
    return [(b"host", host), (b"content-type", content_type), *declared]


def form(boundary: str, parts: list[tuple[list[tuple[str, str]], bytes]], eol: bytes = b"\r\n") -> bytes:
    """A multipart body: each part's header lines and payload, then the closing boundary."""
    out = b""
    for part_headers, payload in parts:
        out += f"--{boundary}".encode() + eol
        out += b"".join(f"{k}: {v}".encode() + eol for k, v in part_headers) + eol + payload + eol
    return out + f"--{boundary}--".encode() + eol


def image_part(payload: bytes, name: str = "image", filename: str | None = "a.png", ctype: str | None = "image/png"):
    disposition = f'form-data; name="{name}"' + ("" if filename is None else f'; filename="{filename}"')
    return [("Content-Disposition", disposition)] + ([] if ctype is None else [("Content-Type", ctype)]), payload


def split(body: bytes, points: list[int]) -> list[bytes]:
    """``body`` as ASGI messages cut at ``points`` (sorted, deduplicated); at least one message."""
    cuts = sorted({p % (len(body) + 1) for p in points} | {0, len(body)})
    return [body[a:b] for a, b in itertools.pairwise(cuts)] or [b""]


def closed_at(body: bytes, boundary: str) -> int:
    """Where the closing boundary of a body made by :func:`form` ends: a cut before it loses the end."""
    return body.rindex(f"--{boundary}--".encode()) + len(boundary) + 4


boundaries = st.text(BCHARS, min_size=1, max_size=70)


def content_type_for(boundary: str) -> bytes:
    return f'multipart/form-data; boundary="{boundary}"'.encode()


# ---------------------------------------------------------------- cut bodies: every cut point, then any

def test_every_cut_point_of_a_small_upload_is_an_upload_that_ended_early(app):
    """A valid upload cut at each byte, with the whole length declared (the rest never came) and with
    the cut length declared (complete in bytes, the multipart end missing): always 400, one line,
    saying so; never 422 "no file in form field"."""
    boundary = "cut"
    body = form(boundary, [image_part(PHOTOS["GIF"], filename="g.gif", ctype="image/gif")])
    end = closed_at(body, boundary)
    for cut in range(len(body)):
        whole = call(app, request_headers(content_type_for(boundary), len(body)), [body[:cut]])
        assert (whole.status, whole.error) == (400, f"upload ended early: {cut} of {len(body)} bytes arrived")
        if cut < end:
            short = call(app, request_headers(content_type_for(boundary), cut), [body[:cut]])
            assert short.status == 400 and short.error.startswith(f"upload ended early: {cut} bytes arrived"), short
    assert call(app, request_headers(content_type_for(boundary), end), [body[:end]]).status == 200


@settings(max_examples=100)  # a case that keeps its closing boundary runs the model
@given(boundary=boundaries, fmt=st.sampled_from(sorted(PHOTOS)), extra=st.lists(st.text("abcxyz_", min_size=1), max_size=3),
       cut=st.floats(0, 1), declared=st.sampled_from(["whole", "cut", "none"]), disconnect=st.booleans(),
       points=st.lists(st.integers(0, 10_000), max_size=6))
def test_a_valid_upload_cut_anywhere_is_never_a_missing_field(app, boundary, fmt, extra, cut, declared, disconnect, points):
    fields = [([("Content-Disposition", f'form-data; name="{name}"')], b"v") for name in extra]
    body = form(boundary, [*fields, image_part(PHOTOS[fmt], filename=f"p.{fmt.lower()}", ctype=f"image/{fmt.lower()}")])
    at = int(cut * len(body))
    length = {"whole": len(body), "cut": at, "none": None}[declared]
    answer = call(app, request_headers(content_type_for(boundary), length), split(body[:at], points), disconnect)
    assert "no file in form field" not in answer.error
    if declared == "whole" and at < len(body):
        assert (answer.status, answer.error) == (400, f"upload ended early: {at} of {len(body)} bytes arrived")
    elif disconnect:
        assert answer.status == 400 and answer.error.startswith("upload ended early: ")
    elif at < closed_at(body, boundary):
        assert answer.status == 400 and answer.error.startswith(f"upload ended early: {at} bytes arrived"), answer
    else:
        assert answer.status == 200, answer


# ---------------------------------------------------------------- random and hostile bodies

@given(body=st.binary(max_size=3000), boundary=boundaries, points=st.lists(st.integers(0, 5000), max_size=5),
       declared=st.one_of(st.none(), st.just("exact"), st.integers(0, 6000)), disconnect=st.booleans())
def test_random_bytes_never_break_the_server(app, body, boundary, points, declared, disconnect):
    length = len(body) if declared == "exact" else declared
    answer = call(app, request_headers(content_type_for(boundary), length), split(body, points), disconnect)
    assert answer.status in (400, 413, 415, 422), answer


@given(boundary=boundaries, prefix=st.binary(max_size=200), payload=st.binary(max_size=400),
       framing=st.sampled_from(["random-prefix", "no-boundary-line", "lf-only", "other-boundary", "no-close"]))
def test_wrong_boundaries_and_framing_are_one_line_400s(app, boundary, prefix, payload, framing):
    """Bodies whose framing is wrong: without the opening line, LF line ends, another boundary than
    the header's, no closing line: a one-line 400. After junk, python-multipart may still find the
    form (it skips what precedes a boundary after a blank line): then the form gets its own answer."""
    assume(f"\r\n--{boundary}".encode() not in payload)
    good = form(boundary, [image_part(payload)])
    body = {"random-prefix": prefix + good if prefix.strip(b"\r\n") else b"x" + good,
            "no-boundary-line": good[good.index(b"\r\n") + 2:],
            "lf-only": form(boundary, [image_part(payload)], eol=b"\n"),
            "other-boundary": form(boundary + "X", [image_part(payload)]),
            "no-close": good[:good.rindex(f"--{boundary}--".encode())]}[framing]
    answer = call(app, request_headers(content_type_for(boundary), len(body)), [body])
    if framing == "random-prefix":
        assert answer.status in (400, 415, 422), answer
    else:
        assert answer.status == 400, answer
    if framing == "no-close":
        assert answer.error.startswith(f"upload ended early: {len(body)} bytes arrived")


@given(value=st.one_of(
    st.text(HEADER_TEXT, max_size=300),
    st.builds(lambda b, junk: f"multipart/form-data; {junk}boundary={b}", boundaries, st.text(HEADER_TEXT, max_size=40)),
    st.sampled_from(["multipart/form-data", "multipart/form-data; boundary=", 'multipart/form-data; boundary=""',
                     "multipart/form-dataX; boundary=b", "multipart/mixed; boundary=b", "Multipart/Form-Data; BOUNDARY=b",
                     "multipart/form-data; boundary=b; charset=nonsense-17", "multipart/form-data; boundary=" + "b" * 5000,
                     "application/x-www-form-urlencoded", "image/png", ""])))
def test_odd_content_types(app, value):
    body = form("b", [image_part(PHOTOS["PNG"])])
    answer = call(app, request_headers(value.encode("latin-1"), len(body)), [body])
    assert answer.status in (200, 400, 415, 422), answer
    if answer.status == 200:  # only a multipart/form-data type whose boundary is the body's
        assert value.split(";")[0].strip().lower() == "multipart/form-data"


@given(length=st.one_of(st.text(HEADER_TEXT, max_size=30), st.integers(-10, 10 ** 30).map(str),
                        st.text("0123456789\u00b2\u00b3\u00b9\u00bd +-\t", max_size=12)))  # digits and look-alikes
def test_odd_content_lengths(app, length):
    body = form("b", [image_part(PHOTOS["PNG"])])
    answer = call(app, request_headers(content_type_for("b"), length.encode("latin-1")), [body])
    assert answer.status in (200, 400, 413), answer


names = st.one_of(st.just("image"), st.just("strength"), st.text(HEADER_TEXT, max_size=30),
                  st.integers(41, 7000).map(lambda n: "f" * n),
                  st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20))
part_payloads = st.one_of(st.sampled_from(sorted(PHOTOS)).map(PHOTOS.get), st.sampled_from(NOT_PHOTOS), st.binary(max_size=300))


@st.composite
def parts(draw) -> tuple[list[tuple[str, str]], bytes]:
    """One part: a random field name, perhaps a file name and content type (huge and odd ones too),
    perhaps extra header lines, and an image or any other payload."""
    name = draw(names)
    filename = draw(st.one_of(st.none(), st.just("photo.png"), st.text(HEADER_TEXT, max_size=60),
                              st.integers(1000, 30_000).map(lambda n: "x" * n + ".png"),
                              st.sampled_from(["../../etc/passwd", "C:\\Users\\me\\a.jpg", "a\u2028b.png", "\u202ecod.jpg"])))
    ctype = draw(st.one_of(st.none(), st.sampled_from(["image/png", "image/jpeg", "image/heic", "text/plain", "image/",
                                                       "application/octet-stream"]), st.text(HEADER_TEXT, max_size=40)))
    headers = image_part(b"", name=name, filename=filename, ctype=ctype)[0]
    headers += draw(st.lists(st.tuples(st.text("abcXYZ-", min_size=1, max_size=12),
                                       st.one_of(st.text(HEADER_TEXT, max_size=50),
                                                 st.integers(100, 8000).map(lambda n: "v" * n))), max_size=3))
    return headers, draw(part_payloads)


@settings(max_examples=120)
@given(boundary=boundaries, body_parts=st.lists(parts(), max_size=4), strength=st.one_of(st.none(), st.text(max_size=8)))
def test_hostile_forms_never_break_the_server(app, boundary, body_parts, strength):
    """Well-framed forms of hostile parts: the answer is one of the API's, and a complete form is
    never an upload that ended early."""
    body = form(boundary, body_parts)
    assume(len(body) < MAX_UPLOAD)
    query = b"direction=AtoB" + (b"" if strength is None else b"&strength=" + quote(strength).encode())
    answer = call(app, request_headers(content_type_for(boundary), len(body)), split(body, [len(body) // 3]),
                  query=query)
    assert answer.status in (200, 400, 413, 415, 422), answer
    framed = all(f"\r\n--{boundary}".encode() not in payload for _, payload in body_parts)
    if framed:
        assert not answer.error.startswith("upload ended early"), answer


def test_bodies_over_the_limit_are_refused_whatever_they_declare(app):
    body = form("b", [image_part(b"\x89PNG\r\n\x1a\n" + bytes(MAX_UPLOAD + 70_000))])
    for declared in (len(body), None, 100):  # declared over the limit, not declared, declared less than sent
        answer = call(app, request_headers(content_type_for("b"), declared), split(body, [5000, 30_000, 90_000]))
        assert answer.status == 413 and "limit" in answer.error, answer


# ---------------------------------------------------------------- the Host check, as pure functions

any_host = st.one_of(st.text(HEADER_TEXT, max_size=60), st.from_regex(r"\[[0-9a-fA-F:.]{0,40}\](:[0-9]{0,6})?", fullmatch=True),
                     st.from_regex(r"[0-9]{1,3}(\.[0-9]{1,3}){3}(:[0-9]{1,5})?", fullmatch=True))
labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
dns_names = st.lists(labels, min_size=2, max_size=4).map(".".join).filter(
    lambda n: n.split(".")[-1] != "localhost" and not n.replace(".", "").isdigit())


@given(value=any_host)
def test_parse_host_is_total_and_canonical(value):
    host = parse_host(value)
    assert host is None or (parse_host(host if ":" not in host else f"[{host}]") == host and host == host.strip().lower())


@given(value=any_host, server=st.sampled_from([None, "127.0.0.1", "::1"]))
def test_only_loopback_hosts_pass_by_default(value, server):
    """With no allowed names, a Host passes only if it is localhost, *.localhost or a loopback address."""
    import ipaddress

    if host_allowed(value, check_allowed_hosts(()), server):
        host = parse_host(value)
        assert host is not None
        try:
            ip = ipaddress.ip_address(host)
            assert ip.is_loopback or (ip.version == 6 and ip.ipv4_mapped and ip.ipv4_mapped.is_loopback)
        except ValueError:
            assert host == "localhost" or host.endswith(".localhost")


@given(name=dns_names, port=st.integers(0, 65535), other=dns_names)
def test_an_allowed_name_passes_and_look_alikes_do_not(name, port, other):
    allowed = check_allowed_hosts([name])
    for spelling in (name, f"{name}:{port}", name.upper(), f"{name}.", f"{name}.:{port}"):
        assert host_allowed(spelling, allowed), spelling
    for look_alike in (f"{other}.{name}", f"{name}.{other}", f"{name}{other}", f"{name}@{other}", f"{name}/{other}",
                       f"{name} {other}"):
        assert not host_allowed(look_alike, allowed), look_alike
    assert host_allowed(other, allowed) == (other == name)


@given(value=st.text(max_size=60))
def test_allowed_host_values_are_accepted_or_refused_in_one_line(value):
    try:
        allowed = check_allowed_hosts([value])
    except ServeError as e:
        assert "--allowed-host" in str(e) and len(str(e).splitlines()) == 1
    else:
        assert len(allowed) == 1


@given(host=st.one_of(st.none(), any_host, dns_names), count=st.integers(1, 2))
def test_host_check_middleware_refuses_before_the_app_runs(host, count):
    """Whatever the Host, the wrapped app runs only for an allowed one; the rest get a one-line 421."""
    ran = []

    async def inner(scope, receive, send):
        ran.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    headers = [] if host is None else [(b"host", host.encode("latin-1", "replace"))] * count
    answer = call(HostCheck(inner, check_allowed_hosts(["photos.example.org"])), headers, [b""], method="GET", path="/")
    allowed = count == 1 and host_allowed(host, check_allowed_hosts(["photos.example.org"]), "127.0.0.1")
    assert answer.status == (200 if allowed else 421) and bool(ran) == allowed
    if not allowed:
        assert "--allowed-host" in answer.error


@settings(max_examples=60)
@given(host=st.one_of(st.none(), any_host), path=st.sampled_from(["/", "/api/health", "/api/model", "/app.js", "/models/x",
                                                                  "/api/translate", "/nope"]))
def test_the_app_answers_any_host_and_path_within_its_invariants(app, host, path):
    headers = [] if host is None else [(b"host", host.encode("latin-1", "replace"))]
    answer = call(app, headers, [b""], method="GET", path=path, query=b"")
    assert answer.status in (200, 304, 404, 405, 421, 503), answer
    assert (answer.status == 421) == (not host_allowed(host, app.state.allowed_hosts, "127.0.0.1"))
