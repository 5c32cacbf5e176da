"""The one place that reads and writes image files (folders and command-line inputs are found by
:mod:`.inputs`; images become tensors in :mod:`.tensors`).

Real photo folders contain zero-byte uploads, truncated downloads, CMYK
scans, 16-bit PNGs, phone pictures that are stored sideways with an EXIF
orientation tag, transparent logos and the odd decompression bomb.  Every
other module should go through :func:`load_image` / :func:`save_image` so that
these cases are handled once, the same way everywhere, and surface as a
one-line error that names the file instead of a Pillow traceback.
"""

from __future__ import annotations

import io
import math
import os
import re
import stat
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import PocketganError
from ..fileio import atomic_write_bytes

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "READ_FORMATS",
    "DataError",
    "DecodePlan",
    "ImageError",
    "decode_image",
    "decode_plan",
    "load_image",
    "probe_image",
    "save_image",
]

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".gif"}
)

# 64 Mpx: above any real camera photo we would train on, far below what makes a
# decode allocate gigabytes.  Also below Pillow's own warning threshold (~89 Mpx),
# so with the default Pillow never gets to complain before we do.
DEFAULT_MAX_PIXELS: int = 8192 * 8192

# The Pillow plugins that may decode a file, whatever its name says: the formats of IMAGE_EXTENSIONS
# (MPO, a JPEG with extra pictures, comes with "JPEG"). A file whose bytes are anything else (EPS,
# which Pillow hands to Ghostscript; ICO, PCX, TGA, ...) is "not an image" and never reaches a decoder.
READ_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "BMP", "WEBP", "TIFF", "PPM", "GIF")

_SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}

# EXIF orientation -> the transpose that displays the image upright
# (the same table as PIL.ImageOps.exif_transpose).
_ORIENTATION_FIX = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_EXIF_ORIENTATION = 0x0112

_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
# 0..65535 -> 0..255 with exact rounding, as a table: one byte per pixel of temporaries, not eight
_SIXTEEN_TO_EIGHT = ((np.arange(65536, dtype=np.int64) * 255 + 32767) // 65535).astype(np.uint8)


def _one_line(text: str) -> str:
    """Collapse whitespace so messages stay one line in logs and progress bars."""
    return re.sub(r"\s+", " ", str(text)).strip()


class ImageError(PocketganError):
    """One unusable image file.

    ``str(err)`` is a single line naming the file and the problem, e.g.
    ``"photos/x.jpg: truncated or corrupt image (image file is truncated)"``.
    ``path`` and ``reason`` are kept separately so a folder scan can report
    the reason without repeating the path.
    """

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = Path(path)
        self.reason = _one_line(reason)
        super().__init__(_one_line(f"{os.fspath(path)}: {self.reason}"))


class DataError(PocketganError):
    """A folder- or input-level problem (missing folder, nothing usable); one line naming it."""

    def __init__(self, message: str) -> None:
        super().__init__(_one_line(message))


# --------------------------------------------------------------------------- reading

_PILLOW_LIMIT_LOCK = threading.Lock()


@contextmanager
def _pillow_bomb_guard(path: str | os.PathLike[str], max_pixels: int) -> Iterator[None]:
    """Make ``max_pixels`` the only size policy while Pillow runs.

    Pillow has its own global limit (``Image.MAX_IMAGE_PIXELS``): above it it
    *warns* (printed to stderr, once per run, useless in a data loader) and
    above twice it it raises ``DecompressionBombError`` from inside
    ``Image.open``.  We check the size ourselves right after the header is
    read, so we silence the warning and translate the error.  If the caller
    explicitly allows more pixels than Pillow does, Pillow's limit is raised
    for the duration of this call only (under a lock, restored afterwards).
    Like every ``warnings.catch_warnings`` user this is process-global, which
    is fine for DataLoader worker processes; threads only risk the bomb
    warning staying silenced.
    """
    limit = Image.MAX_IMAGE_PIXELS
    lift = limit is not None and max_pixels > limit
    if lift:
        _PILLOW_LIMIT_LOCK.acquire()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            if lift:
                Image.MAX_IMAGE_PIXELS = max_pixels
            try:
                yield
            except Image.DecompressionBombError as err:
                # Pillow only raises above its limit, which is >= ours here, so
                # the image is over our limit too; Pillow knows N, not W×H.
                found = re.search(r"\((\d+) pixels\)", str(err))
                pixels = f"{found[1]} px" if found else "size"
                raise ImageError(
                    path,
                    f"image too large ({pixels} > limit {max_pixels} px), "
                    "refusing to decode (decompression-bomb guard)",
                ) from None
    finally:
        if lift:
            Image.MAX_IMAGE_PIXELS = limit
            _PILLOW_LIMIT_LOCK.release()


# Peak bytes per pixel while decoding: 16-bit or alpha images go through a few copies on their way
# to RGB; a JPEG decoded at a reduced scale also holds its coefficients at full size (a progressive
# one), ~6 bytes per declared pixel.
DECODE_BYTES_PER_PIXEL = 16
DRAFT_BYTES_PER_DECLARED_PIXEL = 6
DRAFT_FORMATS = frozenset({"JPEG", "MPO"})


@dataclass(frozen=True)
class DecodePlan:
    """How a file will be decoded, known from its header alone: the size it declares (as stored,
    before EXIF orientation), the DCT scale a JPEG is decoded at (1 = whole), the size that gives,
    and the memory it may take at its peak. :func:`decode_image` decodes by this plan, and the
    server reserves :attr:`peak_bytes` of its memory budget from it before decoding an upload."""

    declared: tuple[int, int]
    scale: int = 1
    draft_size: tuple[int, int] | None = None  # the size asked of Pillow's draft mode, for a reduced decode

    @property
    def decoded(self) -> tuple[int, int]:
        w, h = self.declared
        return math.ceil(w / self.scale), math.ceil(h / self.scale)

    @property
    def reduced(self) -> bool:
        return self.draft_size is not None

    @property
    def pixels(self) -> int:
        """Pixels decoding produces."""
        w, h = self.decoded
        return w * h

    @property
    def declared_pixels(self) -> int:
        return self.declared[0] * self.declared[1]

    @property
    def peak_bytes(self) -> int:
        extra = DRAFT_BYTES_PER_DECLARED_PIXEL * self.declared_pixels if self.reduced else 0
        return DECODE_BYTES_PER_PIXEL * self.pixels + extra


def decode_plan(size: tuple[int, int], fmt: str | None, reduce_for: int = 0) -> DecodePlan:
    """The plan for a file of ``size`` (as its header declares it) in Pillow format ``fmt``:
    ``reduce_for`` > 0 lets a JPEG longer than twice that be decoded at the smallest DCT scale
    (1/2, 1/4, 1/8: Pillow's draft mode) whose longest side is still at least ``reduce_for``."""
    w, h = size
    if reduce_for <= 0 or fmt not in DRAFT_FORMATS or max(w, h) <= 2 * reduce_for:
        return DecodePlan((w, h))
    factor = reduce_for / max(w, h)
    want = (max(1, math.ceil(w * factor)), max(1, math.ceil(h * factor)))
    ratio = min(w // want[0], h // want[1])  # Pillow's draft takes the largest of 8, 4, 2 within this ratio
    return DecodePlan((w, h), next(s for s in (8, 4, 2, 1) if ratio >= s), want)


def _open(path: str | os.PathLike[str], max_pixels: int, formats: Sequence[str] | None = READ_FORMATS,
          reduce_for: int = 0, max_declared_pixels: int | None = None) -> Image.Image:
    """Open (header only) and check everything that can be checked without decoding.

    ``reduce_for`` > 0: a JPEG is set up to decode at the smallest DCT scale (1/2, 1/4, 1/8)
    whose longest side is still at least ``reduce_for`` (Pillow's draft mode), so ``img.size`` is
    then the reduced size; ``max_pixels`` bounds that decoded size, ``max_declared_pixels``
    (default: ``max_pixels``) the size the header declares. Returns an open, lazy image; the
    caller must close it.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ImageError(path, "file not found") from None
    except OSError as err:
        raise ImageError(path, f"cannot read file ({err.strerror or err})") from None
    if stat.S_ISDIR(info.st_mode):
        raise ImageError(path, "is a directory, not an image file")
    if not stat.S_ISREG(info.st_mode):
        raise ImageError(path, "not a regular file (a device, pipe or socket)")
    if info.st_size == 0:
        raise ImageError(path, "empty file (0 bytes)")
    try:
        img = Image.open(path, formats=list(formats) if formats is not None else None)
    except UnidentifiedImageError:
        raise ImageError(path, "not an image or unsupported format (Pillow cannot identify it)") from None
    except Image.DecompressionBombError:
        raise  # _pillow_bomb_guard turns it into "image too large"
    except OSError as err:
        raise ImageError(path, f"cannot read file ({err.strerror or err})") from None
    except Exception as err:  # plugins raise ValueError, struct.error, EOFError, ...
        raise ImageError(path, f"corrupt image header ({type(err).__name__}: {err})") from None
    w, h = img.size
    if w < 1 or h < 1:
        img.close()
        raise ImageError(path, f"invalid image size {w}×{h}")
    declared_limit = max_pixels if max_declared_pixels is None else max_declared_pixels
    plan = decode_plan((w, h), img.format, reduce_for)
    draftable = plan.draft_size is not None
    if w * h > (declared_limit if draftable else max_pixels):
        img.close()
        raise ImageError(
            path,
            f"image too large ({w}×{h} = {w * h} px > limit {declared_limit if draftable else max_pixels} px), "
            "refusing to decode (decompression-bomb guard)",
        )
    if draftable:
        img._draft_declared = (w, h)  # type: ignore[attr-defined]  (read by decode_image)
        try:
            img.draft(None, plan.draft_size)
        except Exception as err:
            img.close()
            raise ImageError(path, f"corrupt image header ({type(err).__name__}: {err})") from None
        dw, dh = img.size
        if dw * dh > max_pixels:
            img.close()
            raise ImageError(
                path,
                f"image too large ({w}×{h}, {dw}×{dh} = {dw * dh} px at the smallest decoding scale > limit "
                f"{max_pixels} px), refusing to decode",
            )
    return img


def _orientation(img: Image.Image, *, header_only: bool) -> int:
    """EXIF (or XMP) orientation, 1 when absent or unreadable.

    A broken EXIF block is common (editors mangle it) and says nothing about
    the pixels, so it is ignored rather than rejecting the photo.
    ``header_only`` avoids PngImageFile.getexif(), which decodes the whole
    image to look for an eXIf chunk after the pixel data.
    """
    try:
        exif = Image.Image.getexif(img) if header_only else img.getexif()
        value = int(exif.get(_EXIF_ORIENTATION, 1))
    except Exception:
        return 1
    return value if value in _ORIENTATION_FIX else 1


def probe_image(path: str | os.PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS,
                formats: Sequence[str] | None = READ_FORMATS) -> tuple[int, int]:
    """Cheaply check that ``path`` looks like a usable image; return its upright ``(width, height)``.

    Reads only the header (no pixel decode), so scanning thousands of files
    is fast.  A file with a good header but truncated pixel data passes here
    and fails later in :func:`load_image`.  The size accounts for EXIF
    orientation, so it matches what :func:`load_image` returns (except for a
    PNG whose EXIF chunk sits after the pixel data, which only a decode finds).

    Raises :class:`ImageError`.
    """
    with _pillow_bomb_guard(path, max_pixels), _open(path, max_pixels, formats) as img:
        w, h = _stored_size(img)
        if _orientation(img, header_only=True) in (5, 6, 7, 8):
            w, h = h, w
    return w, h


def _stored_size(img: Image.Image) -> tuple[int, int]:
    """Size of the pixel data as stored, before any orientation.

    Pillow's TIFF plugin already reports (and on load applies) the upright
    size, so use its raw width/length tags instead of ``img.size``.
    """
    tags = getattr(img, "tag_v2", None)
    if tags is not None and 256 in tags and 257 in tags:
        return int(tags[256]), int(tags[257])
    return img.size


def load_image(path: str | os.PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS,
               formats: Sequence[str] | None = READ_FORMATS) -> Image.Image:
    """Decode ``path`` into an upright 8-bit RGB image.

    - only the Pillow plugins in ``formats`` may decode it, chosen by the file's bytes
      (default :data:`READ_FORMATS`; a PostScript file named ``.jpg`` is "not an image");
    - the size limit is checked from the header before any decoding;
    - EXIF orientation is applied (same table as ``ImageOps.exif_transpose``);
    - 16-bit and 32-bit integer images are rescaled 0..65535 -> 0..255
      (Pillow's own ``convert`` would clip them, turning most photos white);
    - float images are taken as 0..1 when their maximum is <= 1, else clipped to 0..255;
    - transparency is composited over white (the usual "paper" background;
      black would invent dark outlines around logos);
    - every other mode (1, L, P, CMYK, YCbCr, LAB, HSV) is converted to RGB;
    - truncated or corrupt data raises :class:`ImageError` (truncated images are
      never silently padded with grey).

    Animated/multi-page files yield their first frame.  The file is closed on return.
    """
    return decode_image(path, max_pixels=max_pixels, formats=formats)[0]


def decode_image(path: str | os.PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS,
                 formats: Sequence[str] | None = READ_FORMATS, reduce_for: int = 0,
                 max_declared_pixels: int | None = None) -> tuple[Image.Image, tuple[int, int]]:
    """:func:`load_image` for callers that work at a reduced size (the server): returns the upright
    RGB image and the upright size the file declares.

    ``reduce_for`` > 0: a JPEG larger than twice that on its longest side is decoded at a reduced
    DCT scale (1/2, 1/4 or 1/8, Pillow's draft mode), its longest side still at least
    ``reduce_for``; the image returned is then smaller than the declared size. ``max_pixels``
    bounds the pixels actually decoded; ``max_declared_pixels`` (default ``max_pixels``) the
    declared size of such a JPEG. Every other file is decoded whole, its declared size within
    ``max_pixels``.
    """
    guarded = max_pixels if max_declared_pixels is None else max(max_pixels, max_declared_pixels)
    with _pillow_bomb_guard(path, guarded), _open(path, max_pixels, formats, reduce_for, max_declared_pixels) as img:
        decoded, declared = img.size, getattr(img, "_draft_declared", img.size)
        try:
            img.load()
        except Exception as err:  # OSError, SyntaxError, zlib.error, EOFError, ...
            raise ImageError(path, f"truncated or corrupt image ({str(err) or type(err).__name__})") from None
        orientation = _orientation(img, header_only=False)
        try:
            rgb = _to_rgb(img)
        except MemoryError:
            raise ImageError(path, "out of memory converting the image to RGB") from None
        except Exception as err:
            raise ImageError(path, f"cannot convert mode {img.mode} to RGB ({err})") from None
    if orientation in _ORIENTATION_FIX:
        rgb = rgb.transpose(_ORIENTATION_FIX[orientation])
    if decoded == declared:  # decoded whole: the declared size is the image's
        return rgb, rgb.size
    return rgb, declared if rgb.size == decoded else (declared[1], declared[0])  # (a JPEG turned upright)


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any decoded Pillow image to 8-bit RGB (see :func:`load_image`)."""
    mode = img.mode
    if mode in _SIXTEEN_BIT_MODES:
        values = np.asarray(img)  # uint16 for I;16*, int32 for I
        if values.dtype.kind == "u" and values.dtype.itemsize == 2:
            gray = _SIXTEEN_TO_EIGHT[values]
        else:  # clip block by block: temporaries stay a few MB whatever the image size
            gray = np.empty(values.shape, np.uint8)
            rows = max(1, (1 << 20) // max(values.shape[1], 1))
            for top in range(0, values.shape[0], rows):
                gray[top:top + rows] = _SIXTEEN_TO_EIGHT[np.clip(values[top:top + rows], 0, 65535)]
        del values
        return Image.fromarray(gray, mode="L").convert("RGB")
    if mode == "F":
        values = np.nan_to_num(np.asarray(img, dtype=np.float32), nan=0.0, posinf=255.0, neginf=0.0)
        if values.size and values.max() <= 1.0:
            values = np.clip(values, 0.0, 1.0) * 255.0
        gray = np.clip(np.rint(values), 0, 255).astype(np.uint8)
        return Image.fromarray(gray, mode="L").convert("RGB")
    if mode == "La":
        img, mode = img.convert("LA"), "LA"
    if mode == "RGBa":
        img, mode = img.convert("RGBA"), "RGBA"
    has_alpha = mode in ("RGBA", "LA", "PA") or "transparency" in img.info
    if not has_alpha:
        return img.convert("RGB")
    rgba = img.convert("RGBA")  # also turns palette / colour-key transparency into alpha
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    background.alpha_composite(rgba)
    return background.convert("RGB")


def save_image(img: Image.Image, path: str | os.PathLike[str], *, quality: int = 95) -> None:
    """Write ``img`` atomically: the file at ``path`` is either the old one or the complete new one.

    Samples and translations are written while a user may be looking at (or
    syncing) the output folder, and runs get interrupted; a half-written
    JPEG would otherwise look like a model failure.  The format comes from
    the suffix (.png, .jpg/.jpeg, .webp); ``quality`` applies to JPEG/WebP.
    """
    path = Path(path)
    fmt = _SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImageError(path, f"unsupported output suffix {path.suffix!r} (use .png, .jpg, .jpeg or .webp)")
    if fmt == "JPEG" and img.mode not in ("RGB", "L"):
        img = img.convert("RGB")
    options = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **options)
    atomic_write_bytes(path, buffer.getvalue())
