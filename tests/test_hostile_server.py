"""`pocketgan serve` against a hostile client (issue 17): stalled and slow uploads, one client
taking every place, decode bombs below the old limits, formats that must never reach a decoder,
server paths in what the server sends. Loopback only, every wait bounded."""
from __future__ import annotations

import asyncio
import contextlib
import io
import json
import socket
import struct
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from pocketgan.app import model as served_model  # noqa: E402
from pocketgan.app.guard import ClientLimits, UploadGate, guarded_h11  # noqa: E402
from pocketgan.app.pool import MemoryBudget  # noqa: E402
from pocketgan.app.server import create_app
from pocketgan.app.translator import Translator  # noqa: E402
from pocketgan.app.uploads import StagedUpload, UploadError, check_format, decode_upload, sniff_format  # noqa: E402
from pocketgan.data.images import ImageError, decode_image, decode_plan, load_image  # noqa: E402
from pocketgan.models.pretrained import save_pretrained  # noqa: E402
from pocketgan.public import public, scrub_paths  # noqa: E402

BOUNDARY = "hostileboundary"
FAST = ClientLimits(uploads_per_client=2, max_receiving=64, body_timeout=2.0, idle_timeout=0.4,
                    connections_per_client=3, header_timeout=0.5)


def photo(size=(40, 30), fmt="PNG", seed=0, **kw) -> bytes:
    rng = np.random.default_rng(seed)
    w, h = size
    pixels = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, fmt, **kw)
    return buf.getvalue()


def zero_png(w: int, h: int, bitdepth: int = 8, colortype: int = 2) -> bytes:
    """A valid PNG of w x h zero pixels: a tiny file declaring a big image."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colortype]
    z = zlib.compressobj(9)
    row = bytes(1 + w * channels * bitdepth // 8)
    idat = b"".join(z.compress(row) for _ in range(h)) + z.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bitdepth, colortype, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def multipart(data: bytes, name="photo.png", ctype="image/png") -> bytes:
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{name}\"\r\n"
            f"Content-Type: {ctype}\r\n\r\n").encode() + data + f"\r\n--{BOUNDARY}--\r\n".encode()


@pytest.fixture(scope="module")
def model(tmp_path_factory, expressive_generator) -> Path:
    folder = tmp_path_factory.mktemp("hostile") / "run"
    save_pretrained(folder, {"G_A": expressive_generator(0), "G_B": expressive_generator(1)}, model_type="cyclegan",
                    training={"steps": 10, "data": str(folder.parent / "secret" / "datasets" / "horse2zebra")},
                    description=f"trained in {folder.parent}/secret on a Tuesday")
    return folder


@pytest.fixture(scope="module")
def app(model):
    return create_app(model, max_side=64, workers=1, max_waiting=0, limits=FAST)


class Upload:
    """One POST /api/translate driven at the ASGI level: the body arrives in ``chunks`` (each after
    its delay); ``stall=True`` then sends nothing more (until cancelled)."""

    def __init__(self, app, body: bytes, client=("10.0.0.1", 5000), chunks=None, stall=False, length=None,
                 disconnect=False):
        """``length``: the declared Content-Length (default: the body's; False: none); ``disconnect``:
        the client goes away after the chunks (an ``http.disconnect`` where more body was announced)."""
        self.app, self.client, self.stall, self.disconnect = app, client, stall, disconnect
        self.chunks = chunks if chunks is not None else [(0.0, body)]
        self.length = len(body) if length is None else length
        self.messages: list[dict] = []

    async def run(self) -> tuple[int, dict]:
        declared = [] if self.length is False else [(b"content-length", str(self.length).encode())]
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/api/translate", "raw_path": b"/api/translate",
                 "query_string": b"direction=AtoB", "root_path": "", "client": self.client,
                 "server": ("127.0.0.1", 8000),
                 "headers": [(b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode()), *declared,
                             (b"host", b"localhost:8000")]}
        pending = list(self.chunks)

        async def receive():
            if pending:
                delay, data = pending.pop(0)
                await asyncio.sleep(delay)
                more = bool(pending) or self.stall or self.disconnect
                return {"type": "http.request", "body": data, "more_body": more}
            if self.disconnect:
                return {"type": "http.disconnect"}
            if self.stall:
                await asyncio.sleep(3600)
            await asyncio.sleep(3600)  # after the body: the client waits for the answer
            return {"type": "http.disconnect"}

        async def send(message):
            self.messages.append(message)

        await self.app(scope, receive, send)
        start = next(m for m in self.messages if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in self.messages if m["type"] == "http.response.body")
        headers = {k.decode().lower(): v.decode() for k, v in start.get("headers", [])}
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {"png": len(body)}
        return start["status"], {**payload, "_headers": headers}


def run(coro, timeout=20):
    return asyncio.run(asyncio.wait_for(coro, timeout))


# ---------------------------------------------------------------- 1. stalled uploads

def test_stalled_uploads_take_no_pool_place_and_time_out(app):
    """workers=1, max_waiting=0: before the fix, one stalled upload took the only place and every
    honest upload got 503 for as long as it stayed open."""
    body = multipart(photo())
    stalled = [Upload(app, body, client=(f"10.0.1.{i}", 1), chunks=[(0.0, body[:300])], stall=True) for i in range(6)]

    async def scenario():
        tasks = [asyncio.ensure_future(s.run()) for s in stalled]
        await asyncio.sleep(0.1)
        assert app.state.pool.admitted == 0 and app.state.gate.receiving == 6  # receiving, holding no place
        started = time.perf_counter()
        honest = await Upload(app, body, client=("10.0.2.1", 1)).run()
        served_in = time.perf_counter() - started
        return honest, served_in, await asyncio.gather(*tasks)

    (status, payload), served_in, results = run(scenario())
    assert status == 200 and payload["png"] > 0 and served_in < 5
    for code, answer in results:  # each stalled body is cut off after the idle timeout, connection closed
        assert code == 408 and "stalled" in answer["error"] and answer["_headers"]["connection"] == "close"
    assert app.state.gate.receiving == 0 and app.state.pool.admitted == 0


def test_a_slow_body_times_out_as_a_whole(app):
    body = multipart(photo())
    drip = [(0.0, body[:100])] + [(0.3, body[i:i + 10]) for i in range(100, 400, 10)]  # never idle 0.4 s
    status, answer = run(Upload(app, body, chunks=drip, stall=True).run())
    assert status == 408 and "did not arrive within 2 s" in answer["error"]


def test_one_address_holds_a_small_share_of_uploads(app):
    body = multipart(photo())

    async def scenario():
        mine = [asyncio.ensure_future(Upload(app, body, client=("10.0.3.1", i), chunks=[(0.0, body[:200])],
                                             stall=True).run()) for i in range(2)]
        await asyncio.sleep(0.05)
        third = await Upload(app, body, client=("10.0.3.1", 9), chunks=[(0.0, body[:200])], stall=True).run()
        other = await Upload(app, body, client=("10.0.3.2", 1)).run()
        local = [asyncio.ensure_future(Upload(app, body, client=("127.0.0.1", i), chunks=[(0.0, body[:200])],
                                              stall=True).run()) for i in range(3)]
        await asyncio.sleep(0.05)
        trusted_receiving = app.state.gate.receiving
        return third, other, trusted_receiving, await asyncio.gather(*mine, *local)

    (code, answer), (other_code, _), receiving, _ = run(scenario())
    assert code == 429 and "too many uploads at once" in answer["error"] and answer["_headers"]["retry-after"]
    assert other_code == 200  # another address is not affected
    assert receiving >= 3  # a trusted proxy's address (loopback) is not capped per address


def test_oversized_declared_and_streamed_bodies_close_the_connection(app):
    status, answer = run(Upload(app, b"", length=10 ** 9).run())
    assert status == 413 and answer["_headers"]["connection"] == "close"


def test_upload_gate_and_memory_budget_bookkeeping():
    gate = UploadGate(ClientLimits(uploads_per_client=1, max_receiving=2))
    gate.enter("a")
    with pytest.raises(Exception, match="too many uploads"):
        gate.enter("a")
    gate.enter("b")
    with pytest.raises(Exception, match="server busy"):
        gate.enter("c")
    gate.leave("a")
    gate.leave("b")
    assert gate.receiving == 0 and not gate.per_client

    budget, peak, lock = MemoryBudget(100), 0, threading.Lock()

    def job(cost):
        nonlocal peak
        with budget.reserve(cost):
            with lock:
                peak = max(peak, budget.used)
            time.sleep(0.01)

    threads = [threading.Thread(target=job, args=(c,)) for c in (60, 60, 30, 500, 10, 90)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert peak <= 100 and budget.used == 0  # a job over the budget ran alone


# ---------------------------------------------------------------- 1. connections (uvicorn protocol)

def _tiny_app():
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})
    return app


@contextlib.contextmanager
def serving(asgi_app, limits: ClientLimits = FAST):
    """uvicorn with ``asgi_app`` and `pocketgan serve`'s protocol on 127.0.0.1 (a free port); yields the port."""
    import uvicorn

    config = uvicorn.Config(asgi_app, host="127.0.0.1", port=0, log_level="critical", lifespan="off",
                            http=guarded_h11(limits), forwarded_allow_ips=list(limits.trusted_proxies))
    server = uvicorn.Server(config)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 10
    while not server.started and time.time() < deadline:
        time.sleep(0.02)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(5)


@pytest.fixture()
def guarded_server():
    with serving(_tiny_app(), FAST) as port:
        yield port, FAST


def _recv_all(s: socket.socket, timeout: float) -> bytes:
    s.settimeout(timeout)
    data = b""
    try:
        while chunk := s.recv(4096):
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return data


def test_connections_per_address_are_capped(guarded_server):
    port, limits = guarded_server
    held = [socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.7", 0))
            for _ in range(limits.connections_per_client)]
    try:
        extra = socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.7", 0))
        answer = _recv_all(extra, 2)
        assert answer.startswith(b"HTTP/1.1 429") and b"too many connections" in answer
        other = socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.8", 0))
        other.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _recv_all(other, 1).startswith(b"HTTP/1.1 200")  # another address is served
        other.close()
    finally:
        for s in held:
            s.close()


def test_slow_headers_are_cut_off(guarded_server):
    port, limits = guarded_server
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.9", 0)) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHo")
        for _ in range(10):  # a byte now and then resets no deadline
            time.sleep(0.1)
            try:
                s.sendall(b"s")
            except OSError:
                break
        assert _recv_all(s, 2) == b""  # closed without an answer
    assert time.perf_counter() - start < limits.header_timeout + 2.5
    with socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.9", 0)) as s:  # keep-alive idle
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _recv_all(s, 1.5).startswith(b"HTTP/1.1 200")  # answered, then closed once idle


# ---------------------------------------------------------------- 2. decoding cost

def test_a_png_declaring_64_mpx_16_bit_is_refused_from_its_header(app, tmp_path):
    bomb = zero_png(8000, 8000, 16, 0)
    assert len(bomb) < 200_000
    start = time.perf_counter()
    status, answer = run(Upload(app, multipart(bomb, "bomb.png")).run())
    assert status == 413 and "8000×8000" in answer["error"] and "megapixels" in answer["error"]
    assert time.perf_counter() - start < 2  # no decoding happened


def test_16_bit_images_convert_without_eight_byte_temporaries(tmp_path):
    path = tmp_path / "g16.png"
    values = (np.arange(300 * 200, dtype=np.uint32).reshape(200, 300) * 7 % 65536).astype(np.uint16)
    Image.fromarray(values).save(path)
    rgb = load_image(path)
    expected = ((values.astype(np.int64) * 255 + 32767) // 65535).astype(np.uint8)
    assert np.array_equal(np.asarray(rgb)[..., 0], expected)


def test_jpeg_is_decoded_at_reduced_scale_and_budget_counts_decoded_pixels(tmp_path):
    path = tmp_path / "big.jpg"
    path.write_bytes(photo((2000, 1500), "JPEG"))
    image, declared = decode_image(path, max_pixels=400_000, formats=["JPEG"], reduce_for=300,
                                   max_declared_pixels=4_000_000)
    assert declared == (2000, 1500) and image.size == (500, 375)  # 1/4 scale: still >= 300 on its long side
    with pytest.raises(ImageError, match="too large"):  # without the reduction it is over the budget
        decode_image(path, max_pixels=400_000, formats=["JPEG"])
    with pytest.raises(ImageError, match="too large"):  # declared over the JPEG limit
        decode_image(path, max_pixels=400_000, formats=["JPEG"], reduce_for=300, max_declared_pixels=1_000_000)


@pytest.mark.parametrize("size,reduce_for", [((2000, 1500), 300), ((1500, 2000), 300), ((3000, 40), 250),
                                             ((4001, 4001), 500), ((700, 650), 300), ((600, 400), 300), ((640, 480), 0)])
def test_the_decode_plan_is_what_both_decoders_do(tmp_path, size, reduce_for):
    """The plan the server budgets from (StagedUpload.plan) and the size decode_image produces agree,
    thin and odd sizes included: one rule, data/images.py decode_plan."""
    data = photo(size, "JPEG")
    path = tmp_path / "p.jpg"
    path.write_bytes(data)
    image, declared = decode_image(path, formats=["JPEG"], reduce_for=reduce_for, max_declared_pixels=10 ** 8)
    with StagedUpload(io.BytesIO(data), "p.jpg", "image/jpeg", reduce_for) as staged:
        plan = staged.plan
    assert plan == decode_plan(size, "JPEG", reduce_for)
    assert (plan.declared, plan.decoded) == (declared, image.size)
    assert plan.reduced == (image.size != size)
    if plan.reduced:
        assert max(image.size) >= reduce_for  # still at least the working size on its long side
        assert plan.peak_bytes == 16 * plan.pixels + 6 * size[0] * size[1]
    else:
        assert plan.peak_bytes == 16 * size[0] * size[1]
    assert decode_plan(size, "PNG", reduce_for) == decode_plan(size, "PNG")  # only JPEGs decode at a reduced scale


def test_server_answers_a_reduced_jpeg_at_its_own_size_within_the_budget(model):
    app = create_app(model, max_side=64, workers=1, max_pixels=600_000, limits=FAST)
    small = photo((1000, 500), "JPEG")  # 0.5 Mpx: decoded at 1/4, answered at 1000x500
    status, answer = run(Upload(app, multipart(small, "a.jpg", "image/jpeg")).run())
    assert status == 200 and answer["_headers"]["x-original-size"] == "1000x500"
    big = photo((1200, 800), "JPEG")  # 0.96 Mpx: over the budget, under 2x: answered at the decoded size
    status, answer = run(Upload(app, multipart(big, "b.jpg", "image/jpeg")).run())
    assert status == 200 and answer["_headers"]["x-original-size"] == "1200x800"
    png = photo((1200, 800), "PNG")  # not reducible: over the budget is refused
    status, answer = run(Upload(app, multipart(png)).run())
    assert status == 413


# ---------------------------------------------------------------- 3. formats

EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nnewpath 0 0 moveto showpage\n"


@pytest.mark.parametrize("data, kind", [
    (EPS, "PostScript"), (b"\xc5\xd0\xd3\xc6" + bytes(40), "EPS"), (photo(fmt="TIFF"), "TIFF"),
    (photo(fmt="ICO"), "ICO"), (photo(fmt="PCX"), "PCX"), (photo(fmt="PPM"), "PBM/PGM/PPM"),
    (photo(fmt="TGA"), None), (b"\x00\x00\x00\x18ftypheic" + bytes(64), "HEIC"), (b"hello world", None)])
def test_only_photo_formats_reach_a_decoder(app, data, kind, monkeypatch):
    from PIL import EpsImagePlugin, Image as PILImage

    opened = []
    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", lambda self: opened.append(1))
    monkeypatch.setattr(PILImage, "open", lambda *a, **k: opened.append(1))
    status, answer = run(Upload(app, multipart(data, "holiday.jpg", "image/jpeg")).run())
    assert status == 415 and answer["error"].startswith("holiday.jpg: ")
    if kind:
        assert kind in answer["error"]
    assert not opened  # refused by its bytes, before Pillow saw it
    assert app.state.pool.admitted == 0


def test_allowed_formats_are_decoded_by_their_own_plugin_only(tmp_path):
    for fmt, kw in (("JPEG", {}), ("PNG", {}), ("WEBP", {}), ("GIF", {}), ("BMP", {})):
        data = photo(fmt=fmt, **kw)
        assert sniff_format(data[:32]) == fmt
        image, size = decode_upload(io.BytesIO(data), f"x.{fmt.lower()}", "image/png")
        assert size == (40, 30) and image.mode == "RGB"
    eps_as_jpeg = tmp_path / "photo.jpg"  # the CLI's readers: by bytes too
    eps_as_jpeg.write_bytes(EPS)
    with pytest.raises(ImageError, match="not an image"):
        load_image(eps_as_jpeg)
    with pytest.raises(UploadError) as e:
        check_format(photo(fmt="TIFF")[:32], "scan.tif", "image/tiff")
    assert e.value.status == 415


def test_corrupt_allowed_formats_are_422(app):
    status, answer = run(Upload(app, multipart(photo()[:60], "cut.png")).run())
    assert status == 422 and answer["error"].startswith("cut.png: ")


# ---------------------------------------------------------------- 4. no server paths

def test_no_server_path_leaves_the_server(app, model, monkeypatch):
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        text = client.get("/api/model").text
        card = json.loads(text)
        assert str(model.parent) not in text and "/secret" not in text
        assert card["training"]["data"] == "horse2zebra"
        for direction in card["models"].values():
            assert "/" not in direction["card"]["source"]

        def broken(self, direction):
            raise RuntimeError(f"cannot open {model}/G_A.safetensors: damaged")
        monkeypatch.setattr(Translator, "pipeline", broken)
        r = client.post("/api/translate", files={"image": ("a.png", photo(), "image/png")})
        assert r.status_code == 500 and str(model.parent) not in r.text and "G_A.safetensors" in r.text
    exported = json.loads((model / "export" / "G_A_256.onnx.json").read_text())
    assert exported["source"] == model.name and exported["training"]["data"] == "horse2zebra"


def test_scrub_paths_and_public_cards():
    assert scrub_paths("failed: /home/u/runs/x/G_A.onnx (C:\\Users\\u\\m.onnx)") == "failed: G_A.onnx (m.onnx)"
    assert scrub_paths("trainA/trainB, 1/255, see https://example.org/a/b") == "trainA/trainB, 1/255, see https://example.org/a/b"
    assert scrub_paths("mean change 7.2 /255 at / 2, not /srv/m/x.onnx") == "mean change 7.2 /255 at / 2, not x.onnx"
    card = public({"training": {"data": ["/d/trainA", "/d/trainB"]}, "distilled_from": {"teacher": "/r/teacher"},
                   "source": {"G_A": "http://host/x.pth"}})
    assert card == {"training": {"data": ["trainA", "trainB"]}, "distilled_from": {"teacher": "teacher"},
                    "source": {"G_A": "http://host/x.pth"}}


@pytest.mark.slow  # a fresh Python process imports torch and exports (~3 s)
def test_isolated_export_gives_the_same_files(tmp_path, expressive_generator):
    folder = save_pretrained(tmp_path / "m", {"G_A": expressive_generator(3)})
    served = served_model.prepare_model(folder, isolate=True)
    card = served.directions["AtoB"].card
    assert card["source"] == "m" and (folder / "export" / "G_A_256.onnx").is_file()
    assert card["parity_vs_pytorch"]["psnr_db"] >= 40


# ---------------------------------------------------------------- 5. bodies cut short (not a missing field)

@pytest.fixture(scope="module")
def cut_app(model):
    """An app of its own: the module's ``app`` has its pool shut down once a TestClient closed it."""
    return create_app(model, max_side=64, workers=1, max_waiting=0, limits=FAST)

def test_a_body_that_ends_early_is_400_with_the_bytes_that_arrived(cut_app):
    """The client declared the whole length and the body stopped short; before the fix this was 422
    "no file in form field 'image' (fields sent: none)", which sent the user looking for a bug in the form."""
    body = multipart(photo())
    for chunks in ([(0.0, b"")], [(0.0, body[:1])], [(0.0, body[:1200])], [(0.0, body[:100]), (0.0, body[100:1200])],
                   [(0.0, body[:-1])]):
        arrived = sum(len(data) for _, data in chunks)
        status, answer = run(Upload(cut_app, body, chunks=chunks).run())
        assert status == 400 and answer["error"] == f"upload ended early: {arrived} of {len(body)} bytes arrived"
        assert answer["_headers"]["connection"] == "close"
    assert cut_app.state.gate.receiving == 0 and cut_app.state.pool.admitted == 0


def test_a_client_that_goes_away_mid_body_is_a_truncated_upload(cut_app):
    body = multipart(photo())
    status, answer = run(Upload(cut_app, body, chunks=[(0.0, body[:1200])], disconnect=True).run())
    assert status == 400 and answer["error"] == f"upload ended early: 1200 of {len(body)} bytes arrived"
    status, answer = run(Upload(cut_app, body, chunks=[(0.0, body[:700])], disconnect=True, length=False).run())
    assert status == 400 and answer["error"] == "upload ended early: the client went away after 700 bytes"
    assert cut_app.state.gate.receiving == 0


def test_a_body_without_its_closing_boundary_is_a_truncated_upload(cut_app):
    """Complete in bytes (nothing declared is missing) but the multipart parser never saw the end:
    the photo's part never finished, so it is a cut upload, not a form without the field."""
    whole = multipart(photo())
    close = f"--{BOUNDARY}--\r\n".encode()
    for body in (whole[:-len(close)], whole[:-len(close) - 2], whole[:-3], whole[:len(whole) // 2], whole[:40]):
        for declared in (len(body), False):  # with the true Content-Length, and streamed without one
            status, answer = run(Upload(cut_app, body, length=declared).run())
            assert status == 400, (len(body), answer)
            assert answer["error"] == (f"upload ended early: {len(body)} bytes arrived, but the multipart body stops "
                                       "before its closing boundary")
    status, answer = run(Upload(cut_app, whole[:-2]).run())  # the closing boundary is there, only its CRLF is not
    assert status == 200 and answer["png"] > 0, answer
    empty = f"--{BOUNDARY}--\r\n".encode()  # a complete form without the field is still 422
    status, answer = run(Upload(cut_app, empty).run())
    assert status == 422 and answer["error"] == "no file in form field 'image' (fields sent: none)"


def test_a_half_closed_upload_over_a_socket_is_told_how_much_arrived(cut_app):
    """A client (or a proxy) that sends part of the body, then shuts its side down, gets the 400
    instead of a connection closed without an answer."""
    body = multipart(photo())
    with serving(cut_app) as port:
        with socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.11", 0)) as s:
            s.sendall((f"POST /api/translate HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                       f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                       f"Content-Length: {len(body)}\r\n\r\n").encode() + body[:1200])
            time.sleep(0.1)
            s.shutdown(socket.SHUT_WR)
            answer = _recv_all(s, 3)
        assert answer.startswith(b"HTTP/1.1 400"), answer
        assert f'{{"error":"upload ended early: 1200 of {len(body)} bytes arrived"}}'.encode() in answer
    assert cut_app.state.gate.receiving == 0
