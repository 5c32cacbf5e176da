"""One parser for ``POST /api/translate``: from the raw request to a checked job, or one refusal.

The checks run cheapest first, and those that need no body run before a byte of it is read (the
answer then closes the connection: the rest of the body is not wanted): the direction, the
strength in the query, the content type, the declared length, a receiving place for this client
(:class:`~pocketgan.app.guard.UploadGate`). Then the body is read within the size and time limits,
and the form's own fields are checked: the photo's field, a strength given in the form, the photo's
size, declared type and first bytes (a format the server never decodes is refused here, before the
upload may wait for a worker).

Every refusal is a :class:`Refusal`: an HTTP status, one line for the client, and headers.
"""
from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass

from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import Request

from ..directions import get_direction
from ..errors import PocketganError
from ..inference.strength import check_strength
from .guard import BodyTimeout, BodyTooLarge, BodyTruncated, ClientLimits, Refused, UploadGate, declared_length, read_body_form
from .uploads import UploadError, check_content_type, check_format

FIELD = "image"
MULTIPART_SLACK = 64 * 1024  # room for the multipart boundaries and part headers around the photo
CLOSE = {"Connection": "close"}  # on refusals sent before the body was read: the rest is not wanted
RETRY = {"Retry-After": "2"}


class Refusal(Exception):
    """A request the server will not translate: ``status``, a one-line ``message``, ``headers``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


@dataclass
class TranslateJob:
    """A translate request whose every part is checked: the photo (its bytes all here), the
    direction, and the strength asked (None: the server's default)."""

    upload: UploadFile
    direction: str
    strength: float | None


def client_address(request: Request) -> str:
    """The client's address (behind a trusted proxy, the one it forwarded)."""
    return request.client.host if request.client else "unknown"


class TranslateRequests:
    """Turns requests into :class:`TranslateJob`; see the module docstring for the order of checks."""

    def __init__(self, directions: Collection[str], max_upload_bytes: int, gate: UploadGate,
                 limits: ClientLimits) -> None:
        self.directions = list(directions)
        self.max_upload_bytes = max_upload_bytes
        self.gate, self.limits = gate, limits
        self.too_large = f"photo larger than the server's limit of {max_upload_bytes / 1e6:.1f} MB"

    @contextlib.asynccontextmanager
    async def parse(self, request: Request, direction: str, strength: str | None) -> AsyncIterator[TranslateJob]:
        """The job of ``request`` (``direction`` and ``strength`` from its query), or :class:`Refusal`;
        the form and its temporary files are closed when the block ends."""
        chosen = self._check_query(request, direction, strength)
        form = await self._read_form(request)
        try:
            yield self._job(form, direction, chosen, query_strength=strength is not None)
        finally:
            await form.close()

    def _check_query(self, request: Request, direction: str, strength: str | None) -> float | None:
        try:
            get_direction(direction)
        except PocketganError as e:
            raise Refusal(400, str(e), CLOSE) from None
        try:
            chosen = None if strength is None else check_strength(strength.strip(), "strength")
        except PocketganError as e:
            raise Refusal(422, str(e), CLOSE) from None
        if direction not in self.directions:
            raise Refusal(404, f"this model has no {direction} direction (it has {', '.join(self.directions)})", CLOSE)
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "multipart/form-data":
            raise Refusal(415, f"send the photo as multipart/form-data in a field named {FIELD!r}", CLOSE)
        declared = declared_length(request.headers.get("content-length"))
        if declared is not None and declared > self.max_upload_bytes + MULTIPART_SLACK:
            raise Refusal(413, self.too_large, CLOSE)
        return chosen

    async def _read_form(self, request: Request) -> FormData:
        client = client_address(request)
        try:
            self.gate.enter(client)  # a receiving place, per client and in all; not yet a place in the pool
        except Refused as e:
            raise Refusal(e.status, str(e), {**RETRY, **CLOSE}) from None
        try:
            return await read_body_form(request, self.max_upload_bytes + MULTIPART_SLACK, self.limits.body_timeout,
                                        self.limits.idle_timeout)
        except BodyTooLarge:
            raise Refusal(413, self.too_large, CLOSE) from None
        except BodyTimeout as e:
            raise Refusal(408, f"{e}; send the photo again", CLOSE) from None
        except BodyTruncated as e:
            raise Refusal(400, str(e), CLOSE) from None
        except MultiPartException as e:  # Starlette's verdict on a malformed multipart body
            raise Refusal(400, f"malformed multipart body: {e.message}", CLOSE) from None
        finally:
            self.gate.leave(client)

    def _job(self, form: FormData, direction: str, chosen: float | None, query_strength: bool) -> TranslateJob:
        upload = form.get(FIELD)
        if not isinstance(upload, UploadFile):
            fields = ", ".join(repr(k if len(k) <= 40 else k[:39] + "…") for k in form) or "none"
            raise Refusal(422, f"no file in form field {FIELD!r} (fields sent: {fields})")
        if "strength" in form:
            if query_strength:
                raise Refusal(422, "strength given both in the query and in the form; give it once")
            value = form.get("strength")
            try:
                chosen = check_strength(value.strip() if isinstance(value, str) else "a file", "strength")
            except PocketganError as e:
                raise Refusal(422, str(e)) from None
        if upload.size is not None and upload.size > self.max_upload_bytes:
            raise Refusal(413, self.too_large)
        try:
            check_content_type(upload.content_type, upload.filename)
            upload.file.seek(0)
            check_format(upload.file.read(32), upload.filename, upload.content_type)  # 415 before a place
        except UploadError as e:
            raise Refusal(e.status, str(e)) from None
        return TranslateJob(upload, direction, chosen)
