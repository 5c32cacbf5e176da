"""DiffAugment (Zhao, Liu, Lin, Zhu, Han, NeurIPS 2020): the same kind of random, differentiable
augmentation applied to every image a discriminator sees, real or generated, so that D cannot
memorise a small training set (~1k photos) — the standard remedy for D overfitting — while the
generator's gradient still flows through the augmentation.

``--diffaugment color,translation,cutout`` (any subset) works for every objective: the trainer puts
a forward pre-hook on each discriminator the objective's registry entry names, so no objective's
code changes and state_dict keys stay as they are. Random draws come from torch's global RNG,
which checkpoints restore (exact resume). Images are in [-1, 1], as everywhere in training.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..choices import DIFFAUGMENT_POLICIES
from ..errors import OptionError


def _rand(x: torch.Tensor) -> torch.Tensor:
    return torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype, device=x.device)


def brightness(x: torch.Tensor) -> torch.Tensor:
    return x + (_rand(x) - 0.5)


def saturation(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (_rand(x) * 2) + mean


def contrast(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_rand(x) + 0.5) + mean


def translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to ``ratio`` of its size in each axis, filling with zeros."""
    b, _, h, w = x.shape
    dy, dx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    shift_y = torch.randint(-dy, dy + 1, (b, 1, 1), device=x.device)
    shift_x = torch.randint(-dx, dx + 1, (b, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device)[None, :, None] + shift_y + 1  # +1: the zero border of `padded`
    cols = torch.arange(w, device=x.device)[None, None, :] + shift_x + 1
    rows, cols = rows.clamp(0, h + 1).expand(b, h, w), cols.clamp(0, w + 1).expand(b, h, w)
    padded = F.pad(x, [1, 1, 1, 1]).permute(0, 2, 3, 1)  # (B, H+2, W+2, C)
    batch = torch.arange(b, device=x.device)[:, None, None].expand(b, h, w)
    return padded[batch, rows, cols].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Zero one square of ``ratio`` of the size per image, centred anywhere (it may be cut by the edge)."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), device=x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), device=x.device)
    rows = (torch.arange(ch, device=x.device)[None, :, None] + cy - ch // 2).clamp(0, h - 1).expand(b, ch, cw)
    cols = (torch.arange(cw, device=x.device)[None, None, :] + cx - cw // 2).clamp(0, w - 1).expand(b, ch, cw)
    mask = torch.ones(b, h, w, dtype=x.dtype, device=x.device)
    mask[torch.arange(b, device=x.device)[:, None, None].expand(b, ch, cw), rows, cols] = 0
    return x * mask.unsqueeze(1)


POLICIES: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], ...]] = {
    "color": (brightness, saturation, contrast),
    "translation": (translation,),
    "cutout": (cutout,),
}
assert tuple(POLICIES) == DIFFAUGMENT_POLICIES  # the CLI offers what is implemented here


def parse_policy(text: str) -> tuple[str, ...]:
    """``"color,translation"`` -> ("color", "translation"); "" -> (); one line naming the option otherwise."""
    names = tuple(p.strip() for p in text.split(",") if p.strip())
    unknown = [n for n in names if n not in POLICIES]
    if unknown:
        raise OptionError(f"--diffaugment: unknown policy {unknown[0]!r} (use any of {', '.join(POLICIES)}, "
                          "comma-separated)")
    return names


def diff_augment(x: torch.Tensor, policy: tuple[str, ...]) -> torch.Tensor:
    for name in policy:
        for op in POLICIES[name]:
            x = op(x)
    return x.contiguous()


def attach(nets: dict[str, nn.Module], names, policy: tuple[str, ...]) -> list:
    """Augment every input of the discriminators ``names`` (a forward pre-hook each); returns the
    hook handles. Nothing happens for an empty policy."""
    if not policy:
        return []

    def hook(module: nn.Module, args: tuple):
        return (diff_augment(args[0], policy), *args[1:])
    return [nets[name].register_forward_pre_hook(hook) for name in names if name in nets]
