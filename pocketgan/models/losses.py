"""GAN objectives. The discriminator outputs raw logits (no sigmoid); each mode turns a logit map
into a scalar loss for either side of the game."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..choices import GAN_MODES
from ..errors import OptionError


class GANLoss:
    """``loss(pred, target_is_real, for_discriminator)``.

    lsgan: mean squared error to 1 (real) / 0 (fake) — the CycleGAN default.
    vanilla: binary cross-entropy with logits (the original GAN).
    hinge: D minimises relu(1 - real) + relu(1 + fake); G maximises D(fake).
    """

    def __init__(self, mode: str = "lsgan") -> None:
        if mode not in GAN_MODES:
            raise OptionError(f"unknown gan mode {mode!r}; choose one of: {', '.join(GAN_MODES)}")
        self.mode = mode

    def __call__(self, pred: torch.Tensor, target_is_real: bool, for_discriminator: bool = True) -> torch.Tensor:
        if self.mode == "lsgan":
            target = torch.ones_like(pred) if target_is_real else torch.zeros_like(pred)
            return F.mse_loss(pred, target)
        if self.mode == "vanilla":
            target = torch.ones_like(pred) if target_is_real else torch.zeros_like(pred)
            return F.binary_cross_entropy_with_logits(pred, target)
        if not for_discriminator:  # hinge, generator side
            if not target_is_real:
                raise ValueError("the hinge generator loss only targets 'real'")
            return -pred.mean()
        return F.relu(1.0 - pred).mean() if target_is_real else F.relu(1.0 + pred).mean()
