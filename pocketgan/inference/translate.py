"""The ``translate`` command's file handling: expand inputs, pick output names that never
overwrite an input, translate in batches with a progress bar, report bad files without stopping.

A bad file is skipped with a warning naming it, and the batch goes on: an input that cannot be
decoded, or an output the file system refuses for a reason of its own (its name: too long, not valid
there, a folder of that name in the way). A problem of the output folder (a full disk, a read-only
folder, no permission) would fail every file after it, so it stops the batch with one line that
says how many were written.

Video files (.mp4 .mov .mkv .webm .avi, given by name, by a glob pattern or in
a folder) are translated into videos of the same kind, one after the other after the images (see
:mod:`pocketgan.inference.video`)."""
from __future__ import annotations

import errno
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

from tqdm import tqdm

from ..data.images import ImageError, load_image, save_image
from ..data.inputs import collect_inputs, resolved, split_inputs
from ..errors import OptionError, PocketganError
from ..fileio import name_max, write_advice
from .overlap import AHEAD, OrderedWriter, prefetched
from .videofiles import VideoError

if TYPE_CHECKING:  # torch: imported only when the torch engine translates (see engines.py)
    from PIL import Image

    from .pipeline import TranslationPipeline


class Translator(Protocol):
    """What :func:`translate_files` asks of a pipeline: :class:`~pocketgan.inference.pipeline.TranslationPipeline`
    and :class:`~pocketgan.inference.onnx_pipeline.OnnxTranslationPipeline` both."""

    def translate_many(self, images: Iterable[Image.Image], strength: float | None = None) -> Iterator[Image.Image]: ...


def _video_pipeline(pipe: Translator) -> TranslationPipeline:
    """The pipeline videos go through (their stabilisation is torch code): an ONNX pipeline's
    ``torch_fallback`` (set by :func:`pocketgan.inference.engines.open_pipeline`), else ``pipe``
    itself (then the torch pipeline)."""
    fallback = getattr(pipe, "torch_fallback", None)
    return fallback() if fallback is not None else cast("TranslationPipeline", pipe)


# an output the file system refuses for its own name: the next output may be fine (EINVAL: a name
# Windows or a FAT/SMB file system does not allow; EILSEQ: bytes a UTF-8-only file system rejects)
NAME_REFUSED = (errno.ENAMETOOLONG, errno.EILSEQ, errno.EINVAL, errno.EISDIR)


def name_refused(err: OSError) -> bool:
    """An error about this output's name, not the folder: one of :data:`NAME_REFUSED` raised by an
    operation on a path (creating or renaming the file; it then names the file). The same errno
    from fsync or write (no file name: EINVAL where a file system cannot sync) stops the batch."""
    return err.errno in NAME_REFUSED and err.filename is not None


class OutputError(PocketganError):
    """The output folder cannot be written (full disk, read-only, a file in the way); one line that
    says what was written before."""


def refused_name(err: OSError, path: Path) -> str:
    """Why the file system would not take ``path`` (:func:`name_refused`), in words."""
    if err.errno == errno.EISDIR:
        return "a folder of that name is in the way"
    if err.errno == errno.ENAMETOOLONG:
        size, limit = len(os.fsencode(path.name)), name_max(path.parent)
        if size > limit:
            return f"its name is too long for the file system ({size} bytes, the limit is {limit}); rename the input"
        return "its path is too long for the file system; choose a shorter --out"
    return f"the file system does not allow that name ({err.strerror or err}); rename the input"


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
        raise OutputError(f"--out {out_dir}: cannot write there ({e.strerror or e}){write_advice(e)}") from None


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


def _translate_images(pipe: Translator, jobs: list[tuple[Path, Path]], out_dir: Path, bar: tqdm, ahead: int,
                      ok: list[Path], written: list[Path], errors: list[str], unwritten: list[str]) -> None:
    """Decode, translate and encode ``jobs`` ((input, output) pairs) in order, appending to the lists
    :func:`translate_files` returns: decoding runs up to ``ahead`` photos ahead on one thread,
    encoding on another (:mod:`.overlap`), or everything in series with ``ahead=0``."""

    def decoded() -> Iterator[Image.Image]:
        stream = (prefetched(jobs, lambda job: load_image(job[0]), ahead) if ahead > 0
                  else ((job, None) for job in jobs))
        for (src, dst), future in stream:
            try:
                img = future.result() if future is not None else load_image(src)
            except ImageError as e:
                errors.append(str(e))
                tqdm.write(f"skipped {e}", file=sys.stderr)
                bar.update(1)
                continue
            ok.append(dst)
            yield img

    def landed(dst: Path, error: BaseException | None) -> None:
        if error is None:
            written.append(dst)
        else:
            unwritten.append(f"{dst}: not written: {refused_name(error, dst)}")  # type: ignore[arg-type]
            tqdm.write(f"skipped {unwritten[-1]}", file=sys.stderr)
        bar.update(1)

    def fatal(error: BaseException) -> bool:  # a refused name skips that output; anything else ends the batch
        return not (isinstance(error, OSError) and name_refused(error))

    def failed(error: OSError, dst: Path) -> OutputError:  # save_image writes atomically: no partial file is left
        return OutputError(f"{dst}: cannot write ({error.strerror or error}); {len(written)} of {len(jobs)} images "
                           f"were written to {out_dir} before that{write_advice(error)}")

    if ahead <= 0:
        for i, result in enumerate(pipe.translate_many(decoded())):
            try:
                save_image(result, ok[i])
            except OSError as e:
                if fatal(e):
                    raise failed(e, ok[i]) from None
                landed(ok[i], e)
            else:
                landed(ok[i], None)
        return
    writer: OrderedWriter[Image.Image] = OrderedWriter(save_image, landed, fatal, ahead)  # type: ignore[arg-type]
    try:
        for i, result in enumerate(pipe.translate_many(decoded())):
            writer.put(result, ok[i])
        writer.close()
    except OSError as e:
        if writer.failed_target is None:  # not the writer's: the model's own error
            raise
        raise failed(e, cast(Path, writer.failed_target)) from None
    finally:
        writer.abandon()


def translate_files(pipe: Translator, inputs: list[str], out_dir: str | Path, fmt: str = "png",
                    progress: bool = True, stabilize: bool = True,
                    ahead: int = AHEAD) -> tuple[list[Path], list[str], list[str]]:
    """Returns (written files, skipped inputs, skipped outputs), the skips as the lines printed for
    them. Unreadable inputs, and outputs whose name the file system refuses, are reported and
    skipped; a full or read-only output folder raises :class:`OutputError`. Videos are written as
    videos of their own kind (``stabilize``: temporal stabilisation, see
    :mod:`pocketgan.inference.video`; by ``pipe``'s ``torch_fallback`` pipeline when it has one, as the
    ONNX pipeline does); ``fmt`` is the images' format. Photos are decoded up to ``ahead`` ahead of
    the model and encoded beside it, in order (:mod:`.overlap`); ``ahead=0``: one after the other."""
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
    unwritten: list[str] = []
    ok: list[Path] = []  # the outputs of the files that decoded, in order
    written: list[Path] = []
    if files:
        with tqdm(total=len(files), unit="img", disable=not progress, file=sys.stderr, desc="translating") as bar:
            jobs = list(zip(files, targets, strict=True))
            _translate_images(pipe, jobs, out_dir, bar, ahead, ok, written, errors, unwritten)
    video_pipe = _video_pipeline(pipe) if videos else None
    for src, dst in zip(videos, video_targets, strict=True):
        from .video import translate_video
        assert video_pipe is not None  # there are videos
        try:
            done = translate_video(video_pipe, src, dst, stabilize=stabilize, progress=progress)
        except VideoError as e:
            errors.append(str(e))
            print(f"skipped {e}", file=sys.stderr, flush=True)
            continue
        print(f"{src}: {done.frames} frames translated at {done.fps:.1f} frames/s -> {dst}", flush=True)
        written.append(dst)
    return written, errors, unwritten
