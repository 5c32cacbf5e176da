"""Training-time preprocessing, matching the reference CycleGAN implementation.

This reimplements ``get_transform`` from junyanz/pytorch-CycleGAN-and-pix2pix
(``data/base_dataset.py``) with Pillow only, so results trained here are
comparable with the paper's settings (load 286, random crop 256, random
horizontal flip).  Two deliberate differences:

- all randomness comes from an explicit ``numpy.random.Generator``, so a
  sample can be reproduced exactly from a seed (torchvision draws from the
  global torch RNG);
- the ``crop`` mode upscales images smaller than the crop instead of
  crashing, and ``none`` never rounds a side down to zero.

Input and output are PIL images; tensor conversion lives in ``tensors.to_tensor``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..choices import PREPROCESS_MODES
from ..errors import OptionError

__all__ = ["PREPROCESS_MODES", "Preprocess"]

_BICUBIC = Image.Resampling.BICUBIC


@dataclass(frozen=True)
class Preprocess:
    """A preprocessing recipe; call it on a PIL image.

    mode:       one of :data:`PREPROCESS_MODES` (semantics as in the reference).
    load_size:  size images are resized/scaled to before cropping.
    crop_size:  side of the square crop (and minimum height for scale_width).
    flip:       random horizontal flip with probability 0.5.
    random:     False gives the deterministic variant used for samples and
                evaluation (center crops, no flip); see :meth:`eval_mode`.
    """

    mode: str = "resize_and_crop"
    load_size: int = 286
    crop_size: int = 256
    flip: bool = True
    random: bool = True

    def __post_init__(self) -> None:
        if self.mode not in PREPROCESS_MODES:
            raise OptionError(f"unknown preprocess mode {self.mode!r}; choose one of: {', '.join(PREPROCESS_MODES)}")
        for name in ("load_size", "crop_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise OptionError(f"{name} must be a positive integer, got {value!r}")
        if self.mode.endswith("_and_crop") and self.crop_size > self.load_size:
            raise OptionError(
                f"crop_size ({self.crop_size}) cannot exceed load_size ({self.load_size}) in mode {self.mode!r}"
            )

    def eval_mode(self) -> Preprocess:
        """The deterministic twin of this recipe: same sizes, center crops, no flip."""
        return dataclasses.replace(self, random=False)

    def __call__(self, img: Image.Image, rng: np.random.Generator | None = None) -> Image.Image:
        """Apply the recipe.

        ALL randomness (crop offsets, flip) is drawn from ``rng`` so the caller
        can reproduce an exact sample from a seed.  ``rng`` may be omitted only
        when ``random`` is False.
        """
        if self.random and rng is None:
            raise ValueError("a random Preprocess needs an rng (numpy.random.Generator); use eval_mode() otherwise")
        if self.mode == "resize_and_crop":
            img = _resize(img, (self.load_size, self.load_size))
        elif self.mode in ("scale_width", "scale_width_and_crop"):
            img = _scale_width(img, self.load_size, self.crop_size)

        if self.mode == "crop":
            img = _cover(img, self.crop_size)
        if self.mode.endswith("crop"):
            img = self._crop(img, rng)
        elif self.mode == "none":
            img = _make_multiple(img, base=4)

        if self.flip and self.random and rng.random() < 0.5:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return img

    def _crop(self, img: Image.Image, rng: np.random.Generator | None) -> Image.Image:
        """Square crop of crop_size: random offsets (top, then left, like RandomCrop) or centered."""
        w, h = img.size
        size = self.crop_size
        if self.random:
            top = int(rng.integers(0, h - size + 1))
            left = int(rng.integers(0, w - size + 1))
        else:  # torchvision CenterCrop's rounding
            top = int(round((h - size) / 2.0))
            left = int(round((w - size) / 2.0))
        return img.crop((left, top, left + size, top + size))


def _resize(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    return img if img.size == size else img.resize(size, _BICUBIC)


def _scale_width(img: Image.Image, target_width: int, min_height: int) -> Image.Image:
    """Reference ``__scale_width``: width becomes target_width, height follows the aspect ratio but is at least min_height."""
    w, h = img.size
    if w == target_width and h >= min_height:
        return img
    new_h = int(max(target_width * h / w, min_height))
    return img.resize((target_width, new_h), _BICUBIC)


def _cover(img: Image.Image, size: int) -> Image.Image:
    """Upscale, keeping the aspect ratio, until both sides are >= size (the reference crashes instead)."""
    w, h = img.size
    if w >= size and h >= size:
        return img
    if w <= h:  # short side becomes exactly `size`; no float ceil() surprises  # noqa: SIM108
        new_size = (size, max(size, round(h * size / w)))
    else:
        new_size = (max(size, round(w * size / h)), size)
    return img.resize(new_size, _BICUBIC)


def _make_multiple(img: Image.Image, base: int) -> Image.Image:
    """Reference ``__make_power_2``: round each side to the nearest multiple of base (generators need it); never to 0."""
    w, h = img.size
    new_w = max(base, int(round(w / base) * base))
    new_h = max(base, int(round(h / base) * base))
    return _resize(img, (new_w, new_h))
