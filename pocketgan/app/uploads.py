"""Checks and decodes a photo uploaded to ``POST /api/translate``.

Every refusal is an :class:`UploadError` carrying the HTTP status and a one-line message for the
client: 413 too large (bytes, or pixels over the server's decoding budget), 415 not an image
content type or not one of the accepted formats, 422 undecodable.

Only photo formats reach a decoder: the format is chosen by the file's first bytes (never by its
name or declared type) from :data:`UPLOAD_FORMATS`, and Pillow is told to use that plugin alone, so
a PostScript file labelled ``image/jpeg`` never gets to Pillow's EPS plugin (which runs
Ghostscript), nor ICO, PCX, TGA, TIFF, ... to theirs.

Decoding is bounded: the pixels decoded may not exceed the server's budget (checked from the
header, before decoding), and a JPEG larger than the server works at is decoded at a reduced DCT
scale (Pillow's draft mode). Decoding goes through :func:`pocketgan.data.images.decode_image`
(EXIF orientation, odd modes), which reads files, so the upload is copied to a private temporary
file first; messages name the uploaded file's name, never the server's temporary path.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from typing import BinaryIO

from PIL import Image

from ..data.images import DecodePlan, ImageError, decode_image, decode_plan
from ..errors import PocketganError

# The server's decoded-pixel budget: far below the CLI's 64 Mpx; 4096x4096 takes any phone photo
# at its usual 12 Mpx (and a JPEG of up to twice that, decoded at a reduced scale).
SERVER_MAX_PIXELS = 4096 * 4096
# A JPEG decoded at a reduced scale may declare up to this many times the budget (libjpeg still
# holds a progressive JPEG's coefficients at full size: ~6 bytes per declared pixel).
JPEG_DECLARED_FACTOR = 2

# Pillow plugin -> what the client is told. The formats a phone or browser sends.
UPLOAD_FORMATS = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "GIF": "GIF", "BMP": "BMP"}
ACCEPTED = "JPEG, PNG, WebP, GIF or BMP"

HEIF_TYPES = frozenset({"image/heic", "image/heif", "image/heic-sequence", "image/heif-sequence"})
HEIF_HINT = ("HEIC/HEIF photos cannot be decoded here; share or export the photo as JPEG "
             "(on an iPhone: Settings > Camera > Formats > Most Compatible)")

# Formats recognised (to say what was sent) but never decoded: first bytes -> name
_REFUSED_MAGIC = (
    (b"%!PS", "PostScript/EPS"), (b"\xc5\xd0\xd3\xc6", "EPS"), (b"%PDF", "PDF"),
    (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"II+\x00", "BigTIFF"), (b"MM\x00+", "BigTIFF"),
    (b"\x00\x00\x01\x00", "ICO"), (b"\x00\x00\x02\x00", "CUR"), (b"8BPS", "Photoshop PSD"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"), (b"\xff\x4f\xff\x51", "JPEG 2000"), (b"\xff\x0a", "JPEG XL"),
    (b"\x00\x00\x00\x0cJXL ", "JPEG XL"), (b"qoif", "QOI"), (b"DDS ", "DDS"), (b"\x01\xda", "SGI"),
    (b"icns", "ICNS"), (b"gimp xcf", "GIMP XCF"), (b"\x59\xa6\x6a\x95", "Sun raster"),
)


class UploadError(PocketganError):
    """An upload the server refuses; ``status`` is the HTTP status, ``str(err)`` the one-line reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def display_name(filename: str | None) -> str:
    """The client's file name, reduced to its last component and printable characters, for messages."""
    name = os.path.basename((filename or "").replace("\\", "/"))
    name = "".join(c for c in name if c.isprintable())[:100]
    return name or "upload"


def is_heif(content_type: str | None, filename: str | None, head: bytes = b"") -> bool:
    ext = os.path.splitext(filename or "")[1].lower()
    brand = head[8:12] if head[4:8] == b"ftyp" else b""
    return ((content_type or "").split(";")[0].strip().lower() in HEIF_TYPES or ext in (".heic", ".heif")
            or brand in (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1", b"avif"))


def check_content_type(content_type: str | None, filename: str | None) -> None:
    """Refuse (415) a part whose declared type is not an image: a browser labels photos image/*."""
    base = (content_type or "").split(";")[0].strip().lower()
    if not base.startswith("image/"):
        shown = base or "no content type"
        raise UploadError(415, f"{display_name(filename)}: {shown} is not an image; upload a JPEG, PNG or WebP photo")


def sniff_format(head: bytes) -> str | None:
    """The Pillow plugin of an accepted format the bytes ``head`` (the file's first 16 or more)
    begin with, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:2] == b"BM" and len(head) >= 14:
        return "BMP"
    return None


def _refused_kind(head: bytes) -> str | None:
    for magic, kind in _REFUSED_MAGIC:
        if head.startswith(magic):
            return kind
    if len(head) >= 2 and head[:1] == b"P" and head[1:2] in b"1234567":
        return "PBM/PGM/PPM"
    if len(head) >= 2 and head[:1] == b"\x0a" and head[1:2] in b"\x00\x02\x03\x04\x05":
        return "PCX"
    if head.lstrip()[:5] in (b"<?xml", b"<svg ", b"<svg>"):
        return "SVG/XML"
    return None


def check_format(head: bytes, filename: str | None, content_type: str | None) -> str:
    """The Pillow plugin to decode with, chosen by the file's first bytes, or UploadError(415)."""
    fmt = sniff_format(head)
    if fmt is not None:
        return fmt
    name = display_name(filename)
    if is_heif(content_type, filename, head):
        raise UploadError(415, f"{name}: {HEIF_HINT}")
    kind = _refused_kind(head)
    what = f"a {kind} file" if kind else "not an image format the server decodes"
    raise UploadError(415, f"{name}: {what} (judged by its bytes); upload a {ACCEPTED} photo")


class StagedUpload:
    """An upload whose format is checked and whose bytes are in a private temporary file; the
    header is read (no pixels), so :attr:`plan` (a :class:`~pocketgan.data.images.DecodePlan`)
    says what decoding it will produce and cost before any pixel is decoded. Use as a context
    manager (the temporary file goes at exit)."""

    def __init__(self, file: BinaryIO, filename: str | None, content_type: str | None, reduce_for: int = 0) -> None:
        self.name = display_name(filename)
        file.seek(0)
        self.format = check_format(file.read(32), filename, content_type)
        file.seek(0)
        self._tmp = tempfile.TemporaryDirectory(prefix="pocketgan-upload-")
        try:
            self.path = os.path.join(self._tmp.name, "image")
            with open(self.path, "wb") as out:
                shutil.copyfileobj(file, out, 1 << 20)
            self.declared = self._declared_size()
            self.plan_for(reduce_for)
        except BaseException:
            self._tmp.cleanup()
            raise

    def _declared_size(self) -> tuple[int, int]:
        """The size the header declares; (0, 0) when it is unreadable: the decode then fails at once
        with the reason."""
        try:
            with Image.open(self.path, formats=[self.format]) as img:
                return img.size
        except Exception:  # noqa: BLE001 - decode_image reports it properly
            return 0, 0

    def plan_for(self, reduce_for: int) -> DecodePlan:
        """Plan the decode for a server that works at ``reduce_for`` pixels on the longest side (0:
        decode the photo whole); :meth:`check_size` and :meth:`decode` follow this plan."""
        self.reduce_for = reduce_for
        self.plan = decode_plan(self.declared, self.format, reduce_for)
        return self.plan

    def check_size(self, max_pixels: int = SERVER_MAX_PIXELS, max_declared_pixels: int | None = None) -> None:
        """Refuse (413) from the header alone what :meth:`decode` would refuse for its size, before
        waiting for memory to decode it."""
        if max_declared_pixels is None:
            max_declared_pixels = JPEG_DECLARED_FACTOR * max_pixels
        plan = self.plan
        limit = max_declared_pixels if plan.reduced else max_pixels
        if plan.pixels > max_pixels or plan.declared_pixels > limit:
            (w, h) = plan.declared
            raise UploadError(413, f"{self.name}: image too large ({w}×{h} = {w * h} px > limit {limit} px); the "
                                   f"server decodes at most {max_pixels / 1e6:.1f} megapixels: send a smaller photo")

    def decode(self, max_pixels: int = SERVER_MAX_PIXELS,
               max_declared_pixels: int | None = None) -> tuple[Image.Image, tuple[int, int]]:
        """The upright RGB image and the photo's own upright size; UploadError (413, 422, 503)."""
        if max_declared_pixels is None:
            max_declared_pixels = JPEG_DECLARED_FACTOR * max_pixels
        try:
            return decode_image(self.path, max_pixels=max_pixels, formats=[self.format], reduce_for=self.reduce_for,
                                max_declared_pixels=max_declared_pixels)
        except ImageError as e:
            if e.reason.startswith("image too large"):
                raise UploadError(413, f"{self.name}: {e.reason.split(', refusing')[0]}; the server decodes at most "
                                       f"{max_pixels / 1e6:.1f} megapixels: send a smaller photo") from None
            raise UploadError(422, f"{self.name}: {e.reason}") from None
        except MemoryError:
            raise UploadError(503, f"{self.name}: the server ran out of memory decoding it; retry later") from None

    def close(self) -> None:
        self._tmp.cleanup()

    def __enter__(self) -> StagedUpload:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def decode_upload(file: BinaryIO, filename: str | None, content_type: str | None,
                  max_pixels: int = SERVER_MAX_PIXELS, reduce_for: int = 0,
                  max_declared_pixels: int | None = None) -> tuple[Image.Image, tuple[int, int]]:
    """Decode the uploaded bytes into an upright RGB image; returns it and the photo's own upright size.

    ``max_pixels``: the decoding budget (413 above it, from the header). ``reduce_for`` > 0: the
    longest side the server translates at; a JPEG larger than twice that is decoded at a reduced
    scale (still at least that long), then may declare up to ``max_declared_pixels`` (default
    ``JPEG_DECLARED_FACTOR * max_pixels``). Raises UploadError (413, 415, 422).
    """
    with StagedUpload(file, filename, content_type, reduce_for) as staged:
        return staged.decode(max_pixels, max_declared_pixels)
