"""Live camera translation speed of the web app in headless Chromium: frames per second at 256x256.

Starts `pocketgan serve` (the bundled summer2winter model unless --model), opens the page in headless
Chromium with a synthetic camera (getUserMedia answers with a 256x256 canvas stream of a moving
scene, so every frame is exactly the working size), sets the live working size to 256, starts live
mode and counts the translated frames the page reports, second by second, after a warm-up (V8 moves
the WebAssembly kernels to its optimising compiler only once they are hot).

In the same run it measures the per-run time of the page before this live mode existed ("today":
the photo path on the page's main thread, as web/src/app.js did it: canvas -> RGB copy ->
session.run -> copy -> RGBA -> canvas, with its thread count, min(4, cores)) in a second tab, so
the two figures share the machine's state. The WebAssembly thread counts of both are printed.

    python benchmarks/web_live_fps.py                      # needs `make web`, Chromium and Playwright
    python benchmarks/web_live_fps.py --seconds 20 --size 256 --json out.json
    python benchmarks/web_live_fps.py --threads 2          # the page's WebAssembly threads (default: cores - 1)
    python benchmarks/web_live_fps.py --workers 2          # live frames in two workers in turn (default: 1)

Needs Chromium (Debian's `chromium`, or CHROMIUM=path) and Playwright for Python (`pip install -e .[app]`).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--use-fake-ui-for-media-stream"]

# getUserMedia -> a canvas stream of SIZE x SIZE: a moving scene, so each frame differs
FAKE_CAMERA = """
(() => {
  const size = %d;
  navigator.mediaDevices.getUserMedia = async () => {
    const canvas = document.createElement('canvas');
    canvas.width = size; canvas.height = size;
    const ctx = canvas.getContext('2d');
    let t = 0;
    const draw = () => {
      t += 1;
      const g = ctx.createLinearGradient(0, 0, size, size);
      g.addColorStop(0, `hsl(${(t * 3) %% 360}, 60%%, 60%%)`); g.addColorStop(1, '#2a6');
      ctx.fillStyle = g; ctx.fillRect(0, 0, size, size);
      ctx.fillStyle = '#fff'; ctx.beginPath();
      ctx.arc(size / 2 + Math.sin(t / 10) * size / 3, size / 2, size / 8, 0, 7); ctx.fill();
    };
    draw();
    setInterval(draw, 33);
    return canvas.captureStream(30);
  };
})();
"""

# The page's photo path before the inference worker (web/src/app.js + runtime.js + imaging.js at the
# commit before it): everything on the main thread, one RGB copy in, one copy out.
OLD_PATH = """
async ([size, runs]) => {
  const ort = await import('./ort/ort.wasm.min.mjs');
  ort.env.wasm.wasmPaths = new URL('./ort/', location.href).href;
  ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
  ort.env.logLevel = 'error';
  const card = await (await fetch('api/model')).json();
  const bytes = new Uint8Array(await (await fetch(card.models.AtoB.url)).arrayBuffer());
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
  const src = document.createElement('canvas'); src.width = size; src.height = size;
  const sctx = src.getContext('2d', { willReadFrequently: true });
  const dst = document.createElement('canvas'); dst.width = size; dst.height = size;
  const dctx = dst.getContext('2d');
  const rgbaToRgb = (rgba, n) => { const rgb = new Uint8Array(n * 3);
    for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) { rgb[i] = rgba[j]; rgb[i+1] = rgba[j+1]; rgb[i+2] = rgba[j+2]; }
    return rgb; };
  const rgbToRgba = (rgb, n) => { const rgba = new Uint8ClampedArray(n * 4);
    for (let i = 0, j = 0; j < rgba.length; i += 3, j += 4) {
      rgba[j] = rgb[i]; rgba[j+1] = rgb[i+1]; rgba[j+2] = rgb[i+2]; rgba[j+3] = 255; }
    return rgba; };
  const times = [];
  for (let k = 0; k < runs; k++) {
    const start = performance.now();
    sctx.fillStyle = `hsl(${k * 7}, 50%, 50%)`; sctx.fillRect(0, 0, size, size);
    const rgb = rgbaToRgb(sctx.getImageData(0, 0, size, size).data, size * size);
    const input = new ort.Tensor('uint8', rgb, [1, size, size, 3]);
    const results = await session.run({ [session.inputNames[0]]: input });
    const out = results[session.outputNames[0]];
    const data = out.data instanceof Uint8Array ? out.data : Uint8Array.from(out.data);
    dctx.putImageData(new ImageData(rgbToRgba(data, size * size), size, size), 0, 0);
    times.push(performance.now() - start);
  }
  return [times, ort.env.wasm.numThreads];
}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: str | None, log: Path) -> tuple[subprocess.Popen, str]:
    """`pocketgan serve` on a free port; returns (process, base URL) once it answers."""
    port = free_port()
    cmd = [sys.executable, "-m", "pocketgan", "serve", "--port", str(port), *(["--model", model] if model else [])]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 300
    while True:
        try:
            urllib.request.urlopen(url + "api/health", timeout=2).read()
            return proc, url
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise SystemExit(f"pocketgan serve did not start:\n{log.read_text()}") from None
            time.sleep(0.3)


def live_fps(browser, url: str, size: int, warmup: float, seconds: float, threads: int = 0, workers: int = 0) -> dict:
    """Median and spread of the page's translated frames per second, measured each second
    (``threads``, ``workers``: the page's ?threads=N and ?workers=N, its WebAssembly threads per
    worker and its live workers; 0 = its own choice)."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, service_workers="block")
    context.add_init_script(FAKE_CAMERA % size)
    page = context.new_page()
    query = "&".join(f"{k}={v}" for k, v in (("threads", threads), ("workers", workers)) if v)
    page.goto(url + (f"?{query}" if query else ""))
    page.wait_for_selector("#status[data-state=ready]", timeout=300_000)
    engine = {"backend": page.get_attribute("#engine", "data-backend"),
              "threads": int(page.get_attribute("#engine", "data-threads") or 0)}
    page.evaluate("document.querySelector('#details').open = true")
    page.select_option("#live-size", str(size))
    page.click("#camera")
    page.wait_for_function("Number(document.querySelector('#fps').dataset.frames) > 0", timeout=120_000)
    time.sleep(warmup)
    frames = lambda: int(page.get_attribute("#fps", "data-frames"))  # noqa: E731
    per_second, last, t_last = [], frames(), time.perf_counter()
    end = t_last + seconds
    while t_last < end:
        time.sleep(1.0)
        now_frames, now = frames(), time.perf_counter()
        per_second.append((now_frames - last) / (now - t_last))
        last, t_last = now_frames, now
    shown = page.text_content("#fps")
    run_ms = float(page.get_attribute("#fps", "data-run-ms") or "nan")
    workers = int(page.get_attribute("#fps", "data-workers") or 0)
    stages = json.loads(page.get_attribute("#fps", "data-stages") or "{}")  # live.js recordStages: ms, averages
    page.click("#live-stop")
    context.close()
    return {**engine, "fps_median": statistics.median(per_second), "fps_min": min(per_second),
            "fps_max": max(per_second), "per_second": [round(f, 2) for f in per_second], "page_shows": shown,
            "session_run_ms": round(run_ms, 1), "workers": workers, "stages_ms": stages}


def old_path_ms(browser, url: str, size: int, runs: int, warmup_runs: int) -> dict:
    """Per-run ms of the page's former main-thread photo path at the same size, with its thread count."""
    context = browser.new_context(service_workers="block")
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("#status[data-state=ready]", timeout=300_000)
    times, threads = page.evaluate(OLD_PATH, [size, warmup_runs + runs])
    context.close()
    times = times[warmup_runs:]
    return {"median_ms": statistics.median(times), "min_ms": min(times), "runs": runs, "threads": threads}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="model folder or .onnx to serve (default: the bundled summer2winter)")
    ap.add_argument("--size", type=int, default=256, help="camera frame and live working size, square (default 256)")
    ap.add_argument("--seconds", type=float, default=15, help="seconds of live mode measured (default 15)")
    ap.add_argument("--warmup", type=float, default=10, help="seconds of live mode before measuring (default 10)")
    ap.add_argument("--old-runs", type=int, default=30, help="runs of the former per-run path measured (default 30)")
    ap.add_argument("--threads", type=int, default=0,
                    help="WebAssembly threads of the page (its ?threads=N; default: its own choice, cores - 1)")
    ap.add_argument("--workers", type=int, default=0,
                    help="workers taking live frames in turn (the page's ?workers=N; default: its own choice, 1)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise SystemExit("Playwright for Python is missing: pip install -e '.[app]'") from None
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        raise SystemExit("Chromium not found: apt-get install -y chromium (or set CHROMIUM to its path)")

    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(args.model, Path(tmp) / "serve.log")
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
                live = live_fps(browser, url, args.size, args.warmup, args.seconds, args.threads, args.workers)
                old = old_path_ms(browser, url, args.size, args.old_runs, warmup_runs=20)
                browser.close()
        finally:
            proc.terminate()
            proc.wait(10)
    now_ms = 1000 / live["fps_median"] if live["fps_median"] else float("inf")
    result = {"size": f"{args.size}x{args.size}", "backend": live["backend"], "wasm_threads": live["threads"],
              "cpu_cores": os.cpu_count(), "live": live, "per_frame_ms_now": round(now_ms, 1),
              "per_run_ms_before": round(old["median_ms"], 1), "before": old,
              "fps_before": round(1000 / old["median_ms"], 2)}
    print(f"live translation at {result['size']} in headless Chromium ({live['backend']}, {live['workers']} worker(s) "
          f"taking frames in turn, {live['threads']} WebAssembly thread(s) each, {os.cpu_count()} cores):")
    print(f"  now:    {live['fps_median']:.1f} fps median (min {live['fps_min']:.1f}, max {live['fps_max']:.1f}) "
          f"over {len(live['per_second'])} s = {now_ms:.0f} ms per frame; one frame's session.run "
          f"{live['session_run_ms']:.0f} ms (running average)")
    stages = live["stages_ms"]
    if stages:
        total = sum(stages.values())
        print("  where a frame's time goes (running averages, ms; grab/show on the page, read..draw in the worker, "
              "queue: waiting for the worker and the trips between):")
        print("    " + "  ".join(f"{name} {ms:.1f} ({100 * ms / total:.0f}%)" for name, ms in stages.items())
              + f"  = {total:.1f} ms")
    print(f"  before: {old['median_ms']:.0f} ms per run median (min {old['min_ms']:.0f}) on the main thread, "
          f"{old['threads']} WebAssembly thread(s) = {result['fps_before']:.1f} fps")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
