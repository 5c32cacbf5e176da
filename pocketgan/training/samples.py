"""Sample grids: one row per fixed example, one column per image the objective shows (its registry
entry's ``visual_names``: CycleGAN real_A | fake_B | rec_A | real_B | fake_A | rec_B, pix2pix
input | output | target, distill input | teacher | student). The same examples at every step, so
a sequence of grids shows training progress."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..data.images import ImageError, load_image, save_image
from ..data.inputs import scan_folder
from ..data.tensors import to_image, to_tensor
from ..data.transforms import Preprocess


def fixed_examples(folder: str | Path, preprocess: Preprocess, count: int, max_pixels: int) -> torch.Tensor:
    """The first ``count`` decodable images of a folder, deterministically preprocessed."""
    out = []
    for path in scan_folder(folder, max_pixels=max_pixels).files:
        try:
            img = load_image(path, max_pixels=max_pixels)
        except ImageError:
            continue
        out.append(to_tensor(preprocess(img, np.random.default_rng(0))))
        if len(out) == count:
            break
    if not out:
        raise ImageError(folder, "no decodable image for samples")
    while len(out) < count:  # tiny folders: repeat
        out.append(out[len(out) % len(out)])
    return torch.stack(out)


def save_grid(columns: list[torch.Tensor], names: list[str], path: str | Path) -> None:
    """``columns``: equally shaped (N,3,H,W) tensors in [-1,1]; names label the header."""
    n, _, h, w = columns[0].shape
    header = 14
    grid = Image.new("RGB", (w * len(columns), header + h * n), "white")
    draw = ImageDraw.Draw(grid)
    for c, (col, name) in enumerate(zip(columns, names, strict=True)):
        draw.text((c * w + 3, 1), name, fill="black")
        for r in range(n):
            grid.paste(to_image(col[r]), (c * w, header + r * h))
    save_image(grid, path)
