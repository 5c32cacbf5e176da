"""The web app's files as `pocketgan serve` sends them, and the headers every response carries.

The web build (``make web``) writes NAME.br and NAME.gz beside each compressible file;
:class:`PrecompressedFiles` sends the best copy the browser accepts (never compressing at request
time). :class:`SecurityHeaders` adds cross-origin isolation (COOP/COEP: onnxruntime-web needs it for
WebAssembly threads), ``nosniff`` and revalidation of static files to every response.
"""
from __future__ import annotations

import mimetypes
import os

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import FileResponse, Response
from starlette.staticfiles import NotModifiedResponse, StaticFiles

# Not every system's mime.types knows these; browsers insist on the right types for modules and wasm.
for _ext, _type in ((".mjs", "text/javascript"), (".js", "text/javascript"), (".wasm", "application/wasm"),
                    (".webmanifest", "application/manifest+json")):
    mimetypes.add_type(_type, _ext)

NOT_BUILT_PAGE = """<!doctype html><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>pocketgan</title><p>The pocketgan web app is not built on this server: {hint}.
The API (<a href="api/model">api/model</a>, POST api/translate) works.</p>"""


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

    def file_response(self, full_path, stat_result, scope, status_code: int = 200) -> Response:
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

    def _maybe_not_modified(self, response: FileResponse, request_headers: Headers) -> Response:
        """304 when the browser's copy (If-None-Match / If-Modified-Since) is this very file."""
        if self.is_not_modified(response.headers, request_headers):
            return NotModifiedResponse(response.headers)
        return response
