"""The ``translate`` command's file handling: expand inputs, pick output names that never
overwrite an input, translate in batches with a progress bar, report bad files without stopping.

Video files (.mp4 .mov .mkv .webm .avi, given by name, by a glob pattern or in
a folder) are translated into videos of the same kind, one after the other after the images (see
:mod:`pocketgan.inference.video`)."""
from __future__ import annotations

import errno
import glob
import os
import sys
import tempfile
from pathlib import Path

from tqdm import tqdm

from ..data.images import (IMAGE_EXTENSIONS, DataError, ImageError, _list_folder, _natural_key, collect_inputs,
                           load_image, resolved, save_image)
from ..errors import OptionError, PocketganError
from .pipeline import TranslationPipeline
from .video import VideoError, is_video

NO_SPACE = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


class OutputError(PocketganError):
    """The output folder cannot be written (full disk, read-only, a file in the way); one line that
    says what was written before."""


def _advice(err: OSError) -> str:
    if err.errno in NO_SPACE:
        return "; free some space and run the command again"
    if err.errno in NOT_WRITABLE:
        return "; choose a folder you can write with --out"
    return ""


def prepare_output_folder(out_dir: Path) -> None:
    """Create ``out_dir`` and check a file can be created in it, before any translating."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OptionError(f"--out {out_dir}: is a file, not a folder; give a folder for the translations")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out_dir, prefix=".pocketgan-probe-"):
            pass
    except FileExistsError:  # a file where a parent folder should be
        raise OptionError(f"--out {out_dir}: cannot create the folder (part of the path is a file)") from None
    except OSError as e:
        raise OutputError(f"--out {out_dir}: cannot write there ({e.strerror or e}){_advice(e)}") from None


def output_paths(inputs: list[Path], out_dir: Path, fmt: str | None, taken: set[Path] | None = None,
                 sources: set[Path] | None = None) -> list[Path]:
    """``out_dir/<stem>.<fmt>`` (``fmt`` None: each input's own suffix, lower case); repeated stems
    get ``-2``, ``-3``... (also against ``taken``, which is updated). Raises if an output would be an
    input (one of ``inputs`` or ``sources``)."""
    taken = set() if taken is None else taken
    sources = {resolved(p) for p in inputs} | (sources or set())
    result = []
    for p in inputs:
        suffix = f".{fmt}" if fmt is not None else p.suffix.lower()
        candidate, k = out_dir / f"{p.stem}{suffix}", 1
        while candidate in taken:
            k += 1
            candidate = out_dir / f"{p.stem}-{k}{suffix}"
        if resolved(candidate) in sources:
            raise OptionError(f"{candidate}: writing the translation there would overwrite an input; choose another --out")
        taken.add(candidate)
        result.append(candidate)
    return result


_GLOB_MAGIC = ("*", "?", "[")


def split_inputs(inputs: list[str | os.PathLike[str]]) -> tuple[list[str], list[Path]]:
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
            has_images = any(p.suffix.lower() in IMAGE_EXTENSIONS for p in listed)
            if has_images or not found:
                images.append(os.fspath(item))
            videos += found
        elif os.path.lexists(path):
            if is_video(path):
                videos.append(path)
            else:
                images.append(os.fspath(item))
        elif any(c in os.fspath(item) for c in _GLOB_MAGIC):
            matches = [Path(m) for m in glob.glob(os.fspath(item), recursive=True)]
            found = sorted((m for m in matches if m.is_file() and is_video(m) and not m.name.startswith(".")),
                           key=_natural_key)
            has_images = any(m.is_file() and m.suffix.lower() in IMAGE_EXTENSIONS for m in matches)
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


def translate_files(pipe: TranslationPipeline, inputs: list[str], out_dir: str | Path, fmt: str = "png",
                    progress: bool = True, stabilize: bool = True) -> tuple[list[Path], list[str]]:
    """Returns (written files, error lines). Unreadable inputs are reported and skipped. Videos are
    written as videos of their own kind (``stabilize``: temporal stabilisation, see
    :mod:`pocketgan.inference.video`); ``fmt`` is the images' format."""
    image_inputs, videos = split_inputs(list(inputs))
    files = collect_inputs(image_inputs) if image_inputs else []
    out_dir = Path(out_dir)
    taken: set[Path] = set()
    sources = {resolved(p) for p in files + videos}
    targets = output_paths(files, out_dir, fmt, taken, sources)
    video_targets = output_paths(videos, out_dir, None, taken, sources)
    if videos:
        from .video import require_av
        require_av()  # before anything is translated
    prepare_output_folder(out_dir)
    errors: list[str] = []
    ok: list[tuple[Path, Path]] = []  # (input, output) of files that decoded

    def images():
        for src, dst in zip(files, targets):
            try:
                img = load_image(src)
            except ImageError as e:
                errors.append(str(e))
                tqdm.write(f"skipped {e}", file=sys.stderr)
                bar.update(1)
                continue
            ok.append((src, dst))
            yield img

    written = []
    if files:
        with tqdm(total=len(files), unit="img", disable=not progress, file=sys.stderr, desc="translating") as bar:
            for i, result in enumerate(pipe.translate_many(images())):
                try:
                    save_image(result, ok[i][1])
                except OSError as e:  # save_image writes atomically: no partial file is left behind
                    raise OutputError(f"{ok[i][1]}: cannot write ({e.strerror or e}); {len(written)} of {len(files)} "
                                      f"images were written to {out_dir} before that{_advice(e)}") from None
                written.append(ok[i][1])
                bar.update(1)
    for src, dst in zip(videos, video_targets):
        from .video import translate_video
        try:
            result = translate_video(pipe, src, dst, stabilize=stabilize, progress=progress)
        except VideoError as e:
            errors.append(str(e))
            print(f"skipped {e}", file=sys.stderr, flush=True)
            continue
        print(f"{src}: {result.frames} frames translated at {result.fps:.1f} frames/s -> {dst}", flush=True)
        written.append(dst)
    return written, errors
