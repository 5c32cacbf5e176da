"""The FastAPI app behind `pocketgan serve`: the web app, its model files, and a server-side fallback.

Routes:
  GET  /                      the progressive web app (static files built from web/)
  GET  /models/<dir>-<sha>.onnx  the ONNX file the page runs (content-addressed, cached forever)
  GET  /api/health            liveness + load
  GET  /api/model             model card: directions, architecture, file sizes, export cards, limits
  POST /api/translate?direction=AtoB   multipart field ``image`` -> PNG of the same size; optional
                              ``strength`` (query or form field, 0-1.5; default: the server's --strength)

Every error is JSON ``{"error": "..."}`` with one line, and never names a server path. The page is
served with cross-origin isolation headers (COOP/COEP) so onnxruntime-web may use WebAssembly threads.
Static files are sent precompressed when the browser accepts it: the web build writes NAME.br and
NAME.gz beside each compressible file, and :class:`PrecompressedFiles` picks one by Accept-Encoding.

Uploads take a worker-pool place only once their whole body has arrived; until then they are
bounded per client and in time by :mod:`pocketgan.app.guard` (429 / 503 / 408), so connections
that stall mid-upload cannot lock honest clients out; a body cut short is 400 "upload ended early".

Every route answers only requests whose Host names the server (loopback names and addresses, plus
``allowed_hosts``); any other gets 421 first of all (:class:`~pocketgan.app.guard.HostCheck`), so a
page on another site cannot reach a server on the user's machine through DNS rebinding.
"""
from __future__ import annotations

import contextlib
import io
import mimetypes
import os
import socket
import threading
import time
from collections.abc import Iterable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from PIL import Image
from starlette.datastructures import Headers, MutableHeaders, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.responses import Response as StarletteResponse
from starlette.staticfiles import NotModifiedResponse

from .. import __version__
from ..devices import resolve_device
from ..directions import get_direction
from ..errors import PocketganError, first_line
from ..inference.pipeline import TranslationPipeline
from ..inference.strength import MAX_STRENGTH, check_strength
from . import ServeError
from .assets import AssetsMissing, build_info, find_static
from .guard import (BodyTimeout, BodyTooLarge, BodyTruncated, ClientLimits, HostCheck, Refused, UploadGate,
                    check_allowed_hosts, declared_length, read_body_form)
from .model import ServedModel, prepare_model, scrub_paths
from .pool import ALLOCATOR, MemoryBudget, PoolBusy, WorkerPool
from .uploads import (JPEG_DECLARED_FACTOR, SERVER_MAX_PIXELS, StagedUpload, UploadError, check_content_type,
                      check_format)

# Not every system's mime.types knows these; browsers insist on the right types for modules and wasm.
for _ext, _type in ((".mjs", "text/javascript"), (".js", "text/javascript"), (".wasm", "application/wasm"),
                    (".webmanifest", "application/manifest+json")):
    mimetypes.add_type(_type, _ext)

FIELD = "image"
MULTIPART_SLACK = 64 * 1024  # room for the multipart boundaries and part headers around the photo
NOT_BUILT_PAGE = """<!doctype html><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>pocketgan</title><p>The pocketgan web app is not built on this server: {hint}.
The API (<a href="api/model">api/model</a>, POST api/translate) works.</p>"""


def check_address(host: str, port: int) -> None:
    """Fail early, with one line, if uvicorn could not listen on host:port (busy port, unknown address),
    before minutes may go into exporting the model."""
    if not 1 <= port <= 65535:
        raise ServeError(f"--port {port} is not a port number (1-65535)")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise ServeError(f"--host {host}: not an address of this machine ({e.strerror})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            probe.bind(address)
        except OSError as e:
            raise ServeError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


# working memory the translation workers share (decoding + forward passes); the bundled model's
# forward pass at 1024x1024 takes ~520 MB of it, so one full-size translation runs at a time
MEMORY_BUDGET = 512 * 1024 ** 2
LARGE_JOB = 64 * 1024 ** 2
CLOSE = {"Connection": "close"}  # on refusals sent before the body was read: the rest is not wanted
RETRY = {"Retry-After": "2"}


class SecurityHeaders:
    """ASGI middleware: cross-origin isolation (WebAssembly threads need it) and sane caching.

    Static files are revalidated on every load (``no-cache`` + ETag), so a rebuilt app shows up at
    once; responses that set their own Cache-Control (model files, API) keep it."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
                headers.setdefault("Cross-Origin-Embedder-Policy", "require-corp")
                headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Cache-Control", "no-cache")
            await send(message)

        await self.app(scope, receive, send_with_headers)


class Translator:
    """Server-side translation on the worker pool; one TranslationPipeline per direction, made on first use.

    Memory is bounded whatever the number of workers by one budget they share (``memory_budget``
    bytes): a worker reserves what decoding its photo will cost (judged from the header) before
    decoding, and what the forward pass will cost (its working pixels times the generator's bytes
    per pixel) before translating; a job larger than the budget runs alone."""

    def __init__(self, served: ServedModel, device: str, max_side: int, max_pixels: int,
                 memory_budget: int = MEMORY_BUDGET, strength: float = 1.0) -> None:
        self.served = served
        self.strength = check_strength(strength)
        self.device = device
        self.max_side = max_side
        self.max_pixels = max_pixels
        self.memory = MemoryBudget(memory_budget)
        self._pipes: dict[str, TranslationPipeline] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _sized(cost: float):
        """Large jobs (over 64 MB) give their big blocks back to the system when done (see Allocator)."""
        return ALLOCATOR.large_job() if cost > LARGE_JOB else contextlib.nullcontext()

    def pipeline(self, direction: str) -> TranslationPipeline:
        with self._lock:
            if direction not in self._pipes:
                source = self.served.source if self.served.kind == "folder" else self.served.directions[direction].path
                pipe = TranslationPipeline.from_pretrained(
                    source, direction, device=self.device, max_side=self.max_side, batch_size=1,
                    strength=self.strength)
                pipe.forward_bytes_per_pixel()  # measured once, here
                self._pipes[direction] = pipe
            return self._pipes[direction]

    def __call__(self, upload: UploadFile, direction: str, strength: float | None = None) -> tuple[bytes, dict[str, str]]:
        """Runs on a worker thread: decode, translate (at ``strength``; None = the server's), encode
        PNG; returns (png, response headers).

        The answer has the photo's own size, unless that is over the decoding budget (a large JPEG
        decoded at a reduced scale): then it has the size decoded. A residual model's change is
        applied to the photo decoded at that size (see :mod:`pocketgan.inference.fullres`), so its
        detail is kept; any other model's result is upscaled."""
        pipe = self.pipeline(direction)
        full = pipe.applies_change_at_full_size
        with StagedUpload(upload.file, upload.filename, upload.content_type, self.max_side) as staged:
            if full and staged.pixels < staged.size[0] * staged.size[1] <= self.max_pixels:
                staged.reduce_for = 0  # within the budget: decode it whole, the change goes on every pixel
                staged.size, staged.pixels, staged.decode_bytes = staged._decode_cost()
            staged.check_size(self.max_pixels, JPEG_DECLARED_FACTOR * self.max_pixels)
            with self.memory.reserve(staged.decode_bytes), self._sized(staged.decode_bytes):
                image, original = staged.decode(self.max_pixels, JPEG_DECLARED_FACTOR * self.max_pixels)
                out_size = original if original[0] * original[1] <= self.max_pixels else image.size
                w, h = pipe.working_size(image.size)
                if not full and image.size != (w, h):  # only the working size waits for the forward pass
                    image = image.resize((w, h), Image.BICUBIC)
        # the forward pass, the result at full size (and the full-size photo it is added to) and its
        # PNG: one reservation
        cost = w * h * pipe.forward_bytes_per_pixel() + (12 if full else 8) * out_size[0] * out_size[1]
        with self.memory.reserve(cost), self._sized(cost):
            start = time.perf_counter()
            result = pipe.translate_to(image, out_size, strength)
            ms = (time.perf_counter() - start) * 1000
            del image
            buf = io.BytesIO()
            result.save(buf, format="PNG")
            del result
        return buf.getvalue(), {"X-Inference-Ms": f"{ms:.1f}", "X-Original-Size": f"{original[0]}x{original[1]}",
                                "X-Processed-Size": f"{w}x{h}",
                                "X-Strength": f"{pipe.strength if strength is None else strength:g}"}


# Content-Encoding -> the suffix of the precompressed copy the web build writes, best first
PRECOMPRESSED = (("br", ".br"), ("gzip", ".gz"))


def accepted_encodings(header: str) -> set[str]:
    """The codings an Accept-Encoding header allows (q=0 means refused; ``*`` allows any)."""
    allowed: set[str] = set()
    for part in header.lower().split(","):
        name, _, params = part.strip().partition(";")
        q = params.strip().removeprefix("q=") if params.strip().startswith("q=") else "1"
        try:
            if float(q) <= 0:
                continue
        except ValueError:
            continue
        if name == "*":
            allowed.update(coding for coding, _ in PRECOMPRESSED)
        elif name:
            allowed.add(name.strip())
    return allowed


class PrecompressedFiles(StaticFiles):
    """StaticFiles that sends NAME.br or NAME.gz (made at build time, never at request time) in place
    of NAME when the browser accepts that coding, with Content-Encoding, the type of NAME, and
    ``Vary: Accept-Encoding`` so caches keep the codings apart. Each coding is its own file, so its
    ETag and Range requests follow its own bytes."""

    def file_response(self, full_path, stat_result, scope, status_code: int = 200) -> StarletteResponse:
        """The best precompressed copy of ``full_path`` the browser accepts, else the file itself."""
        request_headers = Headers(scope=scope)
        allowed = accepted_encodings(request_headers.get("accept-encoding", ""))
        media_type = mimetypes.guess_type(str(full_path))[0] or "application/octet-stream"
        variants = [(coding, f"{full_path}{suffix}") for coding, suffix in PRECOMPRESSED]
        has_variants = False
        for coding, path in variants:
            try:
                variant_stat = os.stat(path)
            except OSError:
                continue
            has_variants = True
            if coding in allowed:
                response = FileResponse(path, status_code=status_code, stat_result=variant_stat, media_type=media_type,
                                        headers={"Content-Encoding": coding, "Vary": "Accept-Encoding"})
                return self._maybe_not_modified(response, request_headers)
        response = FileResponse(full_path, status_code=status_code, stat_result=stat_result, media_type=media_type,
                                headers={"Vary": "Accept-Encoding"} if has_variants else None)
        return self._maybe_not_modified(response, request_headers)

    def _maybe_not_modified(self, response: FileResponse, request_headers: Headers) -> StarletteResponse:
        """304 when the browser's copy (If-None-Match / If-Modified-Since) is this very file."""
        if self.is_not_modified(response.headers, request_headers):
            return NotModifiedResponse(response.headers)
        return response


def client_address(request: Request) -> str:
    """The client's address (behind a trusted proxy, the one it forwarded)."""
    return request.client.host if request.client else "unknown"


def create_app(model: str | Path | ServedModel, *, max_side: int = 1024, workers: int = 2, max_waiting: int = 32,
               max_upload_bytes: int = 20 * 1024 * 1024, max_pixels: int = SERVER_MAX_PIXELS, device: str = "cpu",
               static_dir: str | Path | None = None, cache_dir: str | Path | None = None,
               limits: ClientLimits | None = None, memory_budget: int = MEMORY_BUDGET,
               isolate_export: bool = False, strength: float = 1.0, allowed_hosts: Iterable[str] = ()) -> FastAPI:
    """The app for ``model`` (a model folder, an exported .onnx, or an already prepared ServedModel).

    ``max_side``: the longest side images are translated at (the page's default too; 0 = full size).
    ``workers``/``max_waiting``: server-side translations running at once / queued before 503 (a
    place is taken once an upload's whole body has arrived).
    ``max_upload_bytes``: largest accepted photo (413 above). ``max_pixels``: the decoding budget
    (pixels decoded per photo; 413 above it, judged from the header). ``limits``: per-client and
    timing limits of uploads (:class:`~pocketgan.app.guard.ClientLimits`). ``memory_budget``: bytes
    of working memory the workers share (see :class:`Translator`). ``strength``: the default of
    server-side translations (0-1.5; a request's ``strength`` overrides it). ``allowed_hosts``: the
    Host names and addresses answered besides loopback ones (``localhost``, ``*.localhost``, 127/8,
    ::1) and the address a connection came in on; ``["*"]`` answers any (see
    :class:`~pocketgan.app.guard.HostCheck`; `pocketgan serve` passes its ``--host`` and
    ``--allowed-host`` names, :func:`~pocketgan.app.guard.serve_hosts`). Exports a model folder
    to ONNX now (cached in MODEL/export/; in a child process with ``isolate_export``, as
    `pocketgan serve` does), so a broken model fails here, before anything is served.
    """
    if max_side < 0:
        raise ServeError(f"max side must be 0 (full size) or positive (got {max_side})")
    if max_upload_bytes < 1:
        raise ServeError(f"max upload size must be positive (got {max_upload_bytes})")
    if max_pixels < 1:
        raise ServeError(f"max pixels must be positive (got {max_pixels})")
    strength = check_strength(strength)
    hosts = check_allowed_hosts(allowed_hosts)
    limits = limits or ClientLimits()
    limits.check()
    device = str(resolve_device(device))  # a device this machine lacks fails now, not after the export
    pool = WorkerPool(workers, max_waiting)  # checks its arguments before the (slow) export
    gate = UploadGate(limits)
    owned = not isinstance(model, ServedModel)
    served = prepare_model(model, cache_dir, isolate_export) if owned else model
    translator = Translator(served, device, max_side, max_pixels, memory_budget, strength)
    static: Path | None = None
    missing = ""
    try:
        static = find_static(static_dir)
    except AssetsMissing as e:
        missing = str(e)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        pool.shutdown()
        if owned:
            served.close()

    # no /docs: Swagger UI would load its scripts from a CDN; the schema is at api/openapi.json
    app = FastAPI(title="pocketgan", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url="/api/openapi.json")
    app.add_middleware(SecurityHeaders)
    app.add_middleware(HostCheck, allowed=hosts)  # added last: runs first, before any other work
    app.state.served, app.state.pool, app.state.translator = served, pool, translator
    app.state.gate, app.state.limits, app.state.allowed_hosts = gate, limits, hosts

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error(422, f"invalid request: {where}: {first.get('msg', 'invalid')}")

    @app.get("/api/health")
    async def health() -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__, "directions": list(served.directions),
                             "workers": pool.workers, "admitted": pool.admitted, "receiving": gate.receiving},
                            headers={"Cache-Control": "no-store"})

    @app.get("/api/model")
    async def model_card() -> JSONResponse:
        card = served.describe()
        web = build_info(static) if static else {}
        card.update(max_side=max_side, max_upload_bytes=max_upload_bytes, max_pixels=max_pixels, size_multiple=4,
                    server_translate="api/translate", strength=strength, max_strength=MAX_STRENGTH,
                    web={k: web[k] for k in ("version", "onnxruntime_web") if k in web} or None)
        return JSONResponse(card, headers={"Cache-Control": "no-cache"})

    @app.get("/models/{name}")
    async def model_file(name: str) -> Response:
        found = served.by_url_name(name)
        if found is None:
            return error(404, f"no model file {name!r}; see api/model for the current ones")
        return FileResponse(found.path, media_type="application/octet-stream",
                            headers={"Cache-Control": "public, max-age=31536000, immutable"})

    @app.post("/api/translate")
    async def translate(request: Request, direction: str = "AtoB", strength: str | None = None) -> Response:
        try:
            get_direction(direction)
        except PocketganError as e:
            return error(400, str(e), CLOSE)
        try:
            chosen = None if strength is None else check_strength(strength.strip(), "strength")
        except PocketganError as e:
            return error(422, str(e), CLOSE)
        if direction not in served.directions:
            return error(404, f"this model has no {direction} direction (it has {', '.join(served.directions)})", CLOSE)
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "multipart/form-data":
            return error(415, f"send the photo as multipart/form-data in a field named {FIELD!r}", CLOSE)
        limit = max_upload_bytes + MULTIPART_SLACK
        too_large = f"photo larger than the server's limit of {max_upload_bytes / 1e6:.1f} MB"
        declared = declared_length(request.headers.get("content-length"))
        if declared is not None and declared > limit:
            return error(413, too_large, CLOSE)
        client = client_address(request)
        try:
            gate.enter(client)  # a receiving place, per client and in all; not yet a place in the pool
        except Refused as e:
            return error(e.status, str(e), {**RETRY, **CLOSE})
        try:
            form = await read_body_form(request, limit, limits.body_timeout, limits.idle_timeout)
        except BodyTooLarge:
            return error(413, too_large, CLOSE)
        except BodyTimeout as e:
            return error(408, f"{e}; send the photo again", CLOSE)
        except BodyTruncated as e:
            return error(400, str(e), CLOSE)
        except MultiPartException as e:  # Starlette's verdict on a malformed multipart body
            return error(400, f"malformed multipart body: {e.message}", CLOSE)
        finally:
            gate.leave(client)
        try:  # the whole body is here: only now may it take a place in the pool
            upload = form.get(FIELD)
            if not isinstance(upload, UploadFile):
                fields = ", ".join(repr(k if len(k) <= 40 else k[:39] + "…") for k in form.keys()) or "none"
                return error(422, f"no file in form field {FIELD!r} (fields sent: {fields})")
            if "strength" in form:
                field_value = form.get("strength")
                if strength is not None:
                    return error(422, "strength given both in the query and in the form; give it once")
                try:
                    chosen = check_strength(field_value.strip() if isinstance(field_value, str) else "a file",
                                            "strength")
                except PocketganError as e:
                    return error(422, str(e))
            if upload.size is not None and upload.size > max_upload_bytes:
                return error(413, too_large)
            check_content_type(upload.content_type, upload.filename)
            upload.file.seek(0)
            check_format(upload.file.read(32), upload.filename, upload.content_type)  # 415 before a place
            try:
                pool.admit()
            except PoolBusy as e:
                return error(503, str(e), RETRY)
            try:
                png, headers = await pool.run(translator, upload, direction, *(() if chosen is None else (chosen,)))
            except UploadError:
                raise
            except Exception as e:  # a model that fails at run time: say so (no server paths), keep serving
                return error(500, scrub_paths(f"translation failed ({type(e).__name__}: {first_line(e)})"))
            finally:
                pool.release()
        except UploadError as e:
            return error(e.status, str(e))
        finally:
            await form.close()
        return Response(png, media_type="image/png", headers={**headers, "Cache-Control": "no-store"})

    if static is not None:
        app.mount("/", PrecompressedFiles(directory=static, html=True), name="static")
    else:
        @app.get("/", response_class=HTMLResponse)
        async def not_built() -> HTMLResponse:
            return HTMLResponse(NOT_BUILT_PAGE.format(hint=missing), status_code=503)
    return app

