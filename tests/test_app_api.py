"""`pocketgan serve`'s HTTP API through FastAPI's test client: the server-side translation fallback
(limits, content checks, worker pool), the model card, the model files, the export cache, the CLI."""
from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import json
import os
import socket
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

IN_CI = bool(os.environ.get("CI"))
try:
    import fastapi  # noqa: F401
    import httpx
    from fastapi.testclient import TestClient
except ImportError:  # pragma: no cover - depends on the environment
    if IN_CI:
        raise ImportError("the app tests need the server extras: pip install -e '.[app]'") from None
    pytest.skip("fastapi/httpx not installed (pip install -e '.[app]')", allow_module_level=True)

from pocketgan.app import assets, model as served_model
from pocketgan.app.server import create_app
from pocketgan.app.translator import Translator
from pocketgan.cli import main
from pocketgan.inference.pipeline import TranslationPipeline
from pocketgan.models.pretrained import save_pretrained
from pocketgan.public import public

MAX_UPLOAD = 256 * 1024
MAX_SIDE = 64


@pytest.fixture(scope="module")
def make_model(expressive_generator):
    """The function ``make_model(folder, slots=("G_A", "G_B")) -> folder``: a model folder of tiny generators."""
    def make(folder: Path, slots=("G_A", "G_B")) -> Path:
        return save_pretrained(folder, {slot: expressive_generator(i) for i, slot in enumerate(slots)})
    return make


def png_bytes(size=(45, 31), seed=0, fmt="PNG") -> bytes:
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / max(w - 1, 1), yy * 255 / max(h - 1, 1), np.full((h, w), 90.0)], -1)
    pixels = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, fmt)
    return buf.getvalue()


@pytest.fixture(scope="module")
def model(tmp_path_factory, make_model) -> Path:
    return make_model(tmp_path_factory.mktemp("app") / "model")


@pytest.fixture(scope="module")
def app(model):
    return create_app(model, max_side=MAX_SIDE, workers=2, max_waiting=32, max_upload_bytes=MAX_UPLOAD)


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as c:
        yield c


def expected(model: Path, data: bytes, direction: str = "AtoB") -> np.ndarray:
    pipe = TranslationPipeline.from_pretrained(model, direction, device="cpu", max_side=MAX_SIDE)
    return np.asarray(pipe(Image.open(io.BytesIO(data)).convert("RGB")))


def post(client, data: bytes, name="photo.png", ctype="image/png", field="image", direction="AtoB"):
    return client.post(f"/api/translate?direction={direction}", files={field: (name, data, ctype)})


# ---------------------------------------------------------------- translation


def test_good_image_comes_back_translated_at_its_size(client, model):
    data = png_bytes((45, 31))
    r = post(client, data)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    out = Image.open(io.BytesIO(r.content))
    assert out.format == "PNG" and out.size == (45, 31)
    assert r.headers["x-processed-size"] == "45x31" and float(r.headers["x-inference-ms"]) > 0
    np.testing.assert_array_equal(np.asarray(out.convert("RGB")), expected(model, data))
    assert np.asarray(out).std() > 10  # the model does something, so the comparison means something
    b = post(client, data, direction="BtoA")
    assert b.status_code == 200 and b.content != r.content  # G_B is a different network


def test_large_photo_is_downscaled_for_the_network_and_returned_full_size(client, model):
    data = png_bytes((100, 50), seed=1, fmt="JPEG")
    r = post(client, data, name="big.jpg", ctype="image/jpeg")
    assert r.status_code == 200, r.text
    assert Image.open(io.BytesIO(r.content)).size == (100, 50)
    assert (r.headers["x-original-size"], r.headers["x-processed-size"]) == ("100x50", "64x32")
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB")), expected(model, data))


def test_oversize_upload_is_refused_with_413(client):
    big = b"\x89PNG" + bytes(MAX_UPLOAD + 1)
    r = post(client, big)
    assert r.status_code == 413 and "limit" in r.json()["error"]

    def chunks():  # no Content-Length: the limit must hold while the body streams in
        for _ in range(8):
            yield bytes(MAX_UPLOAD // 2)

    r = client.post("/api/translate", content=chunks(), headers={"content-type": "multipart/form-data; boundary=xyz"})
    assert r.status_code == 413 and "limit" in r.json()["error"]


def test_non_image_content_types_are_refused_with_415(client):
    r = post(client, b"hello", name="notes.txt", ctype="text/plain")
    assert r.status_code == 415
    assert r.json() == {"error": "notes.txt: text/plain is not an image; upload a JPEG, PNG or WebP photo"}
    r = client.post("/api/translate", json={"image": "x"})
    assert r.status_code == 415 and "multipart/form-data" in r.json()["error"]


def test_undecodable_images_are_refused(client):
    r = post(client, b"this is not a png at all", name="holiday.png")
    assert r.status_code == 415  # not a photo format, by its bytes
    assert r.json()["error"].startswith("holiday.png: not an image")
    assert "pocketgan-upload" not in r.text  # no server paths in messages
    r = post(client, png_bytes()[:60], name="cut.png")  # truncated
    assert r.status_code == 422 and "cut.png" in r.json()["error"]
    r = post(client, b"\x00\x00\x00\x18ftypheic" + bytes(100), name="IMG_0001.HEIC", ctype="image/heic")
    assert r.status_code == 415 and "HEIC" in r.json()["error"]


def test_wrong_field_and_bad_direction(client):
    r = post(client, png_bytes(), field="photo")
    assert r.status_code == 422
    assert r.json() == {"error": "no file in form field 'image' (fields sent: 'photo')"}
    r = post(client, png_bytes(), direction="sideways")
    assert r.status_code == 400 and "AtoB or BtoA" in r.json()["error"]


def test_parallel_requests_queue_on_the_worker_pool(app, model, monkeypatch):
    active, peak, lock = 0, 0, threading.Lock()
    original = Translator.__call__

    def counted(self, upload, direction, strength=None):
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        try:
            time.sleep(0.02)  # long enough for requests to overlap if nothing held them back
            return original(self, upload, direction, strength)
        finally:
            with lock:
                active -= 1

    monkeypatch.setattr(Translator, "__call__", counted)
    images = [png_bytes((20 + i, 16 + i % 5), seed=i) for i in range(20)]

    async def send_all():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as c:
            return await asyncio.gather(*(c.post("/api/translate", files={"image": (f"{i}.png", d, "image/png")})
                                          for i, d in enumerate(images)))

    responses = asyncio.run(send_all())
    assert [r.status_code for r in responses] == [200] * 20
    for data, r in zip(images, responses, strict=True):  # each answer is the translation of its own request
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB")), expected(model, data))
    assert peak == 2  # both workers used, never more
    assert app.state.pool.admitted == 0


def test_full_queue_answers_503(model, monkeypatch):
    app = create_app(model, workers=1, max_waiting=0)
    release = threading.Event()
    original = Translator.__call__

    def held(self, upload, direction, strength=None):
        release.wait(10)
        return original(self, upload, direction, strength)

    monkeypatch.setattr(Translator, "__call__", held)

    async def scenario():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as c:
            files = {"image": ("a.png", png_bytes(), "image/png")}
            first = asyncio.ensure_future(c.post("/api/translate", files=files))
            while app.state.pool.admitted == 0:
                await asyncio.sleep(0.01)
            second = await c.post("/api/translate", files=files)
            release.set()
            return await first, second

    first, second = asyncio.run(scenario())
    assert first.status_code == 200
    assert second.status_code == 503 and "busy" in second.json()["error"] and second.headers["retry-after"]


# ---------------------------------------------------------------- model card and files


def test_health_and_model_card(client, model):
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and health["directions"] == ["AtoB", "BtoA"] and health["workers"] == 2
    r = client.get("/api/model")
    card = r.json()
    assert card["directions"] == ["AtoB", "BtoA"] and card["kind"] == "folder"
    assert card["generators"]["G_A"]["name"] == "mobile_resnet_6blocks"
    assert card["max_side"] == MAX_SIDE and card["max_upload_bytes"] == MAX_UPLOAD and card["size_multiple"] == 4
    for direction, slot in (("AtoB", "G_A"), ("BtoA", "G_B")):
        entry = card["models"][direction]
        export = entry["card"]
        assert export["direction"] == direction and export["input"]["dtype"] == "uint8"
        assert export["parity_vs_pytorch"]["psnr_db"] >= 40
        body = client.get(entry["url"]).content  # the URL is relative to the page, which is at /
        assert len(body) == entry["bytes"] and hashlib.sha256(body).hexdigest() == entry["sha256"]
        assert body == (model / "export" / f"{slot}_256.onnx").read_bytes()
    assert str(model.parent) not in r.text  # no server paths
    missing = client.get("/models/AtoB-0000.onnx")
    assert missing.status_code == 404 and "error" in missing.json()


def test_public_card_hides_server_paths_but_keeps_prose():
    card = {"data": "/srv/secret/datasets/summer2winter", "teacher": "C:\\models\\big",
            "model_card": {"data": "summer2winter_yosemite (1231 photos): trainA/trainB (unpaired); scores on testA/testB",
                           "notes": "trained from /home/me/runs/s2w on a laptop"},
            "source": "https://example.org/m.pth"}
    shown = public(card)
    assert shown["data"] == "summer2winter" and shown["teacher"] == "big"
    # a card's prose under a path-like key stays readable (it is not a path), absolute paths in it go
    assert shown["model_card"]["data"] == card["model_card"]["data"]
    assert shown["model_card"]["notes"] == "trained from s2w on a laptop"
    assert shown["source"] == card["source"]  # a URL is public already
    assert public({"data": "/srv/my data/x y"})["data"] == "x y"  # a path with spaces is still cut


def test_model_card_names_directions_in_words(tmp_path, make_model):
    assert served_model.domain_names({}, ["summer2winter"]) == {"A": "summer", "B": "winter"}
    assert served_model.domain_names({}, ["G_A_256", "horse2zebra_v2"]) == {"A": "horse", "B": "zebra"}
    assert served_model.domain_names({}, ["s2w", "model", "2x2"]) is None  # no way to tell: the page says A → B
    assert served_model.domain_names({"domains": {"A": "day", "B": "night"}}, ["summer2winter"]) == {"A": "day", "B": "night"}
    assert served_model.domain_names({"domains": {"A": "day"}}, ["x"]) is None  # half a mapping is not one

    folder = make_model(tmp_path / "apple2orange")
    with TestClient(create_app(folder)) as c:
        card = c.get("/api/model").json()
    assert card["domains"] == {"A": "apple", "B": "orange"}
    assert card["direction_names"] == {"AtoB": "apple → orange", "BtoA": "orange → apple"}
    with TestClient(create_app(folder / "export" / "G_B_256.onnx")) as c:  # an export: named after its source folder
        assert c.get("/api/model").json()["direction_names"] == {"BtoA": "orange → apple"}


def test_model_card_without_domain_names(client):
    card = client.get("/api/model").json()  # a folder named "model": nothing says what A and B are
    assert card["domains"] is None and card["direction_names"] is None


def test_onnx_file_serves_its_single_direction(app, model):
    onnx = model / "export" / "G_B_256.onnx"  # written when `app` started
    with TestClient(create_app(onnx)) as c:
        card = c.get("/api/model").json()
        assert card["kind"] == "onnx" and card["directions"] == ["BtoA"]  # read from the .onnx.json card
        ok = post(c, png_bytes((24, 20)), direction="BtoA")
        assert ok.status_code == 200 and Image.open(io.BytesIO(ok.content)).size == (24, 20)
        missing = post(c, png_bytes(), direction="AtoB")
        assert missing.status_code == 404 and "no AtoB" in missing.json()["error"]


def test_exports_are_cached_and_redone_when_the_weights_change(tmp_path, make_model):
    folder = make_model(tmp_path / "m", slots=("G_A",))
    first = served_model.prepare_model(folder)
    path = first.directions["AtoB"].path
    assert path == folder / "export" / "G_A_256.onnx" and list(first.directions) == ["AtoB"]
    stamp = path.stat().st_mtime_ns
    again = served_model.prepare_model(folder)
    assert path.stat().st_mtime_ns == stamp and again.directions["AtoB"].sha256 == first.directions["AtoB"].sha256
    later = time.time() + 5
    os.utime(folder / "G_A.safetensors", (later, later))  # retrained weights: export again
    served_model.prepare_model(folder)
    assert path.stat().st_mtime_ns != stamp


def test_read_only_model_folder_exports_to_a_private_temp_dir(tmp_path, monkeypatch, make_model):
    folder = make_model(tmp_path / "ro", slots=("G_B",))
    monkeypatch.setattr(served_model, "_writable_dir", lambda _folder: False)
    served = served_model.prepare_model(folder)
    cache = served.cache_dir
    assert cache is not None and folder not in cache.parents and (cache / "G_B_256.onnx").is_file()
    assert not (folder / "export").exists()
    served.close()
    assert not cache.exists()


# ---------------------------------------------------------------- static files and the command line


def test_web_app_is_served_with_isolation_headers(client):
    try:
        assets.find_static()
    except assets.AssetsMissing as e:
        if IN_CI:
            pytest.fail(f"{e}")
        pytest.skip(str(e))
    page = client.get("/")
    assert page.status_code == 200 and 'type="module"' in page.text
    assert page.headers["cross-origin-opener-policy"] == "same-origin"
    assert page.headers["cross-origin-embedder-policy"] == "require-corp"
    wasm = client.get("/ort/ort-wasm-simd-threaded.wasm")
    assert wasm.status_code == 200 and wasm.headers["content-type"] == "application/wasm"
    assert client.get("/ort/ort.wasm.min.mjs").headers["content-type"].startswith("text/javascript")
    manifest = client.get("/manifest.webmanifest")
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    assert {i["sizes"] for i in json.loads(manifest.text)["icons"]} == {"192x192", "512x512"}
    sw = client.get("/sw.js").text
    assert "/*BUILD*/ {\"version\":\"" in sw  # the build filled in its version and file lists


def raw_get(client, path: str, **headers) -> tuple[int, dict, bytes]:
    """GET without decoding the body: the bytes as they went over the wire."""
    with client.stream("GET", path, headers=headers) as r:
        return r.status_code, r.headers, b"".join(r.iter_raw())


def test_static_files_are_sent_precompressed(client):
    try:
        static = assets.find_static()
    except assets.AssetsMissing as e:
        if IN_CI:
            pytest.fail(f"{e}")
        pytest.skip(str(e))
    compressed = assets.build_info(static)["compressed"]
    for name, kind in (("ort/ort-wasm-simd-threaded.wasm", "application/wasm"), ("app.js", "text/javascript")):
        original = (static / name).read_bytes()
        assert set(compressed[name]) == {"br", "gzip"}
        status, headers, body = raw_get(client, f"/{name}", **{"accept-encoding": "gzip, deflate, br"})
        assert status == 200 and headers["content-encoding"] == "br" and headers["vary"] == "Accept-Encoding"
        assert headers["content-type"].startswith(kind) and body == (static / f"{name}.br").read_bytes()
        assert len(body) == compressed[name]["br"] < len(original) * 0.6
        _, headers, body = raw_get(client, f"/{name}", **{"accept-encoding": "gzip"})
        assert headers["content-encoding"] == "gzip" and gzip.decompress(body) == original
        for refused in ("identity", "br;q=0, gzip;q=0"):
            _, headers, body = raw_get(client, f"/{name}", **{"accept-encoding": refused})
            assert "content-encoding" not in headers and body == original and headers["vary"] == "Accept-Encoding"
        _, headers, _ = raw_get(client, f"/{name}", **{"accept-encoding": "*"})
        assert headers["content-encoding"] == "br"
    wasm = "/ort/ort-wasm-simd-threaded.wasm"
    _, br_headers, _ = raw_get(client, wasm, **{"accept-encoding": "br"})
    _, plain_headers, _ = raw_get(client, wasm, **{"accept-encoding": "identity"})
    assert br_headers["etag"] != plain_headers["etag"]  # each coding is its own representation
    status, _, body = raw_get(client, wasm, **{"accept-encoding": "br", "if-none-match": br_headers["etag"]})
    assert status == 304 and body == b""
    _, headers, _ = raw_get(client, "/icons/icon-192.png", **{"accept-encoding": "br"})
    assert "content-encoding" not in headers  # PNGs are compressed already: no copies
    page = client.get("/", headers={"accept-encoding": "br"})  # the page itself, through html=True
    assert page.status_code == 200 and page.headers["content-encoding"] == "br"


def test_serve_command_errors_are_one_line(tmp_path, capsys, monkeypatch):
    built = tmp_path / "built"  # stands in for the web build, which this test does not need
    built.mkdir()
    (built / "index.html").write_text("<!doctype html>")
    (built / "build.json").write_text("{}")
    monkeypatch.setattr(assets, "STATIC_DIR", built)
    assert main(["serve", "--model", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pocketgan: error: ") and err.count("\n") == 1 and "no such model folder" in err

    assert main(["serve", "--model", str(tmp_path / "model.onnx")]) == 2
    assert "model.onnx: no such .onnx file" in capsys.readouterr().err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", "--model", str(tmp_path / "nope"), "--port", str(port)]) == 2
        assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err

    with monkeypatch.context() as m:
        m.setitem(sys.modules, "uvicorn", None)  # as if not installed
        assert main(["serve", "--model", str(tmp_path / "nope")]) == 2
        assert "pip install 'pocketgan[app]'" in capsys.readouterr().err

    monkeypatch.setattr(assets, "STATIC_DIR", tmp_path / "static")  # never built
    assert main(["serve", "--model", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "web app is not built" in err and "make web" in err and err.count("\n") == 1
