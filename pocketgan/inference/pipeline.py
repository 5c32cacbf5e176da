"""Translate PIL images with a trained generator, hiding all pre/post-processing (diffusers-style):

    pipe = TranslationPipeline.from_pretrained("runs/summer2winter", direction="AtoB")
    winter = pipe(Image.open("summer.jpg"))

Any input size works: an image is (optionally) downscaled so its longer side fits ``max_side``,
reflect-padded to the multiple of the generator's stride, translated and cropped back. Back at its
original size: a residual mobile generator's predicted change is upsampled and added to the
full-resolution photo, so the photo's own detail is kept (``full_res=True``, the default; see
:mod:`pocketgan.inference.fullres`); any other generator's result is resized. Images of equal
working size are translated together in batches.

``strength`` (0 to 1.5, see :mod:`pocketgan.inference.strength`) dials the effect: 0 returns the
input, 1 the model as trained (bit for bit the plain forward pass), above 1 exaggerates it. A
residual mobile generator scales its predicted change before adding and clamping it; any other
generator is blended with its input in [-1, 1], ``clamp(x + S * (G(x) - x))``. An exported
.onnx/.tflite file is blended too, its uint8 output against its uint8 input (for a residual model
that equals scaling the change, except where the model's own clamp cut the change off and for
rounding to uint8):

    pipe = TranslationPipeline.from_pretrained("runs/summer2winter", strength=0.5)  # half the change
    stronger = pipe(photo, strength=1.3)                                            # or per call
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from ..data.tensors import to_image, to_tensor
from ..devices import resolve_device
from ..directions import Direction, get_direction
from ..models.config import predicts_change
from ..models.pretrained import load_generator, read_model_config
from ..models.zoo import resolve_model
from .exported import ExportedGenerator
from .fullres import apply_change
from .sizing import fit_within
from .strength import check_strength


class TranslationPipeline:
    def __init__(self, generator: nn.Module, device: str | torch.device = "cpu", max_side: int | None = 1024,
                 batch_size: int = 4, strength: float = 1.0, full_res: bool = True) -> None:
        self.generator = generator.eval().to(device)
        self.full_res = full_res
        self.device = torch.device(device)
        self.multiple = getattr(generator, "size_multiple", 4)
        self.fixed_size = getattr(generator, "fixed_size", None)  # (h, w) of fixed-input exported files
        self.max_side = max_side or None
        self.batch_size = batch_size
        self.strength = check_strength(strength)
        self._forward_bytes: float | None = None

    @classmethod
    def from_pretrained(cls, folder: str | Path | None = None, direction: str | Direction = "AtoB",
                        device: str | torch.device = "auto", **kwargs) -> TranslationPipeline:
        """``folder``: a model folder, an exported .onnx/.tflite, or a model name (bundled or imported,
        see :mod:`pocketgan.models.zoo`); None = the bundled summer2winter model. ``device``: see
        :func:`pocketgan.devices.resolve_device` (exported files always run on the CPU). ``kwargs``:
        ``max_side``, ``batch_size``, ``strength`` (0-1.5, the default of every call; 1 = as trained), ``full_res``
        (residual generators: apply the change to the full-size photo; False = upscale the result)."""
        folder = resolve_model(None if folder is None else str(folder))
        slot = get_direction(direction).slot
        device = resolve_device(str(device))
        if Path(folder).suffix in (".onnx", ".tflite"):  # an exported file: its direction is baked in
            return cls(ExportedGenerator(folder), device="cpu", **kwargs)
        read_model_config(folder)  # clear error for non-model folders before anything else
        return cls(load_generator(folder, slot), device=device, **kwargs)

    def forward_bytes_per_pixel(self) -> float:
        """Estimated working memory of one forward pass per input pixel, for callers that bound
        memory (the server): twice the largest input + output of any one layer (oneDNN's layout
        reorders about double what the tensors take), found once with a tiny forward pass; 600 for
        exported files, whose runtime is opaque (measured: ~520 for the bundled mobile model)."""
        if self._forward_bytes is None:
            leaves = [m for m in self.generator.modules() if not any(True for _ in m.children())]
            if self.fixed_size or isinstance(self.generator, ExportedGenerator) or not leaves:
                self._forward_bytes = 600.0
                return self._forward_bytes
            side = max(self.multiple, 32)
            side += -side % self.multiple
            largest = 0

            def hook(_module, inputs, output) -> None:
                nonlocal largest
                size = sum(t.numel() * t.element_size() for t in inputs if torch.is_tensor(t))
                if torch.is_tensor(output):
                    size += output.numel() * output.element_size()
                largest = max(largest, size)

            handles = [m.register_forward_hook(hook) for m in leaves]
            try:
                with torch.no_grad():
                    self.generator(torch.zeros(1, 3, side, side, device=self.device))
            finally:
                for h in handles:
                    h.remove()
            self._forward_bytes = max(2.0 * largest / (side * side), 64.0)
        return self._forward_bytes

    def working_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """(w, h) the image is translated at: the original, or scaled to fit ``max_side``."""
        if self.fixed_size:
            return self.fixed_size[1], self.fixed_size[0]
        return fit_within(size, self.max_side)

    @property
    def scales_change(self) -> bool:
        """True when strength scales the generator's predicted change (a residual mobile generator),
        False when it blends the output with the input."""
        return predicts_change(getattr(self.generator, "config", {}))

    def _strength(self, strength: float | None) -> float:
        return self.strength if strength is None else check_strength(strength)

    def _forward(self, x: torch.Tensor, strength: float) -> torch.Tensor:
        """The generator on ``x`` (float [-1, 1] NCHW on the device) at ``strength``."""
        if strength == 1.0:
            return self.generator(x)
        if self.scales_change:
            return self.generator(x, strength=strength)
        y = self.generator(x).to(x.dtype)
        return torch.clamp(x + strength * (y - x), -1.0, 1.0)

    @property
    def applies_change_at_full_size(self) -> bool:
        """True when results larger than the working size are made by adding the upsampled predicted
        change to the full-size photo (a residual generator, ``full_res`` on; see
        :mod:`pocketgan.inference.fullres`), False when the result itself is upscaled."""
        return self.full_res and self.scales_change

    def _network_input(self, images: list[Image.Image], size: tuple[int, int]) -> torch.Tensor:
        """``images`` at working ``size`` (w, h) as a float [-1, 1] batch, padded to the stride
        multiple (and tiny images up to 16 px so the inner reflection pads fit)."""
        w, h = size
        x = torch.stack([to_tensor(im if im.size == size else im.resize(size, Image.Resampling.BICUBIC)) for im in images])
        least = max(self.multiple, 16)
        pad_w = max(w + (-w % self.multiple), least) - w
        pad_h = max(h + (-h % self.multiple), least) - h
        if pad_w or pad_h:  # reflect needs pad < side; tiny images fall back to replicate
            mode = "reflect" if pad_w < w and pad_h < h else "replicate"
            x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        return x

    @torch.no_grad()
    def predict_change(self, images: list[Image.Image], size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, change): the network's input at working ``size`` (N, 3, h, w) and the change it predicts
        there, both float [-1, 1] units on the CPU. A residual generator's change is its own
        prediction before the clamp; any other generator's is its output minus its input."""
        w, h = size
        x = self._network_input(images, size)
        xd = x.to(self.device)
        if self.scales_change:
            g: Any = self.generator  # a residual generator: forward(x, layers=...) and nce_layer_count()
            change = g(xd, layers=[g.nce_layer_count() - 1])[0]
        else:
            change = self.generator(xd).to(xd.dtype) - xd
        return x[:, :, :h, :w], change.float().cpu()[:, :, :h, :w]

    def compose(self, image: Image.Image, x: torch.Tensor, change: torch.Tensor, strength: float,
                size: tuple[int, int] | None = None) -> Image.Image:
        """The result for ``image`` (the photo, any size) from its network input ``x`` and predicted
        ``change`` at the working size (3, h, w), at ``size`` (default: the photo's). Larger than the
        working size: a residual generator's change is upsampled and added to the full-size photo
        (:attr:`applies_change_at_full_size`); any other result is upscaled."""
        target = size or image.size
        small = (x.shape[-1], x.shape[-2])
        if target != small and self.applies_change_at_full_size:
            photo = image.convert("RGB")
            if photo.size != target:
                photo = photo.resize(target, Image.Resampling.BICUBIC)
            return apply_change(photo, x, change, strength)
        result = to_image(torch.clamp(x + strength * change, -1.0, 1.0))
        return result if result.size == target else result.resize(target, Image.Resampling.BICUBIC)

    @torch.no_grad()
    def _translate_batch(self, images: list[Image.Image], size: tuple[int, int],
                         out_sizes: list[tuple[int, int]] | None = None, strength: float = 1.0) -> list[Image.Image]:
        """Translate ``images`` at working ``size`` and ``strength``; each result comes back at its
        image's size (or at ``out_sizes[i]``)."""
        w, h = size
        targets = [out_sizes[i] if out_sizes is not None else im.size for i, im in enumerate(images)]
        if self.applies_change_at_full_size and any(t != size for t in targets):
            x, change = self.predict_change(images, size)
            return [self.compose(im, x[i], change[i], strength, targets[i]) for i, im in enumerate(images)]
        x = self._network_input(images, size)
        y = self._forward(x.to(self.device), strength).float().cpu()[:, :, :h, :w]
        out = []
        for t, target in zip(y, targets, strict=True):
            result = to_image(t)
            out.append(result if result.size == target else result.resize(target, Image.Resampling.BICUBIC))
        return out

    def translate_to(self, image: Image.Image, size: tuple[int, int], strength: float | None = None) -> Image.Image:
        """Translate one image (at its working size) and return the result at ``size`` (w, h): the
        server decodes large JPEGs at a reduced scale and answers at the photo's own size.
        ``strength``: None = the pipeline's."""
        return self._translate_batch([image.convert("RGB")], self.working_size(image.size), [size],
                                     self._strength(strength))[0]

    def translate_many(self, images: Iterable[Image.Image], strength: float | None = None) -> Iterator[Image.Image]:
        """Translate a stream of RGB images, yielding results in input order. Consecutive images of
        the same working size share a batch. ``strength``: None = the pipeline's (checked now)."""
        return self._translate_stream(images, self._strength(strength))

    def _translate_stream(self, images: Iterable[Image.Image], strength: float) -> Iterator[Image.Image]:
        pending: list[Image.Image] = []
        pending_size = (0, 0)  # the working size of the images pending (none yet)
        for im in images:
            size = self.working_size(im.size)
            if pending and (size != pending_size or len(pending) == self.batch_size):
                yield from self._translate_batch(pending, pending_size, strength=strength)
                pending = []
            pending.append(im.convert("RGB"))
            pending_size = size
        if pending:
            yield from self._translate_batch(pending, pending_size, strength=strength)

    def __call__(self, image: Image.Image | list[Image.Image],
                 strength: float | None = None) -> Image.Image | list[Image.Image]:
        """Translate one image or a list of them (``strength``: None = the pipeline's)."""
        if isinstance(image, Image.Image):
            return next(self.translate_many([image], strength))
        return list(self.translate_many(image, strength))
