"""Where the time of an in-browser model run goes, and the ceiling: onnxruntime-web's own speed in headless Chromium.

Three parts, in one run, on the same machine state:

1. the engine's ceiling: the app's own onnxruntime-web build (pocketgan/app/static/ort/, the
   ort.wasm.min.mjs bundle and ort-wasm-simd-threaded.wasm the page loads when there is no WebGPU)
   times a 1024x1024 MatMul (2*N^3 FLOP) and a 3x3 64->64 convolution at 128x128 (2*H*W*Cin*Cout*9
   FLOP), two tiny ONNX graphs with random weights built here, and the bundled model exported at
   256x256 (2 x its MACs from pocketgan.models.profile), at 1 and 2 WebAssembly threads: median ms,
   GFLOP/s, and the model's GFLOP/s as a share of the MatMul and conv ceilings. The SIMD variants
   onnxruntime-web offers are listed (which .wasm files the build ships, whether the app's .wasm
   holds relaxed-SIMD instructions, whether this Chromium supports relaxed SIMD).
2. a per-operator profile of the model in the browser (sessionOptions.enableProfiling; the wasm
   backend prints the trace events to the console at session.endProfiling()) on 2 threads: the top
   operators by time per run (convolutions split by kernel size, depthwise or not), with their
   GFLOP/s and, beside them, the same operators' ms in native ONNX Runtime's profile.
3. the native baseline: onnxruntime (Python) on the same three .onnx files at 1 and 2 threads
   (intra_op_num_threads), and the browser / native ratio.

`pocketgan serve` only serves the app and its model, so the script serves a temporary folder (a
blank page, the three graphs, a link to the app's ort/ folder) from a tiny server on 127.0.0.1
that sends the same cross-origin isolation headers as pocketgan/app/server.py (COOP same-origin,
COEP require-corp): WebAssembly threads need a cross-origin isolated page. The graphs run on the
page's main thread (the app runs them in a worker; the kernels are the same).

    python benchmarks/web_ceiling.py                        # needs `make web`, Chromium and Playwright
    python benchmarks/web_ceiling.py --runs 30 --json out.json
    python benchmarks/web_ceiling.py --threads 1 2 4 --model summer2winter --size 256

Needs Chromium (Debian's `chromium`, or CHROMIUM=path), Playwright for Python (`pip install -e .[app]`),
onnx and onnxruntime. Medians of --runs runs after --warmup runs; os.getloadavg() and the CPU share
other processes used are printed, since a busy machine slows every figure.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from machine import OthersCpu, cpu_model  # benchmarks/machine.py
from mobile_latency import median_ms  # benchmarks/mobile_latency.py
from web_live_fps import CHROMIUM_ARGS  # benchmarks/web_live_fps.py

ROOT = Path(__file__).resolve().parent.parent
ORT_DIR = ROOT / "pocketgan" / "app" / "static" / "ort"
NPM_DIST = ROOT / "web" / "node_modules" / "onnxruntime-web" / "dist"
PROFILE_END = "pocketgan-profile-end"

# Runs in the benchmark page: loads the app's onnxruntime-web build with `threads` WebAssembly
# threads (fixed once per page), then times each graph; the last graph may be run again in a
# profiled session, whose trace events the wasm backend prints to the console.
PAGE_JS = """
async ({ threads, graphs, warmup, runs, profile, relaxedProbe }) => {
  const ort = await import('./ort/ort.wasm.min.mjs');
  ort.env.wasm.wasmPaths = new URL('./ort/', location.href).href;
  ort.env.wasm.numThreads = threads;
  ort.env.logLevel = 'error';
  const inputOf = (g) => {
    const n = g.shape.reduce((a, b) => a * b, 1);
    const data = g.dtype === 'uint8' ? new Uint8Array(n) : new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = g.dtype === 'uint8' ? (i * 2654435761) % 251 : Math.random() * 2 - 1;
    return { [g.input]: new ort.Tensor(g.dtype, data, g.shape) };
  };
  const timeRuns = async (session, feeds, count) => {
    const times = [];
    for (let k = 0; k < count; k++) {
      const start = performance.now();
      await session.run(feeds);
      times.push(performance.now() - start);
    }
    return times;
  };
  const results = {};
  for (const g of graphs) {
    const bytes = new Uint8Array(await (await fetch(g.url)).arrayBuffer());
    const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
    const feeds = inputOf(g);
    await timeRuns(session, feeds, warmup);
    results[g.name] = await timeRuns(session, feeds, runs);
    await session.release();
    if (profile && g === graphs[graphs.length - 1]) {
      const profiled = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], enableProfiling: true });
      await timeRuns(profiled, feeds, warmup);
      results[g.name + ' (profiled)'] = await timeRuns(profiled, feeds, profile);
      profiled.endProfiling();
      await profiled.release();
      console.log('""" + PROFILE_END + """');
    }
  }
  return { results, threads: ort.env.wasm.numThreads, isolated: self.crossOriginIsolated, version: ort.env.versions.web,
           relaxedSimd: WebAssembly.validate(new Uint8Array(relaxedProbe)) };
}
"""


def relaxed_simd_probe() -> bytes:
    """A one-function WebAssembly module that uses a relaxed-SIMD instruction: (func (result v128)
    v128.const 0 x3, f32x4.relaxed_madd); WebAssembly.validate says whether the browser has them."""
    v128_zero = bytes([0xFD, 0x0C]) + bytes(16)
    body = bytes([0x00]) + v128_zero * 3 + bytes([0xFD, 0x85, 0x02, 0x0B])  # no locals; relaxed_madd = 0xFD 261; end
    code = bytes([1, len(body)]) + body
    return (b"\0asm" + bytes([1, 0, 0, 0]) + bytes([1, 5, 1, 0x60, 0, 1, 0x7B])  # type: () -> v128
            + bytes([3, 2, 1, 0]) + bytes([10, len(code)]) + code)


def relaxed_opcodes(path: Path) -> int:
    """Occurrences of a relaxed-SIMD opcode (0xFD prefix, then 0x100..0x113 as LEB128) anywhere in the
    file: a byte scan, so a count above 0 may be data, but 0 means the module has none."""
    return len(re.findall(rb"\xfd[\x80-\x93]\x02", path.read_bytes()))


def build_graphs(folder: Path, n: int, hw: int, c: int) -> None:
    """matmul.onnx (Y = A @ B, B a random N x N initializer) and conv.onnx (3x3, C -> C, pad 1, bias)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)

    def save(name, node, x_shape, y_shape, weights):
        graph = helper.make_graph([node], name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)],
                                  [numpy_helper.from_array(w.astype(np.float32), k) for k, w in weights.items()])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
        onnx.checker.check_model(model)
        onnx.save(model, folder / f"{name}.onnx")

    save("matmul", helper.make_node("MatMul", ["x", "b"], ["y"]), [n, n], [n, n], {"b": rng.standard_normal((n, n))})
    save("conv", helper.make_node("Conv", ["x", "w", "bias"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
         [1, c, hw, hw], [1, c, hw, hw], {"w": rng.standard_normal((c, c, 3, 3)) * 0.05, "bias": rng.standard_normal(c)})


def model_macs(model: str, size: int) -> int:
    from pocketgan.models.pretrained import load_generator
    from pocketgan.models.profile import count_macs
    from pocketgan.models.zoo import resolve_model

    return count_macs(load_generator(resolve_model(model)), (1, 3, size, size))


class IsolatedFiles(http.server.SimpleHTTPRequestHandler):
    """Static files with the cross-origin isolation headers WebAssembly threads need, never cached."""
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".mjs": "text/javascript",
                      ".wasm": "application/wasm", ".onnx": "application/octet-stream"}

    def end_headers(self) -> None:
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, *args) -> None:
        pass


@contextmanager
def serve_folder(folder: Path):
    """Serve ``folder`` on a free port of 127.0.0.1; yields the base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(IsolatedFiles, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def find_chromium() -> str:
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        raise SystemExit("Chromium not found: apt-get install -y chromium (or set CHROMIUM to its path)")
    return chromium


def browser_runs(browser, url: str, threads: int, graphs: list[dict], warmup: int, runs: int, profile: int) -> dict:
    """One fresh page with ``threads`` WebAssembly threads: per-run ms of every graph, and the trace
    events of ``profile`` profiled runs of the last graph (0: none)."""
    context = browser.new_context(service_workers="block")
    page = context.new_page()
    lines: list[str] = []
    page.on("console", lambda msg: lines.append(msg.text))
    page.goto(url)
    out = page.evaluate(PAGE_JS, {"threads": threads, "graphs": graphs, "warmup": warmup, "runs": runs,
                                  "profile": profile, "relaxedProbe": list(relaxed_simd_probe())})
    if profile:
        for _ in range(200):  # console events may trail the evaluate's answer
            if PROFILE_END in lines:
                break
            page.wait_for_timeout(50)
    context.close()
    out["trace"] = [json.loads(line.rstrip().rstrip(",")) for line in lines if line.startswith('{"cat"')]
    return out


def op_label(args: dict) -> tuple[str, float | None]:
    """(label, FLOPs) of one profiled kernel: convolutions by kernel size and depthwise or not (FLOPs
    from the logical NCHW shapes ONNX Runtime reports, native NCHWc kernels included), else the op type."""
    op = args.get("op_name", "?")
    shapes = [next(iter(s.values())) for s in args.get("input_type_shape", [])]
    outs = [next(iter(s.values())) for s in args.get("output_type_shape", [])]
    if op in ("Conv", "FusedConv") and len(shapes) >= 2 and len(shapes[0]) == 4 and len(shapes[1]) == 4:
        cin, (_, cin_per_group, kh, kw) = shapes[0][1], shapes[1]
        label = f"Conv {kh}x{kw}" + (" depthwise" if cin_per_group == 1 and cin > 1 else "")
        flops = 2 * float(np.prod(outs[0][1:])) * cin_per_group * kh * kw if outs else None
        return label, flops
    return {"Upsample": "Resize"}.get(op, op), None  # native's NCHWc Resize is "Upsample"


def op_profile(trace: list[dict], runs: int) -> dict:
    """Per-run time by operator label over the last ``runs`` model runs of a trace (Chrome trace events
    from ONNX Runtime's profiler): median ms per run, count per run, FLOPs per run, and the run's ms."""
    windows = [(e["ts"], e["ts"] + e["dur"]) for e in trace if e.get("name") == "model_run"][-runs:]
    kernels = [e for e in trace if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time")]
    per_run = []
    for start, end in windows:
        totals: dict[str, list[float]] = {}
        for e in kernels:
            if start <= e["ts"] <= end:
                label, flops = op_label(e.get("args", {}))
                t = totals.setdefault(label, [0.0, 0, 0.0])
                t[0] += e["dur"] / 1000
                t[1] += 1
                t[2] += flops or 0.0
        per_run.append(totals)
    labels = {k for totals in per_run for k in totals}
    ops = {k: {"ms": statistics.median(t.get(k, [0.0])[0] for t in per_run),
               "count": max(t.get(k, [0, 0])[1] for t in per_run),
               "flops": max(t.get(k, [0, 0, 0.0])[2] for t in per_run)} for k in labels}
    return {"ops": ops, "kernel_ms": statistics.median(sum(v[0] for v in t.values()) for t in per_run) if per_run else 0.0,
            "run_ms": statistics.median(end - start for start, end in windows) / 1000 if windows else 0.0}


def native_runs(folder: Path, graphs: list[dict], threads: int, warmup: int, runs: int, profile: int) -> dict:
    """onnxruntime (Python, CPU) per-run ms of each graph at ``threads`` intra-op threads, and the
    profile of ``profile`` runs of the last graph."""
    import onnxruntime as ort

    def session(path, profiled=False):
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        if profiled:
            so.enable_profiling = True
            so.profile_file_prefix = str(folder / f"native_profile_{threads}")
        return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])

    rng = np.random.default_rng(1)
    out = {}
    for g in graphs:
        if g["dtype"] == "uint8":
            x = rng.integers(0, 256, g["shape"], dtype=np.uint8)
        else:
            x = rng.uniform(-1, 1, g["shape"]).astype(np.float32)
        s = session(folder / g["url"])
        out[g["name"]] = median_ms(lambda: s.run(None, {g["input"]: x}), runs, warmup)  # noqa: B023 - timed here, in this iteration
    if profile:
        model = graphs[-1]
        s = session(folder / model["url"], profiled=True)
        x = rng.integers(0, 256, model["shape"], dtype=np.uint8) if model["dtype"] == "uint8" else x
        for _ in range(warmup + profile):
            s.run(None, {model["input"]: x})
        out["profile"] = op_profile(json.loads(Path(s.end_profiling()).read_text()), profile)
    return out


def descendants_cpu_seconds() -> float:
    """CPU seconds (user + system, reaped children included) of this process's live descendants
    (Playwright's driver, Chromium and its helpers), from /proc; 0 where /proc is missing."""
    parent, ticks = {}, {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            parent[int(entry)] = int(fields[1])
            ticks[int(entry)] = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    kids, todo = 0, [os.getpid()]
    while todo:
        pid = todo.pop()
        for child in (c for c, p in parent.items() if p == pid):
            kids += ticks[child]
            todo.append(child)
    return kids / os.sysconf("SC_CLK_TCK")


class OthersCpuBesidesUs(OthersCpu):
    """machine.OthersCpu that also leaves out this process's descendants (the browser), which must
    still run when stop() is called."""

    def start(self) -> None:
        super().start()
        self._ours = (descendants_cpu_seconds(), time.perf_counter())

    def stop(self) -> float | None:
        share = super().stop()
        ours0, wall0 = self._ours
        ours = (descendants_cpu_seconds() - ours0) / ((time.perf_counter() - wall0) * self.ncpu)
        return None if share is None else max(0.0, share - ours)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="summer2winter", help="model to export and time (default: the bundled summer2winter)")
    ap.add_argument("--size", type=int, default=256, help="the model's input size, square (default 256)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="WebAssembly / intra-op thread counts (default 1 2)")
    ap.add_argument("--profile-threads", type=int, default=2, help="threads of the per-operator profiles (default 2)")
    ap.add_argument("--runs", type=int, default=40, help="timed runs per graph in the browser (default 40)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed runs first (default 5)")
    ap.add_argument("--profile-runs", type=int, default=20, help="profiled runs of the model (default 20)")
    ap.add_argument("--native-runs", type=int, default=100, help="timed runs per graph in native ONNX Runtime (default 100)")
    ap.add_argument("--top", type=int, default=8, help="operators listed in the profile (default 8)")
    ap.add_argument("--matmul", type=int, default=1024, help="N of the N x N MatMul (default 1024)")
    ap.add_argument("--conv", type=int, nargs=2, default=[128, 64], metavar=("HW", "C"),
                    help="the 3x3 conv's spatial size and channels (default 128 64)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    if not (ORT_DIR / "ort.wasm.min.mjs").exists():
        raise SystemExit(f"{ORT_DIR} has no onnxruntime-web build: run `make web` (cd web && npm run build)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise SystemExit("Playwright for Python is missing: pip install -e '.[app]'") from None
    chromium = find_chromium()
    if args.profile_threads not in args.threads:
        args.threads.append(args.profile_threads)

    n, (hw, c), s = args.matmul, args.conv, args.size
    macs = model_macs(args.model, s)
    graphs = [{"name": f"MatMul {n}x{n}", "url": "matmul.onnx", "input": "x", "shape": [n, n], "dtype": "float32",
               "flops": 2 * n ** 3},
              {"name": f"Conv 3x3 {c}->{c} @{hw}x{hw}", "url": "conv.onnx", "input": "x", "shape": [1, c, hw, hw],
               "dtype": "float32", "flops": 2 * hw * hw * c * c * 9},
              {"name": f"{args.model} @{s}x{s}", "url": "model.onnx", "input": "image", "shape": [1, s, s, 3],
               "dtype": "uint8", "flops": 2 * macs}]
    info = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cpu": cpu_model(), "cores": os.cpu_count(),
            "loadavg_start": os.getloadavg(), "model_macs": macs, "args": {k: str(v) for k, v in vars(args).items()}}
    others = OthersCpuBesidesUs()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "index.html").write_text("<!doctype html><title>web_ceiling</title>\n")
        (folder / "ort").symlink_to(ORT_DIR)
        build_graphs(folder, n, hw, c)
        subprocess.run([sys.executable, "-m", "pocketgan", "export", "--model", args.model, "--format", "onnx",
                        "--size", str(s), "--out", str(folder / "model.onnx")], check=True, stdout=subprocess.DEVNULL)
        page_graphs = [{k: g[k] for k in ("name", "url", "input", "shape", "dtype")} for g in graphs]
        browser_out = {}
        with serve_folder(folder) as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
            others.start()
            for t in args.threads:
                browser_out[t] = browser_runs(browser, url, t, page_graphs, args.warmup, args.runs,
                                              args.profile_runs if t == args.profile_threads else 0)
            others_browser = others.stop()
            browser.close()
        others.start()
        native = {t: native_runs(folder, page_graphs, t, args.warmup, args.native_runs,
                                 args.profile_runs if t == args.profile_threads else 0) for t in args.threads}
        others_native = others.stop()
    info["loadavg_end"] = os.getloadavg()

    first = browser_out[args.threads[0]]
    wasm_files = sorted(p.name for p in ORT_DIR.glob("*.wasm"))
    npm_wasm = sorted(p.name for p in NPM_DIST.glob("*.wasm")) if NPM_DIST.is_dir() else []
    relaxed = {name: relaxed_opcodes(ORT_DIR / name) for name in wasm_files}
    pct = lambda x: f"{100 * x:.0f}%" if x is not None else "-"  # noqa: E731
    print(f"# web_ceiling  {info['date']}  cpu: {info['cpu']} ({os.cpu_count()} logical cores)  headless {Path(chromium).name}  "
          f"onnxruntime-web {first['version']} (the app's pocketgan/app/static/ort/, ort.wasm.min.mjs)  "
          f"cross-origin isolated: {first['isolated']}")
    print(f"# os.getloadavg() at the start: {tuple(round(x, 2) for x in info['loadavg_start'])}; other processes used "
          f"{pct(others_browser)} of the machine during the browser part (this script and its browser left out), "
          f"{pct(others_native)} during the native part")
    print(f"# model: {args.model} exported at {s}x{s}, {macs / 1e9:.3f} GMAC = {2 * macs / 1e9:.3f} GFLOP per run; "
          f"medians of {args.runs} runs after {args.warmup} warm-up runs (native: {args.native_runs})")
    print(f"# SIMD variants: the app ships {', '.join(wasm_files)}; onnxruntime-web's dist/ has "
          f"{', '.join(npm_wasm) or '(web/node_modules absent)'}: all SIMD128 + threads, no non-SIMD build to compare "
          f"with. Relaxed-SIMD opcodes in the app's .wasm: "
          f"{', '.join(f'{k} {v}' for k, v in relaxed.items())} (env.wasm.simd = 'relaxed' only checks the "
          f"browser; no relaxed-SIMD binary ships); this Chromium supports relaxed SIMD: {first['relaxedSimd']}")

    rows = []
    print("\n## 1. the engine's ceiling in Chromium (onnxruntime-web wasm EP, ort-wasm-simd-threaded.wasm, SIMD128)")
    print(f"{'graph':28} {'threads':>7} {'ms':>8} {'min ms':>8} {'GFLOP':>7} {'GFLOP/s':>8} {'of MatMul':>9} {'of conv':>8}")
    for t in args.threads:
        out = browser_out[t]
        rate = {}
        for g in graphs:
            times = out["results"][g["name"]]
            ms = statistics.median(times)
            rate[g["url"]] = g["flops"] / ms / 1e6
            rows.append({"part": "browser", "graph": g["name"], "threads": out["threads"], "requested_threads": t,
                         "median_ms": round(ms, 2), "min_ms": round(min(times), 2), "gflops_per_s": round(rate[g["url"]], 2),
                         "times_ms": [round(x, 2) for x in times]})
            share = (f"{100 * rate[g['url']] / rate['matmul.onnx']:8.0f}% {100 * rate[g['url']] / rate['conv.onnx']:7.0f}%"
                     if g["url"] == "model.onnx" else f"{'':9} {'':8}")
            print(f"{g['name']:28} {out['threads']:>7} {ms:>8.1f} {min(times):>8.1f} {g['flops'] / 1e9:>7.3f} "
                  f"{rate[g['url']]:>8.1f} {share}")
        rows[-1].update(share_of_matmul=round(rate["model.onnx"] / rate["matmul.onnx"], 3),
                        share_of_conv=round(rate["model.onnx"] / rate["conv.onnx"], 3))

    pt = args.profile_threads
    web_prof = op_profile(browser_out[pt]["trace"], args.profile_runs)
    nat_prof = native[pt]["profile"]
    unprofiled = statistics.median(browser_out[pt]["results"][graphs[-1]["name"]])
    print(f"\n## 2. per-operator profile of one in-browser run of {graphs[-1]['name']} ({browser_out[pt]['threads']} "
          f"WebAssembly thread(s); medians of {args.profile_runs} profiled runs)")
    print(f"# profiled run {web_prof['run_ms']:.1f} ms (unprofiled {unprofiled:.1f} ms), of which kernels "
          f"{web_prof['kernel_ms']:.1f} ms; native ONNX Runtime at {pt} threads, profiled: {nat_prof['run_ms']:.1f} ms, "
          f"kernels {nat_prof['kernel_ms']:.1f} ms")
    print(f"{'operator':22} {'threads':>7} {'count':>5} {'of FLOPs':>8} {'ms':>7} {'share':>6} {'GFLOP/s':>8} {'native ms':>9} "
          f"{'x native':>8}")
    ranked = sorted(web_prof["ops"].items(), key=lambda kv: -kv[1]["ms"])
    op_rows = []
    for i, (label, op) in enumerate(ranked):
        nat = nat_prof["ops"].get(label, {}).get("ms")
        op_rows.append({"operator": label, "threads": browser_out[pt]["threads"], "count": op["count"], "ms": round(op["ms"], 2),
                        "share": round(op["ms"] / web_prof["kernel_ms"], 3), "gflop": round(op["flops"] / 1e9, 4),
                        "native_ms": round(nat, 2) if nat is not None else None})
        if i < args.top:
            gf = f"{op['flops'] / op['ms'] / 1e6:8.1f}" if op["flops"] and op["ms"] else f"{'-':>8}"
            ratio = f"{op['ms'] / nat:7.1f}x" if nat else f"{'-':>8}"
            flop_share = pct(op["flops"] / graphs[-1]["flops"]) if op["flops"] else "-"
            print(f"{label:22} {browser_out[pt]['threads']:>7} {op['count']:>5} {flop_share:>8} {op['ms']:>7.2f} "
                  f"{pct(op['ms'] / web_prof['kernel_ms']):>6} {gf} {nat if nat is not None else float('nan'):>9.2f} {ratio}")
    rest = ranked[args.top:]
    if rest:
        ms = sum(op["ms"] for _, op in rest)
        print(f"{f'other ({len(rest)} kinds)':22} {browser_out[pt]['threads']:>7} {sum(op['count'] for _, op in rest):>5} {'':8} "
              f"{ms:>7.2f} {pct(ms / web_prof['kernel_ms']):>6}")
    native_only = sorted(set(nat_prof["ops"]) - set(web_prof["ops"]))
    if native_only:
        print("# native only: " + ", ".join(f"{k} {nat_prof['ops'][k]['ms']:.2f} ms" for k in native_only))

    print("\n## 3. native baseline: onnxruntime (Python, CPUExecutionProvider) on the same .onnx files, in this run")
    import onnxruntime
    print(f"# onnxruntime {onnxruntime.__version__}; medians of {args.native_runs} runs after {args.warmup}")
    print(f"{'graph':28} {'threads':>7} {'native ms':>9} {'GFLOP/s':>8} {'browser ms':>10} {'browser/native':>14}")
    for t in args.threads:
        for g in graphs:
            ms = native[t][g["name"]]
            web = statistics.median(browser_out[t]["results"][g["name"]])
            rows.append({"part": "native", "graph": g["name"], "threads": t, "median_ms": round(ms, 2),
                         "gflops_per_s": round(g["flops"] / ms / 1e6, 2), "browser_over_native": round(web / ms, 2)})
            print(f"{g['name']:28} {t:>7} {ms:>9.1f} {g['flops'] / ms / 1e6:>8.1f} {web:>10.1f} {web / ms:>13.1f}x")
    print(f"\n# os.getloadavg() at the end: {tuple(round(x, 2) for x in info['loadavg_end'])}")
    if args.json:
        result = {**info, "onnxruntime_web": first["version"], "cross_origin_isolated": first["isolated"],
                  "wasm_files": wasm_files, "npm_wasm_files": npm_wasm, "relaxed_simd_opcodes": relaxed,
                  "browser_relaxed_simd": first["relaxedSimd"], "others_cpu_browser": others_browser,
                  "others_cpu_native": others_native, "rows": rows,
                  "profile": {"threads": pt, "browser_run_ms": web_prof["run_ms"], "browser_kernel_ms": web_prof["kernel_ms"],
                              "native_run_ms": nat_prof["run_ms"], "native_kernel_ms": nat_prof["kernel_ms"], "ops": op_rows,
                              "native_ops": nat_prof["ops"]}}
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
