"""Translate PIL images with an exported ONNX graph: numpy, Pillow and ONNX Runtime only, no torch.

The same answers as :class:`pocketgan.inference.pipeline.TranslationPipeline` (within 1/255; a
test checks it) with the same steps on numpy arrays: the image downscaled to fit ``max_side``
(Pillow bicubic), reflect-padded to the stride multiple (at least 16 px), translated, cropped back.
Strength (:mod:`pocketgan.inference.strength`), from the float graph's output before any clamp
(:mod:`pocketgan.inference.onnx_cache`): a residual model's predicted change is scaled,
``clamp(x + S * delta)``; any other model's output is blended with its input in [-1, 1],
``clamp(x + S * (y - x))``. A bare .onnx file (no float graph) is blended on uint8, as
:mod:`pocketgan.inference.runners` documents and the PyTorch path does with such a file. A residual model's
result larger than the working size adds its upsampled change to the full-size photo
(:func:`pocketgan.inference.fullres.apply_change`, the same numpy code as the PyTorch pipeline);
any other result is upscaled.

Why: the phone-sized models run a 256×256 photo in ~10 ms in ONNX Runtime, while importing torch
alone takes seconds; a one-photo `pocketgan translate` is dominated by that import.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from PIL import Image

from .fullres import apply_change
from .runners import OnnxRunner
from .sizing import fit_within
from .strength import check_strength

if TYPE_CHECKING:  # torch: imported only when the torch engine translates
    from .pipeline import TranslationPipeline

MIN_SIDE = 16  # the inner reflection pads of the generators need this much


class OnnxTranslationPipeline:
    """``export``: an exported .onnx (uint8 NHWC in and out). ``float_graph``: the same graph with
    the generator's float result as a second output (see :mod:`.onnx_cache`); ``residual``: that
    result is a residual generator's ``x + delta`` (its change is then scaled and, for larger
    photos, applied at full size). Without a float graph the uint8 output is blended and upscaled."""

    engine = "onnx"

    def __init__(self, export: str | Path, float_graph: str | Path | None = None, residual: bool = False,
                 multiple: int = 4, max_side: int | None = 1024, strength: float = 1.0, full_res: bool = True,
                 threads: int = 0) -> None:
        self.path = Path(float_graph or export)
        # not spinning: photos are decoded and encoded on threads beside the model (overlap.py), and
        # ONNX Runtime's spinning threads would take their cores (309 photos on 2 cores: 7.6 s overlapped
        # with it off, 12.3 s overlapped with it on, 11.5 s in series; benchmarks/translate_speed.py)
        self.runner = OnnxRunner(self.path, threads=threads, spinning=False)
        self.has_float = float_graph is not None
        self.residual = residual and self.has_float
        self.multiple = multiple
        self.max_side = max_side or None
        self.strength = check_strength(strength)
        self.full_res = full_res
        self.batch_size = 1  # the exported graph's batch is 1
        # what translates videos (set by engines.open_pipeline): their stabilisation is torch code
        self.torch_fallback: Callable[[], TranslationPipeline] | None = None

    def working_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """(w, h) the image is translated at: the original, or scaled to fit ``max_side``."""
        return fit_within(size, self.max_side)

    @property
    def applies_change_at_full_size(self) -> bool:
        return self.full_res and self.residual

    def _padded(self, small: np.ndarray) -> np.ndarray:
        """(h, w, 3) uint8 padded on the right and bottom to the stride multiple (reflect; replicate
        where the image is too small to reflect), as a (1, H, W, 3) batch."""
        h, w = small.shape[:2]
        least = max(self.multiple, MIN_SIDE)
        pad_w = max(w + (-w % self.multiple), least) - w
        pad_h = max(h + (-h % self.multiple), least) - h
        if pad_w or pad_h:
            mode: Literal["reflect", "edge"] = "reflect" if pad_w < w and pad_h < h else "edge"
            small = np.pad(small, ((0, pad_h), (0, pad_w), (0, 0)), mode=mode)
        return np.ascontiguousarray(small[None])

    def _run(self, small: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(translated uint8 (h, w, 3), the float result (3, h, w) or None) for ``small``."""
        h, w = small.shape[:2]
        outs = self.runner.session.run(None, {self.runner.input_name: self._padded(small)})
        generated = outs[1][0, :, :h, :w] if self.has_float else None
        return outs[0][0, :h, :w], generated

    def translate_to(self, image: Image.Image, size: tuple[int, int], strength: float | None = None) -> Image.Image:
        """Translate ``image`` at its working size; the result at ``size`` (w, h)."""
        strength = self.strength if strength is None else check_strength(strength)
        image = image.convert("RGB")
        work = self.working_size(image.size)
        small_im = image if image.size == work else image.resize(work, Image.Resampling.BICUBIC)
        small = np.asarray(small_im, dtype=np.uint8)
        translated, generated = self._run(small)
        at_full_size = size != work and self.applies_change_at_full_size
        if generated is None or (strength == 1.0 and not at_full_size):
            result = translated
            if strength != 1.0:  # a bare .onnx: blend the output with the input on uint8
                xs = small.astype(np.float32)
                result = np.clip(np.rint(xs + np.float32(strength) * (translated - xs)), 0, 255).astype(np.uint8)
        else:
            x = (small.transpose(2, 0, 1).astype(np.float32) / np.float32(255.0) - np.float32(0.5)) / np.float32(0.5)
            if at_full_size:
                photo = image if image.size == size else image.resize(size, Image.Resampling.BICUBIC)
                return apply_change(photo, x, generated - x, strength)
            y = np.clip(x + np.float32(strength) * (generated - x), -1.0, 1.0)
            result = np.clip(np.rint((y + 1.0) * np.float32(127.5)), 0, 255).astype(np.uint8).transpose(1, 2, 0)
        out = Image.fromarray(np.ascontiguousarray(result), mode="RGB")
        return out if out.size == size else out.resize(size, Image.Resampling.BICUBIC)

    def translate_many(self, images: Iterable[Image.Image], strength: float | None = None) -> Iterator[Image.Image]:
        """Translate a stream of images, yielding results in input order, each at its image's size."""
        strength = self.strength if strength is None else check_strength(strength)
        return (self.translate_to(im, im.size, strength) for im in images)

    def __call__(self, image: Image.Image | list[Image.Image],
                 strength: float | None = None) -> Image.Image | list[Image.Image]:
        if isinstance(image, Image.Image):
            return self.translate_to(image, image.size, strength)
        return list(self.translate_many(image, strength))
