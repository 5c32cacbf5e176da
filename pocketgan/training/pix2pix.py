"""pix2pix (Isola et al. 2017): a conditional GAN on aligned pairs. One generator G learns
input -> target; a PatchGAN D judges (input, output) pairs stacked as 6 channels, so it can tell
not only whether an output looks real but whether it fits *this* input.

One ``train_step`` is the reference's ``optimize_parameters``: D on real vs. fake pairs, then G on
the adversarial loss + lambda_L1 * L1(G(input), target). ``--direction BtoA`` swaps the roles of
A and B; the model folder stores G under the slot of its direction (G_A for AtoB, G_B for BtoA),
so `translate --direction` and `export --direction` work as for CycleGAN models.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..directions import get_direction
from ..models.losses import GANLoss
from ..models.modes import eval_mode
from .config import TrainConfig, at_least, opt
from .image_pool import ImagePool
from .objective import OptimizerFactory, adam, make_discriminator, make_generator, set_requires_grad
from .precision import PLAIN, Precision


@dataclass
class Pix2PixOptions:
    """pix2pix's own options (`train --objective pix2pix`)."""

    lambda_L1: float = opt(100.0, "weight of the L1 loss to the true target", "pix2pix")

    def validate(self) -> None:
        at_least(self, 0, "lambda_L1")


class Pix2Pix:
    """The :class:`~pocketgan.training.objective.Objective` of paired translation one way
    (registry entry "pix2pix": paired data, one 6-channel D, losses and sample columns)."""

    Options = Pix2PixOptions
    D_IN_CHANNELS = 6  # D judges (input, output) stacked
    precision: Precision = PLAIN  # the trainer sets loss scaling for fp16 (precision.py)

    def __init__(self, cfg: TrainConfig, device: torch.device, optimizer: OptimizerFactory | None = None) -> None:
        self.cfg, self.device = cfg, device
        self.direction = get_direction(cfg.direction)
        self.slot, self.src, self.dst = self.direction.slot, self.direction.source, self.direction.target
        self.nets: dict[str, nn.Module] = {"G": make_generator(cfg),
                                           "D": make_discriminator(cfg, in_channels=self.D_IN_CHANNELS)}
        for net in self.nets.values():
            net.to(device).train()
        optimizer = optimizer or adam(cfg)
        self.optimizers = {"G": optimizer(self.nets["G"].parameters()), "D": optimizer(self.nets["D"].parameters())}
        self.pools = {"fake_pair": ImagePool(cfg.pool_size, seed=cfg.seed * 2 + 1)} if cfg.pool_size > 0 else {}
        self.gan = GANLoss(cfg.gan_mode)

    @property
    def generators(self) -> dict[str, nn.Module]:
        return {self.slot: self.nets["G"]}

    def model_info(self) -> dict:
        return {"model_type": "pix2pix"}

    def train_step(self, batch: dict, nets: Mapping[str, nn.Module]) -> dict[str, torch.Tensor]:
        G, D = nets["G"], nets["D"]
        real_A = batch[self.src].to(self.device, non_blocking=True)  # the input, whatever the direction
        real_B = batch[self.dst].to(self.device, non_blocking=True)  # its true target
        fake_B = G(real_A)
        loss = {}

        # discriminator: real pairs vs. fake pairs (the generator's output detached)
        set_requires_grad([D], True)
        self.optimizers["D"].zero_grad(set_to_none=True)
        fake_AB = torch.cat((real_A, fake_B), 1)
        shown = self.pools["fake_pair"].query(fake_AB.detach()) if self.pools else fake_AB.detach()
        loss["D_fake"] = self.gan(D(shown), False)
        loss["D_real"] = self.gan(D(torch.cat((real_A, real_B), 1)), True)
        self.precision.backward((loss["D_fake"] + loss["D_real"]) * 0.5)
        self.precision.step(self.optimizers["D"])

        # generator: fool D on this input, and stay close to the true target
        set_requires_grad([D], False)
        self.optimizers["G"].zero_grad(set_to_none=True)
        loss["G_GAN"] = self.gan(D(fake_AB), True, for_discriminator=False) * self.cfg.lambda_gan  # x 1.0: exact
        loss["G_L1"] = F.l1_loss(fake_B, real_B) * self.cfg.options.lambda_L1
        self.precision.backward(loss["G_GAN"] + loss["G_L1"])
        self.precision.step(self.optimizers["G"])
        set_requires_grad([D], True)
        return {k: v.detach() for k, v in loss.items()}

    @torch.no_grad()
    def visuals(self, real_A: torch.Tensor, real_B: torch.Tensor, nets: Mapping[str, nn.Module]) -> list[torch.Tensor]:
        """input | output | true target, whatever the direction."""
        G = nets["G"]
        src, dst = (real_A, real_B) if self.src == "A" else (real_B, real_A)
        with eval_mode(G):  # note: pix2pix's dropout is its noise source; samples show the deterministic mode
            src = src.to(self.device)
            return [t.cpu() for t in (src, G(src), dst)]
