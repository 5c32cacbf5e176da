"""The web app end to end, in headless Chromium (Playwright) against a real `pocketgan serve`.

The page must translate in the browser exactly like ONNX Runtime in Python (onnxruntime-web's
WebAssembly kernels differ from the CPU provider's only by float rounding, which after uint8
rounding is at most a level or two), report its timing and sizes, refuse bad files with a message,
fall back to the server when the model cannot load, keep working offline, and fit a 390 px phone.

Needs Chromium (`apt-get install chromium`) and the built web app (`make web`); outside CI the test
is skipped without them, in CI (env CI set) it fails with the install hint.
"""
from __future__ import annotations

import base64
import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pocketgan.inference.runners import OnnxRunner
from pocketgan.models.pretrained import save_pretrained

pytestmark = pytest.mark.slow  # a real server and a headless browser

IN_CI = bool(os.environ.get("CI"))
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]
# uint8 levels. Measured here (Chromium 156, onnxruntime-web 1.30 wasm vs onnxruntime 1.32 CPU): AtoB 50x38
# identical (max 0), BtoA 256x128 max 1, mean 0.0001. The bound leaves room for other CPUs' float rounding.
MAX_ABS_DIFF, MAX_MEAN_DIFF = 2, 0.5
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 60_000


def unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def find_chromium() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path or not os.access(path, os.X_OK):
        unavailable(f"Chromium not found{f' at {path}' if path else ''}: apt-get install -y chromium "
                    "(or set CHROMIUM to its path)")
    return path


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright for Python is missing: pip install -e '.[app]'")
    from pocketgan.app.assets import AssetsMissing, find_static
    try:
        find_static()
    except AssetsMissing as e:
        unavailable(str(e))
    executable = find_chromium()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def model(tmp_path_factory, expressive_generator) -> Path:
    return save_pretrained(tmp_path_factory.mktemp("web") / "model",
                           {"G_A": expressive_generator(10), "G_B": expressive_generator(11)})


@pytest.fixture(scope="module")
def server(model, tmp_path_factory):
    """`pocketgan serve` in a subprocess on a free port; yields its base URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "pocketgan", "serve", "--model", str(model), "--port", str(port)],
                                stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "api/health", timeout=2).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"pocketgan serve did not start:\n{log.read_text()}")
            time.sleep(0.2)
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server)
    yield page
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def wait_state(page, *states: str) -> str:
    selector = ", ".join(f"#status[data-state={s}]" for s in states)
    page.wait_for_selector(selector, timeout=TIMEOUT_MS)
    return page.get_attribute("#status", "data-state")


def canvas_rgb(page, selector: str) -> np.ndarray:
    w, h, data = page.evaluate("""sel => {
        const c = document.querySelector(sel);
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let s = ''; for (let i = 0; i < d.length; i++) s += String.fromCharCode(d[i]);
        return [c.width, c.height, btoa(s)];
    }""", selector)
    return np.frombuffer(base64.b64decode(data), np.uint8).reshape(h, w, 4)[..., :3]


def photo(size: tuple[int, int], seed: int, fmt: str = "PNG") -> tuple[np.ndarray, bytes]:
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / (w - 1), yy * 255 / (h - 1), 128 + 60 * np.sin(xx / 5.0)], -1)
    pixels = np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, fmt)
    return pixels, buf.getvalue()


def python_translation(onnx: Path, rgb: np.ndarray) -> np.ndarray:
    """ONNX Runtime (Python, CPU) on the same pixels, padded like the page and the Python pipeline do."""
    h, w = rgb.shape[:2]
    padded = np.pad(rgb, ((0, -h % 4), (0, -w % 4), (0, 0)), mode="reflect")
    return OnnxRunner(onnx)(np.ascontiguousarray(padded[None]))[0, :h, :w]


def upload(page, name: str, data: bytes, mime: str) -> None:
    page.set_input_files("#file", files=[{"name": name, "mimeType": mime, "buffer": data}])


def assert_close(got: np.ndarray, want: np.ndarray, what: str) -> None:
    diff = np.abs(got.astype(int) - want.astype(int))
    print(f"{what}: browser vs onnxruntime (Python): max abs diff {diff.max()}/255, mean {diff.mean():.4f}")
    assert got.shape == want.shape
    assert diff.max() <= MAX_ABS_DIFF and diff.mean() <= MAX_MEAN_DIFF, (diff.max(), diff.mean())


def test_translates_in_the_browser_like_onnxruntime_python(page, model):
    wait_state(page, "ready")
    assert "on this device (WebAssembly)" in page.inner_text("#status")  # no GPU here: the wasm backend
    pixels, data = photo((50, 38), seed=3)  # not a multiple of 4: the page pads and crops
    upload(page, "scene.png", data, "image/png")
    assert wait_state(page, "done", "error") == "done", page.inner_text("#status")

    np.testing.assert_array_equal(canvas_rgb(page, "#before"), pixels)  # decoded exactly, no colour management
    after = canvas_rgb(page, "#after")
    want = python_translation(model / "export" / "G_A_256.onnx", pixels)
    assert want.std() > 10  # a flat output would make the comparison meaningless
    assert_close(after, want, "AtoB 50x38")

    timing = page.inner_text("#timing")
    assert "ms on this device" in timing and "processed 50×38" in timing, timing
    assert float(timing.split("Inference ")[1].split(" ms")[0]) >= 0

    with page.expect_download() as download:
        page.click("#download")
    assert download.value.suggested_filename == "scene-AtoB.png"
    saved = Image.open(download.value.path())
    assert saved.format == "PNG" and saved.size == (50, 38)
    np.testing.assert_array_equal(np.asarray(saved.convert("RGB")), after)

    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / ".gitignore").write_text("*\n")  # test output, never committed
    shot = ARTIFACTS / "app-390x844.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scrolling
    assert page.is_visible("#after") and page.is_visible("#slider")


def test_downscales_big_photos_and_runs_the_other_direction(page, model):
    wait_state(page, "ready")
    page.select_option("#direction", "BtoA")
    wait_state(page, "ready")
    page.select_option("#max-side", "256")
    _, data = photo((600, 300), seed=4, fmt="JPEG")
    upload(page, "wide.jpg", data, "image/jpeg")
    assert wait_state(page, "done", "error") == "done", page.inner_text("#status")
    timing = page.inner_text("#timing")
    assert "processed 256×128" in timing and "downscaled from 600×300" in timing, timing
    before = canvas_rgb(page, "#before")  # what the network saw
    assert before.shape == (128, 256, 3)
    assert_close(canvas_rgb(page, "#after"), python_translation(model / "export" / "G_B_256.onnx", before), "BtoA 256x128")


def test_bad_files_and_missing_camera_give_messages(page):
    wait_state(page, "ready")
    page.set_input_files("#take", files=[{"name": "broken.jpg", "mimeType": "image/jpeg",  # the camera input
                                          "buffer": b"\xff\xd8\xff\xe0 definitely not a complete jpeg"}])
    assert wait_state(page, "error") == "error"
    assert "broken.jpg could not be decoded" in page.inner_text("#status")
    upload(page, "IMG_0042.HEIC", b"\x00\x00\x00\x18ftypheic" + bytes(200), "image/heic")
    page.wait_for_function("document.querySelector('#status').textContent.includes('HEIC')", timeout=TIMEOUT_MS)
    assert page.get_attribute("#status", "data-state") == "error" and page.is_visible("#status")
    page.click("#camera")  # headless Chromium has no camera: the page must say so and keep the file input
    page.wait_for_function("document.querySelector('#status').textContent.includes('Choose a photo')",
                           timeout=TIMEOUT_MS)
    assert page.get_attribute("#status", "data-state") == "error" and page.is_enabled("#file")


def test_model_that_fails_to_load_shows_a_message_and_uses_the_server(browser, server):
    context = browser.new_context(viewport=PHONE, service_workers="block")
    page = context.new_page()
    page.route("**/models/**", lambda route: route.fulfill(status=200, body=b"this is not an ONNX model"))
    page.goto(server)
    assert wait_state(page, "error") == "error"
    assert "could not be loaded" in page.inner_text("#status") and page.is_checked("#on-server")
    _, data = photo((40, 24), seed=5)
    upload(page, "fallback.png", data, "image/png")
    assert wait_state(page, "done") == "done"
    assert "on the server" in page.inner_text("#timing")
    context.close()


def test_installable_and_works_offline_after_the_first_visit(browser, server):
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.goto(server)
    wait_state(page, "ready")
    manifest = page.evaluate("fetch(document.querySelector('link[rel=manifest]').href).then(r => r.json())")
    assert manifest["display"] == "standalone" and len(manifest["icons"]) >= 2
    cached = page.evaluate("""async () => {
        await navigator.serviceWorker.ready;
        const card = await (await fetch('api/model')).json();
        const urls = [...Object.values(card.models).map(m => m.url), 'index.html', 'ort/ort-wasm-simd-threaded.wasm'];
        for (let i = 0; i < 100; i++) {  // install caches them in the background
            const hits = await Promise.all(urls.map(u => caches.match(u)));
            if (hits.every(Boolean) && navigator.serviceWorker.controller) return true;
            await new Promise(r => setTimeout(r, 100));
        }
        return false;
    }""")
    assert cached, "the service worker did not cache the app shell, runtime and models"
    context.set_offline(True)
    page.reload()
    assert wait_state(page, "ready", "error") == "ready", page.inner_text("#status")
    _, data = photo((32, 32), seed=6)
    upload(page, "offline.png", data, "image/png")
    assert wait_state(page, "done", "error") == "done", page.inner_text("#status")
    context.close()
