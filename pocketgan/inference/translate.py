"""The ``translate`` command's file handling: expand inputs, pick output names that never
overwrite an input, translate in batches with a progress bar, report bad files without stopping."""
from __future__ import annotations

import sys
from pathlib import Path

from tqdm import tqdm

from ..data.images import ImageError, collect_inputs, load_image, save_image
from ..errors import OptionError
from .pipeline import TranslationPipeline


def output_paths(inputs: list[Path], out_dir: Path, fmt: str) -> list[Path]:
    """``out_dir/<stem>.<fmt>``; repeated stems get ``-2``, ``-3``... Raises if an output would be an input."""
    taken: set[Path] = set()
    sources = {p.resolve() for p in inputs}
    result = []
    for p in inputs:
        candidate, k = out_dir / f"{p.stem}.{fmt}", 1
        while candidate in taken:
            k += 1
            candidate = out_dir / f"{p.stem}-{k}.{fmt}"
        if candidate.resolve() in sources:
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
            save_image(result, ok[i][1])
            written.append(ok[i][1])
            bar.update(1)
    return written, errors
