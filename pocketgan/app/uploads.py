"""Checks and decodes a photo uploaded to ``POST /api/translate``.

Every refusal is an :class:`UploadError` carrying the HTTP status and a one-line message for the
client: 413 too large, 415 not an image content type, 422 undecodable. Decoding goes through
:func:`pocketgan.data.images.load_image` (EXIF orientation, odd modes, decompression-bomb guard),
which reads files, so the upload is copied to a private temporary file first; messages name the
uploaded file's name, never the server's temporary path.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from typing import BinaryIO

from PIL import Image

from ..data.images import DEFAULT_MAX_PIXELS, ImageError, load_image
from ..errors import PocketganError

HEIF_TYPES = frozenset({"image/heic", "image/heif", "image/heic-sequence", "image/heif-sequence"})
HEIF_HINT = ("HEIC/HEIF photos cannot be decoded here; share or export the photo as JPEG "
             "(on an iPhone: Settings > Camera > Formats > Most Compatible)")


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


def is_heif(content_type: str | None, filename: str | None) -> bool:
    ext = os.path.splitext(filename or "")[1].lower()
    return (content_type or "").split(";")[0].strip().lower() in HEIF_TYPES or ext in (".heic", ".heif")


def check_content_type(content_type: str | None, filename: str | None) -> None:
    """Refuse (415) a part whose declared type is not an image: a browser labels photos image/*."""
    base = (content_type or "").split(";")[0].strip().lower()
    if not base.startswith("image/"):
        shown = base or "no content type"
        raise UploadError(415, f"{display_name(filename)}: {shown} is not an image; upload a JPEG, PNG or WebP photo")


def decode_upload(file: BinaryIO, filename: str | None, content_type: str | None,
                  max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode the uploaded bytes into an upright RGB image, or raise UploadError(422)."""
    name = display_name(filename)
    file.seek(0)
    with tempfile.TemporaryDirectory(prefix="pocketgan-upload-") as tmp:
        path = os.path.join(tmp, "image")
        with open(path, "wb") as out:
            shutil.copyfileobj(file, out, 1 << 20)
        try:
            return load_image(path, max_pixels=max_pixels)
        except ImageError as e:
            reason = HEIF_HINT if is_heif(content_type, filename) else e.reason
            raise UploadError(422, f"{name}: {reason}") from None
