"""One folder of images, for objectives that learn from single images (colorization: a colour
photo is both its own input, once made grey, and its target).

The same contract as :class:`~pocketgan.data.unpaired.UnpairedImages` (keys (epoch, position),
an order that is a pure function of (seed, epoch, position), undecodable files replaced by the
next one, ``warnings()``), so the trainer's samplers, exact resume and DDP work unchanged. An
epoch walks the folder once in a shuffled order; a batch is ``{"A": images, "A_path": paths}``.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from .images import DEFAULT_MAX_PIXELS
from .inputs import scan_folder
from .transforms import Preprocess
from .unpaired import UnpairedImages


class SingleFolderImages(UnpairedImages):
    """The images of ``folder``, each once per epoch (domain "A" only). Reuses UnpairedImages'
    loading and warnings, which read ``scans`` / ``files`` per domain, with the one domain."""

    def __init__(self, folder: str | Path, preprocess: Preprocess, seed: int = 0,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        # not UnpairedImages.__init__: that scans two folders
        self.scans = {"A": scan_folder(folder, max_pixels=max_pixels)}
        self.files = {"A": self.scans["A"].files}
        self.preprocess, self.seed, self.max_pixels = preprocess, seed, max_pixels
        self._reported: set[Path] = set()

    def __len__(self) -> int:
        return len(self.files["A"])

    @lru_cache(maxsize=2)  # noqa: B019 - two (dataset, epoch) plans at most: a bounded hold on self
    def epoch_plan(self, epoch: int) -> np.ndarray:  # type: ignore[override]
        """The file index at every position of ``epoch``."""
        return np.random.default_rng([self.seed, epoch, 0x5106]).permutation(len(self))

    def __getitem__(self, key: tuple[int, int]) -> dict:
        epoch, pos = key
        rng = np.random.default_rng([self.seed, epoch, int(pos), 0xA11])
        image, path = self._load("A", int(self.epoch_plan(epoch)[pos]), rng)
        return {"A": image, "A_path": path}
