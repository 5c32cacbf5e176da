"""Two folders of unpaired images, served in an order that is a pure function of
(seed, epoch, position).

That makes a run reproducible whatever the number of loader workers, and lets ``--resume``
continue mid-epoch at exactly the sample it stopped at, without replaying the data. As in the
reference, an epoch has max(|A|, |B|) samples: A is walked in a shuffled order, B is drawn at
random.
"""
from __future__ import annotations

import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from .images import DEFAULT_MAX_PIXELS, ImageError, load_image
from .inputs import scan_folder
from .tensors import to_tensor
from .transforms import Preprocess


class UnpairedImages(Dataset):
    def __init__(self, dir_a: str | Path, dir_b: str | Path, preprocess: Preprocess, seed: int = 0,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        self.scans = {"A": scan_folder(dir_a, max_pixels=max_pixels), "B": scan_folder(dir_b, max_pixels=max_pixels)}
        self.files = {d: s.files for d, s in self.scans.items()}
        self.preprocess = preprocess
        self.seed = seed
        self.max_pixels = max_pixels
        self._reported: set[Path] = set()

    def warnings(self) -> list[str]:
        """Skipped files and small images, one line each (the caller shows them)."""
        lines = [line for s in self.scans.values() for line in s.warnings()]
        if self.preprocess.mode in ("crop", "scale_width_and_crop"):
            small = sum(1 for s in self.scans.values() for w, h in s.sizes if min(w, h) < self.preprocess.crop_size)
            if small:
                lines.append(f"{small} images are smaller than the {self.preprocess.crop_size}px crop; they are upscaled first")
        return lines

    def __len__(self) -> int:
        return max(len(self.files["A"]), len(self.files["B"]))

    @lru_cache(maxsize=2)  # noqa: B019 - two (dataset, epoch) plans at most: a bounded hold on self
    def epoch_plan(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """(A indices, B indices) for every position of the epoch."""
        rng = np.random.default_rng([self.seed, epoch, 0xDA7A])
        n = len(self)
        order_a = rng.permutation(n) % len(self.files["A"])
        order_b = rng.integers(0, len(self.files["B"]), size=n)
        return order_a, order_b

    def _load(self, domain: str, index: int, rng: np.random.Generator) -> tuple[torch.Tensor, str]:
        files = self.files[domain]
        for k in range(len(files)):  # a file that fails to decode is replaced by the next one, deterministically
            path = files[(index + k) % len(files)]
            try:
                img = load_image(path, max_pixels=self.max_pixels)
            except ImageError as e:
                if path not in self._reported:
                    self._reported.add(path)
                    warnings.warn(f"skipped {e}", stacklevel=2)
                continue
            return to_tensor(self.preprocess(img, rng)), str(path)
        raise ImageError(self.scans[domain].folder, f"none of the {len(files)} images could be decoded")

    def __getitem__(self, key: tuple[int, int]) -> dict:
        epoch, pos = key
        order_a, order_b = self.epoch_plan(epoch)
        rng = np.random.default_rng([self.seed, epoch, int(pos), 0xA11])
        a, path_a = self._load("A", int(order_a[pos]), rng)
        b, path_b = self._load("B", int(order_b[pos]), rng)
        return {"A": a, "B": b, "A_path": path_a, "B_path": path_b}


class EpochSampler(Sampler):
    """Yields the keys (epoch, position) of one epoch, from ``start`` on. ``set_epoch`` moves it on,
    so one DataLoader (with persistent workers) serves every epoch."""

    def __init__(self, length: int, epoch: int, start: int = 0) -> None:
        self.length, self.epoch, self.start = length, epoch, start

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = epoch, start

    def __iter__(self):
        return ((self.epoch, i) for i in range(self.start, self.length))

    def __len__(self) -> int:
        return max(0, self.length - self.start)


class DistributedEpochSampler(Sampler):
    """One rank's keys (epoch, position) of an epoch, from step ``start_step`` on.

    Step s of the epoch covers the global positions [s*B*W, (s+1)*B*W) (B = batch size, W = world
    size); rank r takes the r-th run of B of them. Positions past the end wrap around to the start
    of the epoch, so every rank gets exactly B samples per step and all ranks run the same number
    of steps (an uneven last step would leave a rank waiting for gradients that never come). The
    keys stay (epoch, position), so the order is a pure function of (seed, epoch, position) and
    resuming at a step is exact, as with one process.
    """

    def __init__(self, length: int, epoch: int, start_step: int, batch_size: int, rank: int, world: int) -> None:
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} outside a world of {world}")
        self.length, self.batch_size, self.rank, self.world = length, batch_size, rank, world
        self.set_epoch(epoch, start_step)

    @staticmethod
    def steps_per_epoch(length: int, batch_size: int, world: int) -> int:
        return -(-length // (batch_size * world))

    def set_epoch(self, epoch: int, start_step: int = 0) -> None:
        self.epoch, self.start_step = epoch, start_step

    def __iter__(self):
        per_step = self.batch_size * self.world
        for step in range(self.start_step, self.steps_per_epoch(self.length, self.batch_size, self.world)):
            first = step * per_step + self.rank * self.batch_size
            for pos in range(first, first + self.batch_size):
                yield (self.epoch, pos % self.length)

    def __len__(self) -> int:
        return max(0, self.steps_per_epoch(self.length, self.batch_size, self.world) - self.start_step) * self.batch_size
