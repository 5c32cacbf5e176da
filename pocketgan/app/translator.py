"""Server-side translation (``POST /api/translate``) on the worker pool, within one memory budget.

Memory is bounded whatever the number of workers by one budget they share: a worker reserves what
decoding its photo will cost (the upload's :class:`~pocketgan.data.images.DecodePlan`, from the
header) before decoding, and what the forward pass will cost (its working pixels times the
generator's bytes per pixel) before translating; a job larger than the budget runs alone.
"""
from __future__ import annotations

import contextlib
import io
import threading
import time

from PIL import Image
from starlette.datastructures import UploadFile

from ..inference.pipeline import TranslationPipeline
from ..inference.strength import check_strength
from .model import ServedModel
from .pool import ALLOCATOR, MemoryBudget
from .uploads import JPEG_DECLARED_FACTOR, StagedUpload

# working memory the translation workers share (decoding + forward passes); the bundled model's
# forward pass at 1024x1024 takes ~520 MB of it, so one full-size translation runs at a time
MEMORY_BUDGET = 512 * 1024 ** 2
LARGE_JOB = 64 * 1024 ** 2


class Translator:
    """Server-side translation on the worker pool; one TranslationPipeline per direction, made on
    first use; ``memory_budget`` bytes shared by the workers (see the module docstring)."""

    def __init__(self, served: ServedModel, device: str, max_side: int, max_pixels: int,
                 memory_budget: int = MEMORY_BUDGET, strength: float = 1.0) -> None:
        self.served = served
        self.strength = check_strength(strength)
        self.device = device
        self.max_side = max_side
        self.max_pixels = max_pixels
        self.memory = MemoryBudget(memory_budget)
        self._pipes: dict[str, TranslationPipeline] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _sized(cost: float):
        """Large jobs (over 64 MB) give their big blocks back to the system when done (see Allocator)."""
        return ALLOCATOR.large_job() if cost > LARGE_JOB else contextlib.nullcontext()

    def pipeline(self, direction: str) -> TranslationPipeline:
        with self._lock:
            if direction not in self._pipes:
                source = self.served.source if self.served.kind == "folder" else self.served.directions[direction].path
                pipe = TranslationPipeline.from_pretrained(
                    source, direction, device=self.device, max_side=self.max_side, batch_size=1,
                    strength=self.strength)
                pipe.forward_bytes_per_pixel()  # measured once, here
                self._pipes[direction] = pipe
            return self._pipes[direction]

    def __call__(self, upload: UploadFile, direction: str, strength: float | None = None) -> tuple[bytes, dict[str, str]]:
        """Runs on a worker thread: decode, translate (at ``strength``; None = the server's), encode
        PNG; returns (png, response headers).

        The answer has the photo's own size, unless that is over the decoding budget (a large JPEG
        decoded at a reduced scale): then it has the size decoded. A residual model's change is
        applied to the photo decoded at that size (see :mod:`pocketgan.inference.fullres`), so its
        detail is kept; any other model's result is upscaled."""
        pipe = self.pipeline(direction)
        full = pipe.applies_change_at_full_size
        with StagedUpload(upload.file, upload.filename, upload.content_type, self.max_side) as staged:
            if full and staged.plan.reduced and staged.plan.declared_pixels <= self.max_pixels:
                staged.plan_for(0)  # within the budget: decode it whole, the change goes on every pixel
            staged.check_size(self.max_pixels, JPEG_DECLARED_FACTOR * self.max_pixels)
            cost = staged.plan.peak_bytes
            with self.memory.reserve(cost), self._sized(cost):
                image, original = staged.decode(self.max_pixels, JPEG_DECLARED_FACTOR * self.max_pixels)
                out_size = original if original[0] * original[1] <= self.max_pixels else image.size
                w, h = pipe.working_size(image.size)
                if not full and image.size != (w, h):  # only the working size waits for the forward pass
                    image = image.resize((w, h), Image.BICUBIC)
        # the forward pass, the result at full size (and the full-size photo it is added to) and its
        # PNG: one reservation
        cost = w * h * pipe.forward_bytes_per_pixel() + (12 if full else 8) * out_size[0] * out_size[1]
        with self.memory.reserve(cost), self._sized(cost):
            start = time.perf_counter()
            result = pipe.translate_to(image, out_size, strength)
            ms = (time.perf_counter() - start) * 1000
            del image
            buf = io.BytesIO()
            result.save(buf, format="PNG")
            del result
        return buf.getvalue(), {"X-Inference-Ms": f"{ms:.1f}", "X-Original-Size": f"{original[0]}x{original[1]}",
                                "X-Processed-Size": f"{w}x{h}",
                                "X-Strength": f"{pipe.strength if strength is None else strength:g}"}
