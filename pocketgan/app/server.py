"""The FastAPI app behind `pocketgan serve`: the web app, its model files, and a server-side fallback.

Routes:
  GET  /                      the progressive web app (static files built from web/)
  GET  /models/<dir>-<sha>.onnx  the ONNX file the page runs (content-addressed, cached forever)
  GET  /api/health            liveness + load
  GET  /api/model             model card: directions, architecture, file sizes, export cards, limits
  POST /api/translate?direction=AtoB   multipart field ``image`` -> PNG of the same size; optional
                              ``strength`` (query or form field, 0-1.5; default: the server's --strength)

Every error is JSON ``{"error": "..."}`` with one line, and never names a server path.

This module wires the app; each job has its own module: the page's files and the headers of every
response (:mod:`.static_files`), the request parser of ``POST /api/translate`` (:mod:`.requests`),
the translation under a memory budget (:mod:`.translator`), the served model files and card
(:mod:`.model`), capacity and Host limits (:mod:`.guard`), upload decoding (:mod:`.uploads`).

Uploads take a worker-pool place only once their whole body has arrived; until then they are
bounded per client and in time by :mod:`pocketgan.app.guard` (429 / 503 / 408), so connections
that stall mid-upload cannot lock honest clients out; a body cut short is 400 "upload ended early".

Every route answers only requests whose Host names the server (loopback names and addresses, plus
``allowed_hosts``); any other gets 421 first of all (:class:`~pocketgan.app.guard.HostCheck`), so a
page on another site cannot reach a server on the user's machine through DNS rebinding.
"""
from __future__ import annotations

import socket
from collections.abc import Iterable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException

from .. import __version__
from ..devices import resolve_device
from ..errors import first_line
from ..inference.strength import MAX_STRENGTH, check_strength
from ..public import scrub_paths
from . import ServeError
from .assets import AssetsMissing, build_info, find_static
from .guard import ClientLimits, HostCheck, UploadGate, check_allowed_hosts
from .model import ServedModel, prepare_model
from .pool import PoolBusy, WorkerPool
from .requests import RETRY, Refusal, TranslateRequests
from .static_files import NOT_BUILT_PAGE, PrecompressedFiles, SecurityHeaders
from .translator import MEMORY_BUDGET, Translator
from .uploads import SERVER_MAX_PIXELS, UploadError


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
    requests = TranslateRequests(served.directions, max_upload_bytes, gate, limits)
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
            async with requests.parse(request, direction, strength) as job:  # the whole body is here
                try:
                    pool.admit()  # only now may it take a place in the pool
                except PoolBusy as e:
                    raise Refusal(503, str(e), RETRY) from None
                try:
                    png, headers = await pool.run(translator, job.upload, job.direction, job.strength)
                except UploadError:
                    raise
                except Exception as e:  # a model that fails at run time: say so (no server paths), keep serving
                    raise Refusal(500, scrub_paths(f"translation failed ({type(e).__name__}: {first_line(e)})")) from None
                finally:
                    pool.release()
        except Refusal as e:
            return error(e.status, e.message, e.headers)
        except UploadError as e:
            return error(e.status, str(e))
        return Response(png, media_type="image/png", headers={**headers, "Cache-Control": "no-store"})

    if static is not None:
        app.mount("/", PrecompressedFiles(directory=static, html=True), name="static")
    else:
        @app.get("/", response_class=HTMLResponse)
        async def not_built() -> HTMLResponse:
            return HTMLResponse(NOT_BUILT_PAGE.format(hint=missing), status_code=503)
    return app

