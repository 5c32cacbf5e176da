"""Images as the networks see them: RGB PIL images <-> float32 tensors in [-1, 1] (the range the
generators' Tanh produces). Kept apart from :mod:`.images` so reading and writing image files
never imports torch."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

__all__ = ["to_image", "to_tensor"]


def to_tensor(img: Image.Image) -> torch.Tensor:
    """RGB image -> float32 tensor (3, H, W) in [-1, 1], the range the generator's tanh produces."""
    if img.mode != "RGB":
        raise ValueError(f"to_tensor expects an RGB image, got mode {img.mode!r} (use load_image)")
    array = np.array(img, dtype=np.uint8)  # a writable copy, as torch.from_numpy wants
    t = torch.from_numpy(array).permute(2, 0, 1).to(torch.float32)
    return (t / 255.0 - 0.5) / 0.5


def to_image(t: torch.Tensor) -> Image.Image:
    """Tensor (3, H, W) in [-1, 1] -> RGB image; values are clamped and rounded to nearest."""
    if t.ndim != 3 or t.shape[0] != 3:
        raise ValueError(f"to_image expects a (3, H, W) tensor, got shape {tuple(t.shape)}")
    t = torch.nan_to_num(t.detach().to("cpu", torch.float32), nan=0.0).clamp(-1.0, 1.0)
    array = ((t + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous()
    return Image.fromarray(array.numpy(), mode="RGB")
