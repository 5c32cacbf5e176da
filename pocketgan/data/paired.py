"""Aligned image pairs for pix2pix, in either layout users have:

* the reference's aligned layout: ``ROOT/train/`` (``val/``, ``test/``) holding images with A on
  the left half and B on the right half;
* two folders ``ROOT/trainA/`` and ``ROOT/trainB/`` whose files are matched by name (stem).

The same random crop and flip are applied to both halves of a pair (otherwise the L1 target would
not line up with the input). Order is a pure function of (seed, epoch, position), exactly as for
unpaired data, so runs are reproducible and resume mid-epoch.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from .images import DEFAULT_MAX_PIXELS, DataError, ImageError, load_image
from .inputs import scan_folder
from .tensors import to_tensor
from .transforms import Preprocess


@dataclass(frozen=True)
class Pair:
    """One training pair: an aligned A|B file (``b`` is None) or two matched files."""

    a: Path
    b: Path | None = None

    @property
    def name(self) -> str:
        return self.a.name if self.b is None else f"{self.a} + {self.b}"


@dataclass
class PairScan:
    """The usable pairs of a split, and what was skipped (one line each, shown before training)."""

    source: str
    pairs: list[Pair] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def warnings(self) -> list[str]:
        return list(self.skipped)


def split_aligned(img: Image.Image, path: Path) -> tuple[Image.Image, Image.Image]:
    """Left half A, right half B. An odd width cannot be an A|B pair of equal halves."""
    w, h = img.size
    if w % 2:
        raise ImageError(path, f"width {w} is odd, so it is not an A|B side-by-side pair")
    return img.crop((0, 0, w // 2, h)), img.crop((w // 2, 0, w, h))


def match_by_name(dir_a: Path, dir_b: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[list[tuple[Path, Path]], PairScan]:
    """Pairs of files with the same stem in two folders. Names found in only one folder are an
    error (a pairing typo would otherwise silently train on the wrong targets); pairs whose sizes
    differ or with an unreadable file are skipped and listed in the scan."""
    scan_a, scan_b = scan_folder(dir_a, max_pixels=max_pixels), scan_folder(dir_b, max_pixels=max_pixels)

    def entries(scan) -> dict[str, tuple[Path, tuple[int, int] | str]]:  # stem -> (path, size or rejection reason)
        found = {p.stem: (p, size) for p, size in zip(scan.files, scan.sizes, strict=True)}
        found.update({p.stem: (p, reason) for p, reason in scan.rejected})
        return found

    by_a, by_b = entries(scan_a), entries(scan_b)
    only_a, only_b = sorted(set(by_a) - set(by_b)), sorted(set(by_b) - set(by_a))
    if only_a or only_b:
        parts = [f"{len(v)} only in {d} (e.g. {v[0]})" for v, d in ((only_a, dir_a), (only_b, dir_b)) if v]
        raise DataError(f"{dir_a} and {dir_b} do not pair up by file name: {'; '.join(parts)}")
    scan = PairScan(source=f"{dir_a} + {dir_b}",
                    skipped=[line for line in scan_a.warnings() + scan_b.warnings() if "non-image" in line])
    matched = []
    for stem, (pa, sa) in by_a.items():
        pb, sb = by_b[stem]
        if isinstance(sa, str) or isinstance(sb, str):
            path, reason = (pa, sa) if isinstance(sa, str) else (pb, sb)
            scan.skipped.append(f"skipped pair {pa} + {pb}: {path.name} is unreadable ({reason})")
        elif sa != sb:
            scan.skipped.append(f"skipped pair {pa} + {pb}: sizes differ ({sa[0]}x{sa[1]} vs {sb[0]}x{sb[1]})")
        else:
            matched.append((pa, pb))
    return matched, scan


def scan_matched(dir_a: str | Path, dir_b: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> PairScan:
    """The pairs of two folders matched by file name (see :func:`match_by_name`)."""
    matched, scan = match_by_name(Path(dir_a), Path(dir_b), max_pixels)
    scan.pairs = [Pair(a, b) for a, b in matched]
    if not scan.pairs:
        raise DataError(f"{dir_a} + {dir_b}: no usable pairs ({len(scan.skipped)} skipped)")
    return scan


def scan_pairs(root: str | Path, split: str = "train", max_pixels: int = DEFAULT_MAX_PIXELS) -> PairScan:
    """Find the pairs of ``split`` under ``root`` in either layout (aligned ``split/`` first)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: dataset root does not exist" if not root.exists() else f"{root}: not a folder")
    aligned, dir_a, dir_b = root / split, root / f"{split}A", root / f"{split}B"
    if aligned.is_dir():
        folder = scan_folder(aligned, max_pixels=max_pixels)
        scan = PairScan(source=str(aligned), skipped=folder.warnings())
        for p, (w, _h) in zip(folder.files, folder.sizes, strict=True):
            if w % 2:
                scan.skipped.append(f"skipped {p}: width {w} is odd, so it is not an A|B side-by-side pair")
            else:
                scan.pairs.append(Pair(p))
        if not scan.pairs:
            raise DataError(f"{aligned}: no usable A|B pairs ({len(scan.skipped)} skipped)")
        return scan
    if dir_a.is_dir() and dir_b.is_dir():
        return scan_matched(dir_a, dir_b, max_pixels)
    raise DataError(f"{root}: no paired data for '{split}': expected {split}/ (A|B side by side) or "
                    f"{split}A/ and {split}B/ (matched by file name)")


def has_pairs(root: str | Path, split: str) -> bool:
    root = Path(root)
    return (root / split).is_dir() or ((root / f"{split}A").is_dir() and (root / f"{split}B").is_dir())


def load_pair(pair: Pair, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[Image.Image, Image.Image]:
    """Decoded (A, B) images of a pair. Raises ImageError naming the bad file."""
    if pair.b is None:
        return split_aligned(load_image(pair.a, max_pixels=max_pixels), pair.a)
    a, b = load_image(pair.a, max_pixels=max_pixels), load_image(pair.b, max_pixels=max_pixels)
    if a.size != b.size:  # EXIF rotation can make stored sizes agree but displayed sizes differ
        raise ImageError(pair.b, f"size {b.size[0]}x{b.size[1]} differs from its pair {pair.a} ({a.size[0]}x{a.size[1]})")
    return a, b


class PairedImages(Dataset):
    """Training pairs served by key (epoch, position), like :class:`~pocketgan.data.unpaired.UnpairedImages`."""

    def __init__(self, scan: PairScan, preprocess: Preprocess, seed: int = 0, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        self.scan, self.pairs = scan, scan.pairs
        self.preprocess, self.seed, self.max_pixels = preprocess, seed, max_pixels
        self._reported: set[Pair] = set()

    def warnings(self) -> list[str]:
        return self.scan.warnings()

    def __len__(self) -> int:
        return len(self.pairs)

    @lru_cache(maxsize=2)  # noqa: B019 - two (dataset, epoch) plans at most: a bounded hold on self
    def epoch_plan(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch, 0x9A12]).permutation(len(self.pairs))

    def __getitem__(self, key: tuple[int, int]) -> dict:
        epoch, pos = key
        index = int(self.epoch_plan(epoch)[pos])
        for k in range(len(self.pairs)):  # a pair that fails to decode is replaced by the next, deterministically
            pair = self.pairs[(index + k) % len(self.pairs)]
            try:
                a, b = load_pair(pair, self.max_pixels)
            except ImageError as e:
                if pair not in self._reported:
                    self._reported.add(pair)
                    warnings.warn(f"skipped {e}", stacklevel=2)
                continue
            if a.size != b.size:  # aligned halves are equal by construction; matched files were checked
                raise ImageError(pair.a, "the two halves differ in size")
            # one seed for both halves: identical resize, crop and flip
            seed = [self.seed, epoch, int(pos), 0xA11]
            ta = to_tensor(self.preprocess(a, np.random.default_rng(seed)))
            tb = to_tensor(self.preprocess(b, np.random.default_rng(seed)))
            return {"A": ta, "B": tb, "A_path": str(pair.a), "B_path": str(pair.b or pair.a)}
        raise ImageError(Path(self.scan.source), f"none of the {len(self.pairs)} pairs could be decoded")

    def examples(self, count: int, preprocess: Preprocess) -> tuple[torch.Tensor, torch.Tensor]:
        """The first ``count`` decodable pairs, deterministically preprocessed (for sample grids)."""
        a_list, b_list = [], []
        for pair in self.pairs:
            try:
                a, b = load_pair(pair, self.max_pixels)
            except ImageError:
                continue
            a_list.append(to_tensor(preprocess(a, np.random.default_rng(0))))
            b_list.append(to_tensor(preprocess(b, np.random.default_rng(0))))
            if len(a_list) == count:
                break
        if not a_list:
            raise ImageError(Path(self.scan.source), "no decodable pair for samples")
        while len(a_list) < count:
            a_list.append(a_list[len(a_list) % len(a_list)])
            b_list.append(b_list[len(b_list) % len(b_list)])
        return torch.stack(a_list), torch.stack(b_list)


def make_aligned(dir_a: str | Path, dir_b: str | Path, out: str | Path, split: str = "train", fmt: str = "png",
                 max_pixels: int = DEFAULT_MAX_PIXELS, progress: bool = True) -> list[Path]:
    """Write ``out/split/<name>.<fmt>`` with A on the left and B on the right for every pair of
    files with the same name in ``dir_a`` and ``dir_b`` (the reference's aligned layout). Checks
    everything first and writes nothing if any name is unmatched or any pair differs in size."""
    from tqdm import tqdm

    from .images import save_image

    matched, scan = match_by_name(Path(dir_a), Path(dir_b), max_pixels)
    bad = [line.removeprefix("skipped pair ") for line in scan.skipped if line.startswith("skipped pair ")]
    if bad:
        raise DataError(f"{len(bad)} of {len(bad) + len(matched)} pairs cannot be combined, e.g. {bad[0]}; nothing written")
    folder = Path(out) / split
    written = []
    for pa, pb in tqdm(matched, desc=f"pairing into {folder}", unit="pair", disable=not progress):
        a, b = load_pair(Pair(pa, pb), max_pixels)
        ab = Image.new("RGB", (a.width * 2, a.height))
        ab.paste(a, (0, 0))
        ab.paste(b, (a.width, 0))
        path = folder / f"{pa.stem}.{fmt}"
        save_image(ab, path)
        written.append(path)
    return written
