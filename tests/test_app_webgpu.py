"""The web app on WebGPU, in headless Chromium with its software adapter (SwiftShader).

``--enable-unsafe-webgpu`` is all this Chromium (156, Debian) needs to offer a localhost page a
WebGPU adapter without a GPU: SwiftShader, which says it is a fallback adapter
(``adapter.info.isFallbackAdapter``). On it the page must translate like ONNX Runtime in Python
when WebGPU is forced (``?engine=webgpu``), photos and live frames; and left to choose, it must time
both engines, pick WebAssembly (SwiftShader is far slower), say why in the details panel, and
remember the choice for the next visit.

Needs what tests/test_app_browser.py needs (Chromium, Playwright, the built app; in CI their absence
fails). A Chromium that offers no WebGPU adapter at all skips these tests, in CI too: that is the
machine, not the app.
"""
from __future__ import annotations

import pytest

from test_app_browser import (  # noqa: F401
    CHROMIUM_ARGS,
    PHONE,
    TIMEOUT_MS,
    assert_close,
    canvas_rgb,
    chromium,
    find_chromium,
    frames,
    model,
    open_details,
    photo,
    python_translation,
    server,
    unavailable,
    upload,
    wait_frames,
    wait_state,
)

pytestmark = pytest.mark.slow  # a real server and a headless browser

# the browser tests' flags without --disable-gpu, and WebGPU on (SwiftShader where there is no GPU)
WEBGPU_ARGS = [a for a in CHROMIUM_ARGS if a != "--disable-gpu"] + ["--enable-unsafe-webgpu"]
ADAPTER = """async () => {
    if (!navigator.gpu) return null;
    const a = await navigator.gpu.requestAdapter();
    if (!a) return null;
    const i = a.info || {};
    return { vendor: i.vendor, architecture: i.architecture, fallback: Boolean(i.isFallbackAdapter ?? a.isFallbackAdapter) };
}"""


@pytest.fixture(scope="module")
def gpu_browser(server):
    """Chromium with WebGPU on, after checking a page of the server gets an adapter (skip if not)."""
    with chromium(WEBGPU_ARGS) as b:
        probe = b.new_page()
        probe.goto(server + "api/health")  # same origin as the app: a secure (localhost) context
        adapter = probe.evaluate(ADAPTER)
        probe.close()
        if not adapter:
            pytest.skip(f"Chromium ({find_chromium()}) offers no WebGPU adapter with {' '.join(WEBGPU_ARGS)}")
        print(f"WebGPU adapter: {adapter}")
        yield b


def open_page(browser, url: str):
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    return context, page, errors


@pytest.fixture
def webgpu_page(gpu_browser, server):
    """The app with WebGPU forced."""
    context, page, errors = open_page(gpu_browser, server + "?engine=webgpu")
    yield page
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def test_forced_webgpu_translates_like_onnxruntime_python(webgpu_page, model):
    page = webgpu_page
    assert wait_state(page, "ready", "error") == "ready", page.inner_text("#status")
    assert page.get_attribute("#engine", "data-backend") == "WebGPU", page.text_content("#engine")
    assert page.get_attribute("#engine", "data-choice") == "forced"
    assert "forced with ?engine=webgpu" in page.text_content("#engine")
    pixels, data = photo((64, 48), seed=21)  # small: the software adapter is slow
    upload(page, "gpu.png", data, "image/png")
    assert wait_state(page, "done", "error") == "done", page.inner_text("#status")
    print(page.text_content("#timing"))
    want = python_translation(model / "export" / "G_A_256.onnx", pixels)
    assert want.std() > 10
    assert_close(canvas_rgb(page, "#after"), want, "WebGPU AtoB 64x48")


def test_forced_webgpu_live_camera_gives_frames(webgpu_page):
    page = webgpu_page
    assert wait_state(page, "ready", "error") == "ready", page.inner_text("#status")
    open_details(page)
    page.select_option("#live-size", "128")  # the software adapter's frames are slow at 256
    page.click("#camera")
    assert wait_state(page, "live", "error") == "live", page.inner_text("#status")
    wait_frames(page, 1)
    seen = frames(page)
    wait_frames(page, seen)  # frames keep coming
    print(f"live on WebGPU: {page.text_content('#fps')} (model {page.get_attribute('#fps', 'data-run-ms')} ms a frame)")
    page.click("#live-stop")
    assert wait_state(page, "ready") == "ready"


def test_engine_choice_measures_picks_webassembly_and_remembers(gpu_browser, server):
    """With only the software adapter, the measured choice is WebAssembly, and the details say why;
    the next visit takes the remembered choice without measuring again."""
    context, page, errors = open_page(gpu_browser, server)
    try:
        assert wait_state(page, "ready", "error") == "ready", page.inner_text("#status")
        engine = page.text_content("#engine")
        print(f"engine choice: {engine}")
        assert page.get_attribute("#engine", "data-backend") == "WebAssembly", engine
        assert page.get_attribute("#engine", "data-choice") == "measured", engine
        assert page.get_attribute("#engine", "data-adapter") == "fallback", engine
        assert "measured at 128×128" in engine and "WebGPU" in engine and "software fallback adapter" in engine, engine
        stored = page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('pocketgan-engine:'))")
        assert len(stored) == 1

        page.reload()  # a later visit: remembered, not measured
        assert wait_state(page, "ready", "error") == "ready", page.inner_text("#status")
        assert page.get_attribute("#engine", "data-choice") == "remembered"
        assert page.get_attribute("#engine", "data-backend") == "WebAssembly"
        assert "on an earlier visit" in page.text_content("#engine")
        _, data = photo((40, 32), seed=22)
        upload(page, "chosen.png", data, "image/png")
        assert wait_state(page, "done", "error") == "done", page.inner_text("#status")
    finally:
        context.close()
    assert not errors, f"uncaught errors in the page: {errors}"
