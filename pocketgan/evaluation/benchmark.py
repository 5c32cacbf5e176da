"""`pocketgan benchmark`: one model in every export format and precision, measured the same way.

Each row is one format (``pytorch``: eager PyTorch; ``onnx``: ONNX Runtime, CPU; ``tflite``:
LiteRT; ``browser``: the ONNX file in onnxruntime-web's WebAssembly backend in headless Chromium)
at one precision (fp32, fp16, int8), with:

* ``file_mb``: the file that runs (the .onnx / .tflite export, or the generator's weights file for
  PyTorch; PyTorch fp16 has no file and reports its weights' bytes in memory);
* ``load_ms``: making the runnable thing from the file (PyTorch: reading the weights and preparing
  the module; ONNX Runtime / onnxruntime-web: creating the session; LiteRT: the interpreter and its
  tensors), median of :data:`LOADS` loads;
* ``latency_ms``: the median of ``runs`` runs on one image after ``warmup`` runs, batch 1, uint8
  RGB in and out, every runtime on the same ``threads`` (``torch.set_num_threads``, ONNX Runtime's
  ``intra_op_num_threads``, LiteRT's ``num_threads``, ``ort.env.wasm.numThreads``), and the
  speed-up over PyTorch fp32 measured in the same run. Every row is loaded first; the timed runs
  then come in :data:`ROUNDS` interleaved rounds (each round times a block of every row in turn,
  each block after one untimed run), so a busy moment of a shared machine slows every row alike
  and the ratios hold even when the absolute figures do not (see :func:`interleaved`);
* ``psnr_db``: the output against PyTorch fp32 on the same fixed input (the first ``data`` image
  resized to the size, else the exporter's toy scene), on the uint8 scale.

PyTorch fp32 is always measured: it is the baseline row and the reference of every PSNR.

With ``data`` (a dataset root with testA/testB, a testA-like folder beside its testB, or any folder
of images), the first ``limit`` images (natural file-name order, so the subset is fixed), resized to
the size, are translated by every row too: ``psnr_data_db`` (mean PSNR against PyTorch fp32 on
them), ``change`` (the mean absolute change of the photo, 0..255, as `pocketgan evaluate` reports
it) and ``kid_x1000``: KID against the first ``limit`` real images of the target domain (Inception
features as :mod:`.evaluate`, subset size the smaller set; ``kid_x1000_std`` its spread over the
subsets, None when both sets are that size, as every subset is then both whole sets), beside the
same KID of the untranslated inputs (``do_nothing``), the figure a translator has to beat. A folder without a target domain is
scored against PyTorch fp32's own translations instead (so KID says how far a format's results
drift from the reference's; doing nothing then says how far the translation itself moved them).

Exports are those of `pocketgan export` (:func:`pocketgan.export.exporter.export_model`, verified
against PyTorch) at their default names in :func:`pocketgan.models.zoo.export_dir`, and reused while
their card matches (format, precision, direction, architecture, size), the file is newer than the
weights and its hash still matches the card; a bundled model's shipped ONNX export is used as is.
An export below its precision's quality floor is still measured (that is what a benchmark is for)
but kept apart, in ``export/benchmark/``, so the default name never holds it. int8 is calibrated on
``calibration``, else on the data's training folder (trainA for AtoB), else the data's inputs, else
16 toy scenes; a cached int8 file is reused only when it was calibrated on the same set (see
:class:`_Exports`). ``fresh``: export every file again.

A runtime that is not installed (onnxruntime, ai_edge_litert / litert-torch, Playwright, Chromium,
the web app's onnxruntime-web) gives a row whose ``status`` says ``skipped: ...`` and what to
install; so does a precision a format does not have (PyTorch int8). A failure of one row (a
converter error) is a ``failed: ...`` row and the others are still measured.
"""
from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import importlib.metadata
import os
import platform
import shutil
import statistics
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..choices import BENCHMARK_FORMATS, BENCHMARK_PRECISIONS, EVAL_CONVENTIONS
from ..directions import get_direction
from ..errors import MissingDependency, OptionError, PocketganError, first_line
from ..export.sizes import parse_size, size_label

LOADS = 3  # load_ms is the median of this many loads (the first one also pays for lazy initialisation)
ROUNDS = 5  # the timed runs of every row are spread over this many interleaved rounds
TOY_CALIBRATION = 16  # toy scenes int8 is calibrated on when no real photos are given
DATA_FIELDS = ("psnr_data_db", "kid_x1000", "kid_x1000_std", "change")
PACKAGE_DIR = Path(__file__).resolve().parent.parent
# onnxruntime-web as the web app ships it (`make web`), else as npm installed it in a source checkout
ORT_WEB_DIRS = (PACKAGE_DIR / "app" / "static" / "ort", PACKAGE_DIR.parent / "web" / "node_modules" / "onnxruntime-web" / "dist")
ORT_WEB_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]
BROWSER_TIMEOUT_MS = 600_000


@dataclass
class BenchmarkRow:
    """One format at one precision. ``status`` is "ok", "skipped: why" or "failed: why"; the
    figures are None unless it is "ok". ``file``: the measured file's name (never its folder)."""

    format: str
    precision: str
    status: str = "ok"
    file: str | None = None
    file_mb: float | None = None
    load_ms: float | None = None
    latency_ms: float | None = None
    speedup: float | None = None      # PyTorch fp32's latency / this row's, measured in the same run
    psnr_db: float | None = None      # vs PyTorch fp32 on the fixed input; None on the reference itself
    threads: int | None = None        # the threads it ran on (the browser reports what it got)
    export: str | None = None         # "shipped", "cached", "exported in 3.1 s", ...
    psnr_data_db: float | None = None  # with data: mean PSNR vs PyTorch fp32 over the subset
    kid_x1000: float | None = None
    kid_x1000_std: float | None = None
    change: float | None = None       # mean |output - input| on 0..255 over the subset
    note: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def label(self) -> str:
        return f"{self.format} {self.precision}"

    def to_dict(self, with_data: bool) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        if not with_data:
            for name in DATA_FIELDS:
                del out[name]
        if out["note"] is None:
            del out["note"]
        return out


@dataclass
class BenchmarkResult:
    """The rows and what they were measured on (names only, never this machine's paths)."""

    model: str
    direction: str
    generator: str
    size: tuple[int, int]
    threads: int
    runs: int
    warmup: int
    input: str
    rows: list[BenchmarkRow]
    data: str | None = None
    n_images: int | None = None
    target: str | None = None
    n_target: int | None = None
    kid_subset: int | None = None
    convention: str | None = None
    do_nothing: dict | None = None
    calibration: str | None = None
    machine: dict = field(default_factory=dict)
    date: str = ""

    @property
    def baseline(self) -> BenchmarkRow:
        return self.rows[0]

    def to_dict(self) -> dict:
        with_data = self.data is not None
        out = {"model": self.model, "direction": self.direction, "generator": self.generator,
               "size": size_label(self.size), "height": self.size[0], "width": self.size[1], "threads": self.threads,
               "runs": self.runs, "warmup": self.warmup, "loads": LOADS, "input": self.input,
               "baseline": "pytorch fp32", "calibration": self.calibration, "date": self.date, "machine": self.machine}
        if with_data:
            out.update(data=self.data, n_images=self.n_images, target=self.target, n_target=self.n_target,
                       kid_subset=self.kid_subset, convention=self.convention, do_nothing=self.do_nothing)
        out["rows"] = [r.to_dict(with_data) for r in self.rows]
        return out


# ----------------------------------------------------------------------------------------- inputs


@dataclass
class DataLayout:
    """Where --data's images come from: the inputs, the real target-domain images (None: score
    against PyTorch's translations) and the images int8 exports are calibrated on."""

    source: Path
    target: Path | None
    calibration: Path


def data_layout(data: str | Path, direction: str = "AtoB") -> DataLayout:
    """A dataset root (testA/testB for AtoB), a source test folder beside its target one (testA with
    testB next to it), or a plain folder of images (no target domain). int8 calibration prefers the
    training folder of the source domain (trainA), so the scored images are not the calibration set."""
    chosen = get_direction(direction)
    data = Path(data)
    if not data.is_dir():
        raise OptionError(f"--data {data}: {'not a folder' if data.exists() else 'no such folder'}")
    src, dst = chosen.folders("test")
    train = chosen.folders("train")[0]
    if (data / src).is_dir():
        root, source = data, data / src
    elif data.name == src:
        root, source = data.parent, data
    else:
        return DataLayout(data, None, data)
    target = root / dst if (root / dst).is_dir() else None
    return DataLayout(source, target, root / train if (root / train).is_dir() else source)


def load_images(folder: Path, limit: int | None, size: tuple[int, int] | None) -> tuple[list[Path], list]:
    """The first ``limit`` decodable images of ``folder`` (natural name order), as PIL images,
    resized to ``size`` (H, W) when given. Raises DataError for a folder without images."""
    from ..data.inputs import scan_folder
    from .evaluate import load_decodable

    files, images = load_decodable(scan_folder(folder).files[:limit])
    if size is not None:
        h, w = size
        images = [im.resize((w, h)) for im in images]
    return files, images


def _batch(image) -> np.ndarray:
    """A PIL image as a writable uint8 (1, H, W, 3) array (torch.from_numpy warns on read-only ones)."""
    return np.array(image.convert("RGB"), dtype=np.uint8)[None]


# ------------------------------------------------------------------------------------ measuring


def median_ms(fn: Callable[[], object], runs: int, warmup: int = 0) -> tuple[float, object]:
    """(median ms of ``runs`` calls after ``warmup`` untimed ones, the last call's result)."""
    out = None
    for _ in range(warmup):
        out = fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), out


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    from .metrics import psnr

    return round(psnr(a, b), 2)


def _skipped(e: BaseException) -> str:
    return f"skipped: {first_line(e, limit=300)}"


def _failed(e: BaseException) -> str:
    kind = "" if isinstance(e, PocketganError) else f"{type(e).__name__}: "
    return f"failed: {kind}{first_line(e, limit=300)}"


def _versions() -> dict:
    out = {"python": platform.python_version()}
    for dist in ("torch", "onnxruntime", "ai-edge-litert", "litert-torch", "playwright"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def machine_info() -> dict:
    return {"cpu": _cpu_model(), "logical_cpus": os.cpu_count(), "system": platform.system(),
            "loadavg_start": _loadavg(), "versions": _versions()}


# -------------------------------------------------------------------------------------- exports


def reusable_export(path: Path, fmt: str, precision: str, direction: str, spec: dict, size: tuple[int, int],
                    weights: Path) -> dict | None:
    """The card of the export at ``path`` when it can be measured instead of exporting again: the
    format, precision, direction, architecture and check size its card states are the ones asked,
    the file is newer than the weights, and its sha256 is still the card's."""
    from ..home import file_digest
    from ..inference.onnx_cache import read_card

    card = read_card(path)
    if card is None or not weights.is_file():
        return None
    same = (card.get("format") == fmt and card.get("quantize") == precision and card.get("direction") == direction
            and card.get("generator") == spec
            and (card.get("parity_vs_pytorch") or {}).get("input") == f"toy scene {size_label(size)}")
    if not same or path.stat().st_mtime < weights.stat().st_mtime or card.get("sha256") != file_digest(path):
        return None
    return card


@dataclass
class Calibration:
    """What int8 exports are calibrated on: a folder of photos, or (``folder`` None) toy scenes
    rendered when first needed. ``key`` identifies the set (file names, sizes and times), so a
    cached int8 file is reused only for the same one; ``given``: the user chose real photos."""

    folder: Path | None
    label: str
    key: str
    given: bool

    @classmethod
    def choose(cls, calibration: str | Path | None, layout: DataLayout | None) -> Calibration:
        import hashlib
        import json

        from ..data.inputs import scan_folder
        from ..export.exporter import CALIBRATION_LIMIT

        folder = Path(calibration) if calibration is not None else layout.calibration if layout is not None else None
        if folder is None:
            return cls(None, f"{TOY_CALIBRATION} toy scenes", f"toy scenes {TOY_CALIBRATION}", False)
        files = scan_folder(folder).files[:CALIBRATION_LIMIT]
        stats = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]
        key = hashlib.sha1(json.dumps(stats).encode()).hexdigest()[:16]
        return cls(folder, f"{len(files)} images of {folder.name}", key, True)

    def materialise(self, tmp: Path, size: tuple[int, int]) -> Path:
        """The folder to hand the exporter (toy scenes written into ``tmp`` at the export size)."""
        if self.folder is not None:
            return self.folder
        from ..data.synthetic import render_scene

        folder = tmp / "calibration"
        folder.mkdir(exist_ok=True)
        for i in range(TOY_CALIBRATION):
            render_scene(i, max(size), "A").save(folder / f"scene_{i:02d}.png")
        self.folder = folder
        return folder


class _Exports:
    """The export of each (format, precision), made once per benchmark (see the module docstring).

    ``benchmark/calibration.json`` in the export folder records which calibration set each int8
    file the benchmark made was calibrated on (by its sha256): such a file is reused only for the
    same set. An int8 file `pocketgan export` wrote (not recorded) is reused unless real photos
    were given (--data or --calibration); then the benchmark exports its own into ``benchmark/``
    and leaves the user's file alone."""

    def __init__(self, model: Path, direction: str, slot: str, spec: dict, size: tuple[int, int], fresh: bool,
                 calibration: Calibration, tmp: Path) -> None:
        from ..models.zoo import export_dir

        self.model, self.direction, self.slot, self.spec, self.size = model, direction, slot, spec, size
        self.fresh, self.calibration, self.tmp = fresh, calibration, tmp
        self.folder = export_dir(model)
        self.own = self.folder / "benchmark"
        self.done: dict[tuple[str, str], tuple[Path, str]] = {}

    def get(self, fmt: str, precision: str) -> tuple[Path, str]:
        """(file, how it was got); asked again, how says it is the file of the row that got it."""
        key = (fmt, precision)
        if key in self.done:
            return self.done[key][0], f"the {fmt} {precision} file"
        self.done[key] = self._make(fmt, precision)
        return self.done[key]

    def _records(self) -> dict:
        from ..fileio import read_json

        try:
            records = read_json(self.own / "calibration.json")
        except (OSError, ValueError, UnicodeDecodeError):
            return {}
        return records if isinstance(records, dict) else {}

    def _record(self, path: Path, card: dict) -> None:
        from ..fileio import atomic_write_json

        records = self._records()
        records[path.relative_to(self.folder).as_posix()] = {"sha256": card["sha256"], "key": self.calibration.key,
                                                             "calibration": self.calibration.label}
        atomic_write_json(self.own / "calibration.json", records)

    def _calibrated_as_asked(self, path: Path, card: dict) -> bool | None:
        """int8: True when ``path`` was calibrated on the set asked, False on another, None unknown."""
        entry = self._records().get(path.relative_to(self.folder).as_posix())
        if not isinstance(entry, dict) or entry.get("sha256") != card.get("sha256"):
            return None
        return entry.get("key") == self.calibration.key

    def _make(self, fmt: str, precision: str) -> tuple[Path, str]:
        from ..export.exporter import export_model
        from ..inference.onnx_cache import shipped_export

        suffix = "" if precision == "fp32" else f"_{precision}"
        name = f"{self.slot}_{size_label(self.size)}{suffix}.{fmt}"
        standard, own = self.folder / name, self.own / name
        weights = self.model / f"{self.slot}.safetensors"
        int8 = precision == "int8"
        standard_card = reusable_export(standard, fmt, precision, self.direction, self.spec, self.size, weights)
        standard_ours = int8 and standard_card is not None and self._calibrated_as_asked(standard, standard_card) is not None
        if not self.fresh:
            if fmt == "onnx" and precision == "fp32" and self.size == (256, 256):
                shipped = shipped_export(self.model, self.slot, self.direction, self.spec)
                if shipped is not None:
                    return shipped[0], "shipped"
            for path in (standard, own):
                card = standard_card if path == standard else reusable_export(
                    path, fmt, precision, self.direction, self.spec, self.size, weights)
                if card is None:
                    continue
                how = "cached"
                if int8:
                    asked = self._calibrated_as_asked(path, card)
                    if asked is False or (asked is None and self.calibration.given):
                        continue
                    how += (f", calibrated on {self.calibration.label}" if asked else
                            f", `pocketgan export`'s, calibrated on {card.get('calibration_images')} images")
                return path, how + _below_floor(card, precision)
        calibration = self.calibration.materialise(self.tmp, self.size) if int8 else None
        t0 = time.perf_counter()
        path, card = export_model(self.model, fmt, self.size, None if precision == "fp32" else precision,
                                  self.direction, own, calibration, force=True)
        how = f"exported in {time.perf_counter() - t0:.1f} s" + (f", calibrated on {self.calibration.label}" if int8 else "")
        check = card["parity_vs_pytorch"]
        # a file below its floor is measured but never put under the name `pocketgan export` writes;
        # nor is a user's own reusable int8 export replaced by one calibrated on other photos
        keep_apart = not check["meets_floor"] or (int8 and standard_card is not None and not standard_ours)
        if not keep_apart:
            standard.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, standard)
            os.replace(path.with_name(path.name + ".json"), standard.with_name(standard.name + ".json"))
            path = standard
        if int8:
            self._record(path, card)
        return path, how + _below_floor(card, precision)


def _below_floor(card: dict, precision: str) -> str:
    check = card.get("parity_vs_pytorch") or {}
    if check.get("meets_floor", True):
        return ""
    return f", below the {precision} floor ({check.get('psnr_db')} < {check.get('floor_psnr_db')} dB)"


# -------------------------------------------------------------------------------------- browser


def find_ort_web() -> Path | None:
    """The folder of onnxruntime-web's WebAssembly build: the web app's (``make web``), else npm's."""
    for folder in ORT_WEB_DIRS:
        if all((folder / name).is_file() for name in ORT_WEB_FILES):
            return folder
    return None


def find_chromium() -> str | None:
    for path in (os.environ.get("CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser"),
                 shutil.which("google-chrome")):
        if path and os.access(path, os.X_OK):
            return path
    return None


def browser_unavailable() -> str | None:
    """Why the browser rows cannot run here (one line, with what to install), or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed: pip install 'pocketgan[app]'"
    if find_ort_web() is None:
        return "onnxruntime-web is not built: run `make web` (or `cd web && npm ci && npm run build`)"
    return None


class _IsolatedFiles(http.server.SimpleHTTPRequestHandler):
    """Static files with the cross-origin isolation headers WebAssembly threads need."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".mjs": "text/javascript",
                      ".js": "text/javascript", ".wasm": "application/wasm", ".onnx": "application/octet-stream"}

    def end_headers(self) -> None:
        for key, value in (("Cross-Origin-Opener-Policy", "same-origin"), ("Cross-Origin-Embedder-Policy", "require-corp"),
                           ("Cross-Origin-Resource-Policy", "same-origin"), ("Cache-Control", "no-store")):
            self.send_header(key, value)
        super().end_headers()

    def log_message(self, *args) -> None:
        pass


# Runs in the page: onnxruntime-web's wasm backend on `threads` threads (fixed once per page), the
# session created `loads` times, warm-up runs, then the fixed image's and the data images' outputs.
# The session stays in the page for the timed blocks (BLOCK_JS). Images travel as base64.
OPEN_JS = """
async ({ model, threads, height, width, image, data, warmup, loads }) => {
  const ort = await import('./ort/ort.wasm.min.mjs');
  ort.env.wasm.wasmPaths = new URL('./ort/', location.href).href;
  ort.env.wasm.numThreads = threads;
  ort.env.logLevel = 'error';
  const decode = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const encode = (bytes) => {
    let s = '';
    for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    return btoa(s);
  };
  const bytes = new Uint8Array(await (await fetch(model)).arrayBuffer());
  const loadMs = [];
  let session = null;
  for (let k = 0; k < loads; k++) {
    if (session) await session.release();
    const start = performance.now();
    session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
    loadMs.push(performance.now() - start);
  }
  const [input, output] = [session.inputNames[0], session.outputNames[0]];
  const run = async (pixels) =>
    (await session.run({ [input]: new ort.Tensor('uint8', pixels, [1, height, width, 3]) }))[output].data;
  const x = decode(image);
  let y = await run(x);
  for (let k = 0; k < warmup; k++) y = await run(x);
  const outputs = [];
  for (const d of data) outputs.push(encode(await run(decode(d))));
  window.pocketganBench = { run, x };
  return { loadMs, output: encode(y), outputs, threads: ort.env.wasm.numThreads,
           isolated: self.crossOriginIsolated, version: ort.env.versions.web };
}
"""
# One timed block: an untimed run first (as for the native runtimes), then `n` timed ones (ms each).
BLOCK_JS = """
async (n) => {
  const { run, x } = window.pocketganBench;
  await run(x);
  const times = [];
  for (let k = 0; k < n; k++) {
    const start = performance.now();
    await run(x);
    times.push(performance.now() - start);
  }
  return times;
}
"""


class _Browser:
    """Headless Chromium serving a temporary folder (a blank page, onnxruntime-web, the models)
    from 127.0.0.1 with cross-origin isolation; each model gets its own page, kept open until
    :meth:`close` so its timed blocks can be interleaved with the other rows'."""

    def __init__(self) -> None:
        self.stack = contextlib.ExitStack()
        self.folder: Path | None = None
        self.url = ""
        self.browser = None
        self.version: str | None = None
        self.chromium: str | None = None
        self.pages = 0

    def start(self) -> None:
        from playwright.sync_api import sync_playwright

        try:
            self.folder = Path(self.stack.enter_context(tempfile.TemporaryDirectory(prefix="pocketgan-benchmark-")))
            (self.folder / "index.html").write_text("<!doctype html><title>pocketgan benchmark</title>\n")
            shutil.copytree(find_ort_web(), self.folder / "ort",
                            ignore=lambda d, names: [n for n in names if n not in ORT_WEB_FILES])
            handler = functools.partial(_IsolatedFiles, directory=str(self.folder))
            server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self.stack.callback(server.server_close)
            self.stack.callback(server.shutdown)
            self.url = f"http://127.0.0.1:{server.server_address[1]}/"
            p = self.stack.enter_context(sync_playwright())
            chromium = find_chromium()
            if chromium is None and not Path(p.chromium.executable_path).is_file():
                raise MissingDependency("Chromium not found: apt-get install chromium (or set CHROMIUM to its path, "
                                        "or `playwright install chromium`)")
            self.browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
            self.stack.callback(self.browser.close)
            self.chromium = f"{'system' if chromium else 'Playwright'} Chromium {self.browser.version}"
        except BaseException:
            self.close()
            raise

    def open(self, model: Path, image: np.ndarray, data: Sequence[np.ndarray], threads: int,
             warmup: int) -> tuple[dict, Callable[[int], list[float]]]:
        """Load ``model`` in a fresh page: (its loads, outputs, threads and version; a function
        timing a block of n runs in the page)."""
        if self.browser is None:
            self.start()
        name = f"m{self.pages}.onnx"
        self.pages += 1
        shutil.copyfile(model, self.folder / name)
        context = self.browser.new_context(service_workers="block")
        self.stack.callback(context.close)
        page = context.new_page()
        page.set_default_timeout(BROWSER_TIMEOUT_MS)
        page.goto(self.url)
        _, h, w, _ = image.shape
        b64 = lambda a: base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()  # noqa: E731
        out = page.evaluate(OPEN_JS, {"model": name, "threads": threads, "height": h, "width": w, "image": b64(image),
                                      "data": [b64(d) for d in data], "warmup": warmup, "loads": LOADS})
        self.version = out.get("version")
        decode = lambda s: np.frombuffer(base64.b64decode(s), np.uint8).reshape(1, h, w, 3)  # noqa: E731
        out["output"] = decode(out["output"])
        out["outputs"] = [decode(s) for s in out["outputs"]]
        return out, lambda n: page.evaluate(BLOCK_JS, n)

    def close(self) -> None:
        self.stack.close()


# ------------------------------------------------------------------------------------ benchmark


class _Runner:
    """What a row measures: ``load()`` makes the callable uint8 (1,H,W,3) -> uint8 (1,H,W,3)."""

    def __init__(self, load: Callable[[], Callable[[np.ndarray], np.ndarray]], file: Path | None,
                 file_bytes: int | None = None, export: str | None = None, note: str | None = None) -> None:
        self.load, self.file, self.export, self.note = load, file, export, note
        self.file_bytes = file_bytes if file_bytes is not None else (file.stat().st_size if file else None)


def rows_asked(formats: Sequence[str], precisions: Sequence[str]) -> list[tuple[str, str]]:
    """(format, precision) pairs in the order asked, PyTorch fp32 first whether asked or not."""
    for f in formats:
        if f not in BENCHMARK_FORMATS:
            raise OptionError(f"unknown format {f!r}; choose from {', '.join(BENCHMARK_FORMATS)}")
    for p in precisions:
        if p not in BENCHMARK_PRECISIONS:
            raise OptionError(f"unknown precision {p!r}; choose from {', '.join(BENCHMARK_PRECISIONS)}")
    pairs = [("pytorch", "fp32")]
    for f in dict.fromkeys(formats):
        pairs += [(f, p) for p in dict.fromkeys(precisions) if (f, p) not in pairs]
    return pairs


def check_size(generator, size: tuple[int, int], name: str) -> None:
    """Every side a multiple of 4 and of what the generator needs (the exporters' rule)."""
    multiple = int(np.lcm(4, int(getattr(generator, "size_multiple", 4))))
    if any(side < multiple or side % multiple for side in size):
        raise OptionError(f"--size {size_label(size)} is not a multiple of {multiple}, which {name} needs")


def run_benchmark(model: str | Path | None = None, formats: Sequence[str] = BENCHMARK_FORMATS,
                  precisions: Sequence[str] = BENCHMARK_PRECISIONS, size=256, threads: int = 2, runs: int = 20,
                  warmup: int = 3, direction: str = "AtoB", data: str | Path | None = None, limit: int = 50,
                  calibration: str | Path | None = None, fresh: bool = False, convention: str = "clean",
                  progress: Callable[[str], None] | None = None) -> BenchmarkResult:
    """Measure ``model`` (a model folder or name; None: the bundled default) in every format and
    precision asked; see the module docstring. ``progress`` gets one line per row as it is measured."""
    import torch

    from ..models.pretrained import ModelFolderError, load_generator, read_model_config
    from ..models.zoo import EXPORTED_SUFFIXES, bundled_name, resolve_model

    pairs = rows_asked(formats, precisions)
    if threads < 1 or runs < 1 or warmup < 0 or limit < 2:
        raise OptionError("threads and runs must be at least 1, warmup 0 or more, limit at least 2")
    if convention not in EVAL_CONVENTIONS:
        raise OptionError(f"unknown convention {convention!r}; choose one of {', '.join(EVAL_CONVENTIONS)}")
    hw = parse_size(size)
    chosen = get_direction(direction)
    path = resolve_model(model)
    if path.suffix.lower() in EXPORTED_SUFFIXES:
        raise OptionError(f"--model {path.name}: an exported file; benchmark needs the model folder it came from "
                          "(config.json + weights), as it exports and checks every format itself")
    config = read_model_config(path)
    if chosen.slot not in config["generators"]:
        raise ModelFolderError(f"{path}: has no {chosen.slot}, so it cannot translate {chosen.name} "
                               f"(it holds {', '.join(config['generators'])})")
    spec = config["generators"][chosen.slot]
    layout = data_layout(data, chosen.name) if data is not None else None
    if layout is not None:
        from .inception import locate_inception_file

        locate_inception_file()  # KID needs it: say so before minutes of exports
    generator = load_generator(path, chosen.slot)
    check_size(generator, hw, spec["name"])
    say = progress or (lambda line: None)

    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with tempfile.TemporaryDirectory(prefix="pocketgan-benchmark-") as tmp:
            return _measure(path, bundled_name(path) or path.resolve().name, chosen, spec, generator, hw, pairs, threads,
                            runs, warmup, layout, limit, calibration, fresh, convention, Path(tmp), say)
    finally:
        torch.set_num_threads(old_threads)


def _measure(path, name, chosen, spec, generator, hw, pairs, threads, runs, warmup, layout, limit, calibration, fresh,
             convention, tmp: Path, say) -> BenchmarkResult:
    import torch

    from ..export.exporter import check_image
    from ..export.prepare import ImageIO, prepare
    from ..models.pretrained import load_generator

    machine = machine_info()
    date = datetime.now(timezone.utc).isoformat(timespec="seconds")
    inputs, input_label = [], f"toy scene 12345 at {size_label(hw)}"
    if layout is not None:
        files, images = load_images(layout.source, limit, hw)
        inputs = [_batch(im) for im in images]
        if len(inputs) < 2:
            raise OptionError(f"--data {layout.source.name}: needs at least 2 readable images (found {len(inputs)})")
        input_label = f"{files[0].name} of {layout.source.name}, resized to {size_label(hw)}"
    image = inputs[0] if inputs else np.array(check_image(hw))

    int8 = any(p == "int8" and f != "pytorch" for f, p in pairs)
    calib = Calibration.choose(calibration, layout) if int8 else Calibration(None, "", "", False)
    exports = _Exports(path, chosen.name, chosen.slot, spec, hw, fresh, calib, tmp)
    weights = path / f"{chosen.slot}.safetensors"

    def torch_runner(precision: str) -> _Runner:
        if precision == "int8":
            raise MissingDependency("PyTorch eager has no int8 path for these convolutions on the CPU; "
                                    "measure int8 as onnx or tflite")
        half = precision == "fp16"

        def load():
            net = prepare(load_generator(path, chosen.slot))
            if half:
                net = ImageIO(net.generator.half(), torch.float16).eval()

            def run(x: np.ndarray) -> np.ndarray:
                with torch.inference_mode():
                    return net(torch.from_numpy(x)).numpy()
            return run
        if half:
            nbytes = sum(t.numel() * (2 if t.is_floating_point() else t.element_size())
                         for t in generator.state_dict().values())
            return _Runner(load, None, nbytes, note="fp16 weights in memory (no file)")
        return _Runner(load, weights)

    def onnx_runner(precision: str) -> _Runner:
        from ..inference.runners import OnnxRunner, require_onnxruntime

        require_onnxruntime()
        file, how = exports.get("onnx", precision)
        return _Runner(lambda: OnnxRunner(file, threads=threads), file, export=how)

    def tflite_runner(precision: str) -> _Runner:
        from ..inference.runners import LiteRTRunner, litert_interpreter

        litert_interpreter()  # running needs ai_edge_litert, whether or not the file is cached
        file, how = exports.get("tflite", precision)
        return _Runner(lambda: LiteRTRunner(file, num_threads=threads), file, export=how)

    makers = {"pytorch": torch_runner, "onnx": onnx_runner, "tflite": tflite_runner}
    browser = _Browser()
    browser_reason = None
    reference: np.ndarray | None = None
    ref_data: list[np.ndarray] = []
    outputs: dict[str, list[np.ndarray]] = {}
    rows: list[BenchmarkRow] = []
    blocks: dict[int, Callable[[int], list[float]]] = {}  # row index -> times a block of n runs
    try:
        for i, (fmt, precision) in enumerate(pairs):
            row = BenchmarkRow(fmt, precision)
            try:
                if fmt == "browser":
                    got, data_out, block = _open_browser_row(row, browser, browser_reason, exports, image, inputs,
                                                             threads, warmup)
                else:
                    got, data_out, block = _open_native_row(row, makers[fmt](precision), image, inputs, threads, warmup)
            except MissingDependency as e:
                row = BenchmarkRow(fmt, precision, _skipped(e))
                if fmt == "browser":
                    browser_reason = e
            except Exception as e:  # noqa: BLE001 - one row's failure must not lose the others
                if i == 0:
                    raise  # no baseline, nothing to compare with
                row = BenchmarkRow(fmt, precision, _failed(e))
            if row.ok:
                blocks[i] = block
                if reference is None:
                    reference, ref_data = got, data_out
                else:
                    row.psnr_db = _psnr(got, reference)
                if inputs:
                    outputs[row.label] = data_out
                    if rows:  # the reference's own is None, as psnr_db
                        row.psnr_data_db = round(float(np.mean([_psnr(o, r) for o, r in zip(data_out, ref_data, strict=True)])),
                                                  2)
                    row.change = _change(inputs, data_out)
            rows.append(row)
            say(progress_line(row, i + 1, len(pairs)))
        rounds = min(ROUNDS, runs)
        say(f"benchmark: latency: {runs} timed runs per row in {rounds} interleaved rounds of {len(blocks)} rows")
        times = interleaved(blocks, runs, rounds)
    finally:
        browser.close()
    for i, ms in times.items():
        rows[i].latency_ms = round(statistics.median(ms), 2)
    for row in rows:
        if row.ok:
            row.speedup = round(rows[0].latency_ms / row.latency_ms, 2)
    result = BenchmarkResult(model=name, direction=chosen.name, generator=spec["name"], size=hw, threads=threads,
                             runs=runs, warmup=warmup, input=input_label, rows=rows, calibration=calib.label or None,
                             machine=machine, date=date)
    if browser.version:
        machine["versions"]["onnxruntime-web"] = browser.version
        machine["versions"]["chromium"] = browser.chromium
    if layout is not None:
        _score(result, layout, inputs, outputs, limit, convention, say)
    machine["loadavg_end"] = _loadavg()
    return result


def interleaved(blocks: dict[int, Callable[[int], list[float]]], runs: int, rounds: int) -> dict[int, list[float]]:
    """``runs`` timed runs of every row, in ``rounds`` rounds: each round times a block of every row
    in turn (the order rotated each round), so a change in the machine's load mid-benchmark falls on
    every row alike instead of on the rows measured at that moment. Each block starts with an
    untimed run, which absorbs the previous runtime's threads still spinning and its cache state."""
    keys = list(blocks)
    times: dict[int, list[float]] = {k: [] for k in keys}
    for r in range(rounds):
        n = runs // rounds + (1 if r < runs % rounds else 0)
        shift = r % len(keys) if keys else 0
        for k in keys[shift:] + keys[:shift]:
            times[k] += blocks[k](n)
    return times


def _timed_block(run: Callable[[np.ndarray], np.ndarray], image: np.ndarray) -> Callable[[int], list[float]]:
    def block(n: int) -> list[float]:
        run(image)  # untimed
        ms = []
        for _ in range(n):
            t0 = time.perf_counter()
            run(image)
            ms.append((time.perf_counter() - t0) * 1000)
        return ms
    return block


def _open_native_row(row: BenchmarkRow, runner: _Runner, image: np.ndarray, inputs: list[np.ndarray], threads: int,
                     warmup: int):
    """Load (``LOADS`` times), warm up and run the fixed image and the data: (output, data outputs, timer)."""
    loads = []
    for _ in range(LOADS):
        t0 = time.perf_counter()
        run = runner.load()
        loads.append((time.perf_counter() - t0) * 1000)
    for _ in range(warmup):
        run(image)
    got = run(image)
    row.load_ms = round(statistics.median(loads), 1)
    row.file = runner.file.name if runner.file else None
    row.file_mb = round(runner.file_bytes / 1e6, 3) if runner.file_bytes is not None else None
    row.threads, row.export, row.note = threads, runner.export, runner.note
    return got, [run(x) for x in inputs], _timed_block(run, image)


def _open_browser_row(row: BenchmarkRow, browser: _Browser, reason: BaseException | None, exports: _Exports,
                      image: np.ndarray, inputs: list[np.ndarray], threads: int, warmup: int):
    if reason is not None:
        raise reason
    missing = browser_unavailable()
    if missing:
        raise MissingDependency(missing)
    from ..export.onnx import require_onnx

    require_onnx()  # the browser runs the ONNX export
    file, how = exports.get("onnx", row.precision)
    out, block = browser.open(file, image, inputs, threads, warmup)
    row.load_ms = round(statistics.median(out["loadMs"]), 1)
    row.file, row.file_mb, row.threads, row.export = file.name, round(file.stat().st_size / 1e6, 3), out["threads"], how
    notes = [f"onnxruntime-web {out.get('version')} wasm"]
    if out["threads"] != threads:
        notes.append(f"got {out['threads']} WebAssembly threads of {threads} asked"
                     + ("" if out.get("isolated") else " (page not cross-origin isolated)"))
    row.note = "; ".join(notes)
    return out["output"], out["outputs"], block


def _change(inputs: list[np.ndarray], outputs: list[np.ndarray]) -> float:
    from PIL import Image

    from .evaluate import photo_change

    return photo_change([Image.fromarray(x[0]) for x in inputs], [Image.fromarray(y[0]) for y in outputs])["mean_abs"]


def _score(result: BenchmarkResult, layout: DataLayout, inputs: list[np.ndarray], outputs: dict[str, list[np.ndarray]],
           limit: int, convention: str, say) -> None:
    """KID x1000 of every measured row's translations and of the inputs (doing nothing) against the
    target domain's first ``limit`` images (or PyTorch fp32's translations when there is none)."""
    from PIL import Image

    from ..devices import resolve_device
    from .evaluate import cached_features
    from .inception import inception_features
    from .metrics import kid

    device = str(resolve_device("auto"))

    def features(batches: list[np.ndarray]) -> np.ndarray:
        return inception_features([Image.fromarray(b[0]) for b in batches], mode=convention, device=device)

    if layout.target is not None:
        files, images = load_images(layout.target, limit, None)
        target = cached_features(files, images, convention, device, False, "features target")
        result.target, result.n_target = layout.target.name, len(files)
    else:
        target = features(outputs[result.baseline.label])
        result.target, result.n_target = "pytorch fp32 translations", len(inputs)
    if len(target) < 2:
        raise OptionError(f"{result.target}: needs at least 2 readable images for KID (found {len(target)})")
    subset = min(len(inputs), len(target))
    result.data, result.n_images, result.kid_subset, result.convention = layout.source.name, len(inputs), subset, convention

    whole = subset == len(inputs) == len(target)  # every subset is both whole sets: no spread to report

    def score(batches: list[np.ndarray]) -> tuple[float, float | None]:
        mean, std = kid(features(batches), target, subset_size=subset)
        return round(mean * 1000, 3), None if whole else round(std * 1000, 3)

    k, s = score(inputs)
    result.do_nothing = {"kid_x1000": k, "kid_x1000_std": s, "change": 0.0}
    say(f"benchmark: KID x1000 vs {result.target}: doing nothing {k:.2f}")
    for row in result.rows:
        if row.ok:
            row.kid_x1000, row.kid_x1000_std = score(outputs[row.label])
            say(f"benchmark: KID x1000 vs {result.target}: {row.label} {row.kid_x1000:.2f}")


# --------------------------------------------------------------------------------------- output


def _num(value, fmt: str, missing: str = "-") -> str:
    return missing if value is None else format(value, fmt)


def progress_line(row: BenchmarkRow, i: int, n: int) -> str:
    """The line a row gets once loaded and checked (its latency is timed after, with the others')."""
    head = f"benchmark [{i}/{n}] {row.label}:"
    if not row.ok:
        return f"{head} {row.status}"
    psnr = "the reference" if row.psnr_db is None else f"PSNR {row.psnr_db:.2f} dB"
    return (f"{head} {_num(row.file_mb, '.2f')} MB, load {row.load_ms:.1f} ms, {psnr}"
            + (f" ({row.export})" if row.export else ""))


def format_table(result: BenchmarkResult) -> str:
    """The result as a terminal table: one line per row, then doing nothing with --data."""
    with_data = result.data is not None
    r0 = result.baseline
    head = (f"pocketgan benchmark: {result.model} {result.direction} ({result.generator}) at {size_label(result.size)}, "
            f"batch 1, {result.threads} thread{'s' if result.threads != 1 else ''} for every runtime; latency: median of "
            f"{result.runs} runs after {result.warmup} warm-up, in {min(ROUNDS, result.runs)} interleaved rounds; "
            f"load: median of {LOADS}; PSNR vs pytorch fp32 on "
            f"{result.input}")
    lines = [head]
    if with_data:
        lines.append(f"data: {result.n_images} images of {result.data} (resized to {size_label(result.size)}); KID x1000 "
                     f"vs {result.n_target} images of {result.target} (subset {result.kid_subset}, {result.convention}); "
                     "change: mean |output - input| on 0..255")
    cols = f"{'format':8} {'precision':9} {'file MB':>8} {'load ms':>8} {'latency ms':>10} {'speed-up':>8} {'PSNR dB':>9}"
    if with_data:
        cols += f" {'PSNR data':>9} {'KID x1000':>9} {'change':>6}"
    lines += [cols + "  status", "-" * (len(cols) + 8)]
    for r in result.rows:
        if not r.ok:
            lines.append(f"{r.format:8} {r.precision:9} {r.status}")
            continue
        psnr = "ref" if r is r0 else _num(r.psnr_db, ".2f")
        line = (f"{r.format:8} {r.precision:9} {_num(r.file_mb, '.2f'):>8} {r.load_ms:>8.1f} {r.latency_ms:>10.2f} "
                f"{r.speedup:>7.2f}x {psnr:>9}")
        if with_data:
            pd = "ref" if r is r0 else _num(r.psnr_data_db, ".2f")
            line += f" {pd:>9} {_num(r.kid_x1000, '.2f'):>9} {_num(r.change, '.1f'):>6}"
        status = "ok" + (f" ({r.export})" if r.export else "") + (f"; {r.note}" if r.note else "")
        lines.append(f"{line}  {status}")
    if with_data and result.do_nothing:
        d = result.do_nothing
        lines.append(f"{'do nothing (the inputs)':56} {'':9} {d['kid_x1000']:>9.2f} {0.0:>6.1f}")
    if result.calibration:
        lines.append(f"int8 calibration: {result.calibration}")
    return "\n".join(lines)


def write_plot(result: BenchmarkResult, path: str | Path) -> None:
    """Latency (x) against PSNR vs PyTorch fp32 (y), one labelled point per measured row, PyTorch
    fp32 as a dashed line at its latency. Needs matplotlib (imported here only)."""
    try:
        import matplotlib
    except ImportError:
        raise MissingDependency("--plot needs matplotlib: pip install matplotlib") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    base = result.baseline
    ax.axvline(base.latency_ms, color="grey", linestyle="--", linewidth=1)
    ax.annotate("pytorch fp32 (reference)", (base.latency_ms, 0.02), xycoords=("data", "axes fraction"),
                rotation=90, fontsize=8, color="grey", ha="right", va="bottom")
    marker = {"pytorch": "o", "onnx": "s", "tflite": "^", "browser": "D"}
    for r in result.rows:
        if r.ok and r.psnr_db is not None:
            ax.scatter(r.latency_ms, r.psnr_db, marker=marker.get(r.format, "o"), s=40)
            ax.annotate(r.label, (r.latency_ms, r.psnr_db), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.set_xlabel(f"latency, ms per image (median, {result.threads} thread{'s' if result.threads != 1 else ''})")
    measured = [r.latency_ms for r in result.rows if r.ok]
    if max(measured) > 20 * min(measured):  # a log axis, labelled in plain ms at 1, 2, 5 x 10^k
        from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.margins(x=0.12, y=0.08)
    ax.set_ylabel("PSNR vs pytorch fp32 (dB)")
    ax.set_title(f"{result.model} {result.direction} at {size_label(result.size)}", fontsize=10)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fig.savefig(Path(path), dpi=120)
    plt.close(fig)


def write_json(result: BenchmarkResult, path: str | Path) -> None:
    from ..fileio import atomic_write_json

    atomic_write_json(path, result.to_dict())

