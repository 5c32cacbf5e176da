"""The one place that reads and writes image files.

Real photo folders contain zero-byte uploads, truncated downloads, CMYK
scans, 16-bit PNGs, phone pictures that are stored sideways with an EXIF
orientation tag, transparent logos and the odd decompression bomb.  Every
other module should go through :func:`load_image` / :func:`save_image` so that
these cases are handled once, the same way everywhere, and surface as a
one-line error that names the file instead of a Pillow traceback.
"""

from __future__ import annotations

import glob
import io
import math
import os
import re
import stat
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import PocketganError
from ..fileio import atomic_write_bytes

if TYPE_CHECKING:  # torch only for the tensor helpers, imported there: loading and saving images stay torch-free
    import torch

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "READ_FORMATS",
    "DataError",
    "FolderScan",
    "ImageError",
    "collect_inputs",
    "decode_image",
    "load_image",
    "probe_image",
    "resolved",
    "save_image",
    "scan_folder",
    "to_image",
    "to_tensor",
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

_GLOB_MAGIC = re.compile(r"[*?[]")
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
    draftable = reduce_for > 0 and img.format in ("JPEG", "MPO") and max(w, h) > 2 * reduce_for
    if w * h > (declared_limit if draftable else max_pixels):
        img.close()
        raise ImageError(
            path,
            f"image too large ({w}×{h} = {w * h} px > limit {declared_limit if draftable else max_pixels} px), "
            "refusing to decode (decompression-bomb guard)",
        )
    if draftable:
        img._draft_declared = (w, h)  # type: ignore[attr-defined]  (read by decode_image)
        scale = reduce_for / max(w, h)
        try:
            img.draft(None, (max(1, math.ceil(w * scale)), max(1, math.ceil(h * scale))))
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
    with _pillow_bomb_guard(path, max_pixels):
        with _open(path, max_pixels, formats) as img:
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
    with _pillow_bomb_guard(path, max_pixels if max_declared_pixels is None else max(max_pixels, max_declared_pixels)):
        with _open(path, max_pixels, formats, reduce_for, max_declared_pixels) as img:
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


# --------------------------------------------------------------------------- folders


def _is_hidden(path: Path) -> bool:
    """Dotfiles: macOS .DS_Store and ._x.jpg resource forks, editor swap files, our temp files."""
    return path.name.startswith(".")


def _is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def _natural_key(path: Path) -> tuple:
    """Sort "img2" before "img10"; ties broken by the exact string so order is total."""
    parts = tuple(
        (0, int(tok), tok) if tok.isdigit() else (1, 0, tok.casefold())
        for tok in re.split(r"(\d+)", path.as_posix())
        if tok
    )
    return parts, path.as_posix()


@dataclass
class FolderScan:
    """Result of :func:`scan_folder`: what will be used and what was skipped, and why."""

    folder: Path
    files: list[Path] = field(default_factory=list)
    sizes: list[tuple[int, int]] = field(default_factory=list)
    non_images: list[Path] = field(default_factory=list)
    rejected: list[tuple[Path, str]] = field(default_factory=list)

    def warnings(self) -> list[str]:
        """Human-readable lines to print before training: one per rejected file, one summary for non-images."""
        lines = [f"skipped {path}: {reason}" for path, reason in self.rejected]
        if self.non_images:
            n = len(self.non_images)
            lines.append(f"skipped {n} non-image file{'s' if n != 1 else ''} in {self.folder}")
        return lines


def _list_folder(folder: Path, recursive: bool) -> list[Path]:
    """Non-hidden files below ``folder`` (hidden directories are skipped too), naturally sorted.
    An unreadable folder is a one-line DataError; entries that cannot be read (a symlink loop, a
    dangling link) are listed, so the caller reports them as unreadable files."""
    try:
        if recursive:
            candidates = [
                p for p in folder.rglob("*") if not any(part.startswith(".") for part in p.relative_to(folder).parts)
            ]
        else:
            candidates = [p for p in folder.iterdir() if not _is_hidden(p)]
    except OSError as err:
        raise DataError(f"{err.filename or folder}: cannot read folder ({err.strerror or err})") from None
    return sorted((p for p in candidates if not p.is_dir()), key=_natural_key)


def resolved(path: Path) -> Path:
    """``path.resolve()``, or the absolute path when it cannot be resolved (a symlink loop raises
    RuntimeError or OSError, depending on the Python version)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(path))


def _check_folder(folder: Path) -> None:
    if not folder.exists():
        raise DataError(f"{folder}: folder not found")
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder")


def scan_folder(
    folder: str | os.PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS, recursive: bool = False
) -> FolderScan:
    """List the usable images of a training folder, probing each header once.

    Bad files are skipped and recorded rather than aborting a long run an
    hour in; but a folder with nothing usable is an error, because training
    on an empty domain can only be a typo.  Raises :class:`DataError`.
    """
    folder = Path(folder)
    _check_folder(folder)
    scan = FolderScan(folder=folder)
    for path in _list_folder(folder, recursive):
        if not _is_image_name(path):
            scan.non_images.append(path)
            continue
        try:
            size = probe_image(path, max_pixels=max_pixels)
        except ImageError as err:
            scan.rejected.append((path, err.reason))
            continue
        scan.files.append(path)
        scan.sizes.append(size)
    if not scan.files:
        if not scan.rejected and not scan.non_images:
            detail = "folder is empty"
        else:
            n_non = len(scan.non_images)
            detail = f"{len(scan.rejected)} rejected, {n_non} non-image file{'s' if n_non != 1 else ''}"
        raise DataError(f"{folder}: no usable images ({detail})")
    return scan


def collect_inputs(inputs: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Expand the inputs of a ``translate`` command into a list of image files.

    Each input may be a file, a folder (its images, non-recursive, naturally
    sorted) or a glob pattern (its matching image files, sorted).  An existing
    path always wins over glob interpretation, so a file literally named
    ``a[1].jpg`` works.  Input order is kept and duplicates (same resolved
    path) are dropped.  Files are not probed here; :func:`load_image` reports
    bad ones individually.  Raises :class:`DataError` if an input yields
    nothing, so a typo never silently translates zero images.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    if not inputs:
        raise DataError("no inputs given")
    result: list[Path] = []
    seen: set[Path] = set()
    for item in inputs:
        for path in _expand_input(item):
            key = resolved(path)
            if key not in seen:
                seen.add(key)
                result.append(path)
    return result


def _expand_input(item: str | os.PathLike[str]) -> list[Path]:
    path = Path(item)
    if path.is_dir():
        images = [p for p in _list_folder(path, recursive=False) if _is_image_name(p)]
        if not images:
            raise DataError(f"{path}: no image files in folder")
        return images
    if path.exists():
        if not _is_image_name(path):
            raise DataError(
                f"{path}: not an image file (suffix {path.suffix or '(none)'!r}; "
                f"expected one of {' '.join(sorted(IMAGE_EXTENSIONS))})"
            )
        return [path]
    if os.path.lexists(path):  # a link to nowhere, or a loop: load_image says which, as for a folder's files
        return [path]
    pattern = os.fspath(item)
    if _GLOB_MAGIC.search(pattern):
        matches = [Path(p) for p in glob.glob(pattern, recursive=True)]
        images = sorted(
            (p for p in matches if p.is_file() and _is_image_name(p) and not _is_hidden(p)), key=_natural_key
        )
        if not images:
            raise DataError(f"{pattern}: no image files match this pattern")
        return images
    raise DataError(f"{path}: no such file or folder")


# --------------------------------------------------------------------------- tensors


def to_tensor(img: Image.Image) -> torch.Tensor:
    """RGB image -> float32 tensor (3, H, W) in [-1, 1], the range the generator's tanh produces."""
    if img.mode != "RGB":
        raise ValueError(f"to_tensor expects an RGB image, got mode {img.mode!r} (use load_image)")
    import torch

    array = np.array(img, dtype=np.uint8)  # a writable copy, as torch.from_numpy wants
    t = torch.from_numpy(array).permute(2, 0, 1).to(torch.float32)
    return (t / 255.0 - 0.5) / 0.5


def to_image(t: torch.Tensor) -> Image.Image:
    """Tensor (3, H, W) in [-1, 1] -> RGB image; values are clamped and rounded to nearest."""
    if t.ndim != 3 or t.shape[0] != 3:
        raise ValueError(f"to_image expects a (3, H, W) tensor, got shape {tuple(t.shape)}")
    import torch

    t = torch.nan_to_num(t.detach().to("cpu", torch.float32), nan=0.0).clamp(-1.0, 1.0)
    array = ((t + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous()
    return Image.fromarray(array.numpy(), mode="RGB")


# --------------------------------------------------------------------------- writing


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
