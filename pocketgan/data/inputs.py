"""The inputs a command is given, found the same way everywhere: training folders scanned, and the
files, folders and glob patterns of `pocketgan translate` expanded into images and videos.

Folders are listed without their hidden entries (``.DS_Store``, ``._x.jpg`` resource forks, our own
``.*.tmp`` files), naturally sorted ("img2" before "img10"); an existing path always wins over glob
interpretation, so a file literally named ``a[1].jpg`` works. Decoding is :mod:`.images`' job: a
scan probes headers through it, and an expansion only names files (bad ones are reported one by
one when they are read).
"""
from __future__ import annotations

import glob
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .images import DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, DataError, ImageError, probe_image

__all__ = ["VIDEO_EXTENSIONS", "FolderScan", "collect_inputs", "is_video", "resolved", "scan_folder", "split_inputs"]

VIDEO_EXTENSIONS: frozenset[str] = frozenset({".mp4", ".mov", ".mkv", ".webm", ".avi"})
_GLOB_MAGIC = re.compile(r"[*?[]")


def is_video(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


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


def split_inputs(inputs: Sequence[str | os.PathLike[str]]) -> tuple[list[str], list[Path]]:
    """(image inputs for :func:`collect_inputs`, video files): a path with a video suffix is a video;
    a glob pattern or a folder gives its videos too (naturally sorted; a folder's or pattern's images
    stay with the images). Raises DataError when an input yields neither."""
    images: list[str] = []
    videos: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            listed = _list_folder(path, recursive=False)
            found = [p for p in listed if is_video(p)]
            has_images = any(_is_image_name(p) for p in listed)
            if has_images or not found:
                images.append(os.fspath(item))
            videos += found
        elif os.path.lexists(path):
            if is_video(path):
                videos.append(path)
            else:
                images.append(os.fspath(item))
        elif _GLOB_MAGIC.search(os.fspath(item)):
            matches = [Path(m) for m in glob.glob(os.fspath(item), recursive=True)]
            found = sorted((m for m in matches if m.is_file() and is_video(m) and not _is_hidden(m)),
                           key=_natural_key)
            has_images = any(m.is_file() and _is_image_name(m) for m in matches)
            if not found and not has_images:
                raise DataError(f"{item}: no image or video files match this pattern")
            if has_images:
                images.append(os.fspath(item))
            videos += found
        elif is_video(path):
            raise DataError(f"{path}: no such file or folder")
        else:
            images.append(os.fspath(item))
    seen: set[Path] = set()
    unique = []
    for v in videos:
        if resolved(v) not in seen:
            seen.add(resolved(v))
            unique.append(v)
    return images, unique
