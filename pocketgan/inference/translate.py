"""The ``translate`` command's file handling: expand inputs, pick output names that never
overwrite an input, translate in batches with a progress bar, report bad files without stopping."""
from __future__ import annotations

import errno
import sys
import tempfile
from pathlib import Path

from tqdm import tqdm

from ..data.images import ImageError, collect_inputs, load_image, resolved, save_image
from ..errors import OptionError, PocketganError
from .pipeline import TranslationPipeline

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


def output_paths(inputs: list[Path], out_dir: Path, fmt: str) -> list[Path]:
    """``out_dir/<stem>.<fmt>``; repeated stems get ``-2``, ``-3``... Raises if an output would be an input."""
    taken: set[Path] = set()
    sources = {resolved(p) for p in inputs}
    result = []
    for p in inputs:
        candidate, k = out_dir / f"{p.stem}.{fmt}", 1
        while candidate in taken:
            k += 1
            candidate = out_dir / f"{p.stem}-{k}.{fmt}"
        if resolved(candidate) in sources:
            raise OptionError(f"{candidate}: writing the translation there would overwrite an input; choose another --out")
        taken.add(candidate)
        result.append(candidate)
    return result


def translate_files(pipe: TranslationPipeline, inputs: list[str], out_dir: str | Path, fmt: str = "png",
                    progress: bool = True) -> tuple[list[Path], list[str]]:
    """Returns (written files, error lines). Unreadable inputs are reported and skipped."""
    files = collect_inputs(inputs)
    out_dir = Path(out_dir)
    targets = output_paths(files, out_dir, fmt)
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
    with tqdm(total=len(files), unit="img", disable=not progress, file=sys.stderr, desc="translating") as bar:
        for i, result in enumerate(pipe.translate_many(images())):
            try:
                save_image(result, ok[i][1])
            except OSError as e:  # save_image writes atomically: no partial file is left behind
                raise OutputError(f"{ok[i][1]}: cannot write ({e.strerror or e}); {len(written)} of {len(files)} "
                                  f"images were written to {out_dir} before that{_advice(e)}") from None
            written.append(ok[i][1])
            bar.update(1)
    return written, errors
