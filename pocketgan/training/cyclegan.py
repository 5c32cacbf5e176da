"""CycleGAN (Zhu et al. 2017): G_A: A->B, G_B: B->A, D_A judges B-domain images, D_B judges A.

One ``train_step`` is the reference's ``optimize_parameters``: update both generators on
adversarial + cycle + identity losses with the discriminators frozen, then update both
discriminators on real images vs. fakes drawn from the image pools.
"""
from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..models.losses import GANLoss
from ..models.modes import eval_mode
from .config import TrainConfig, at_least, opt
from .image_pool import ImagePool
from .objective import OptimizerFactory, adam, make_discriminator, make_generator, set_requires_grad
from .precision import PLAIN, Precision


@dataclass
class CycleGANOptions:
    """CycleGAN's own options (`train --objective cyclegan`; the reference's defaults)."""

    lambda_A: float = opt(10.0, "weight of the cycle loss A -> B -> A", "cyclegan")
    lambda_B: float = opt(10.0, "weight of the cycle loss B -> A -> B", "cyclegan")
    lambda_identity: float = opt(0.5, "identity loss weight, relative to lambda_A/B (0 disables)", "cyclegan")

    def validate(self) -> None:
        at_least(self, 0, "lambda_A", "lambda_B", "lambda_identity")


class CycleGAN:
    """The :class:`~pocketgan.training.objective.Objective` of unpaired translation both ways
    (registry entry "cyclegan": its loss names, sample columns and discriminators)."""

    Options = CycleGANOptions
    precision: Precision = PLAIN  # the trainer sets loss scaling for fp16 (precision.py)

    def __init__(self, cfg: TrainConfig, device: torch.device, optimizer: OptimizerFactory | None = None) -> None:
        self.cfg = cfg
        self.nets: dict[str, nn.Module] = {"G_A": make_generator(cfg), "G_B": make_generator(cfg),
                                           "D_A": make_discriminator(cfg), "D_B": make_discriminator(cfg)}
        for net in self.nets.values():
            net.to(device).train()
        G_A, G_B, D_A, D_B = (self.nets[k] for k in ("G_A", "G_B", "D_A", "D_B"))
        optimizer = optimizer or adam(cfg)
        self.optimizers = {"G": optimizer(itertools.chain(G_A.parameters(), G_B.parameters())),
                           "D": optimizer(itertools.chain(D_A.parameters(), D_B.parameters()))}
        # fake_B images are judged by D_A, fake_A images by D_B
        self.pools = {"fake_A": ImagePool(cfg.pool_size, seed=cfg.seed * 2 + 1),
                      "fake_B": ImagePool(cfg.pool_size, seed=cfg.seed * 2 + 2)}
        self.gan = GANLoss(cfg.gan_mode)
        self.device = device

    @property
    def generators(self) -> dict[str, nn.Module]:
        return {"G_A": self.nets["G_A"], "G_B": self.nets["G_B"]}

    def model_info(self) -> dict:
        """Extra entries for the model folder's config.json."""
        return {"model_type": "cyclegan"}

    def _d_loss(self, D: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return 0.5 * (self.gan(D(real), True) + self.gan(D(fake.detach()), False))

    def train_step(self, batch: dict, nets: Mapping[str, nn.Module]) -> dict[str, torch.Tensor]:
        cfg, opts = self.cfg, self.cfg.options
        G_A, G_B, D_A, D_B = (nets[k] for k in ("G_A", "G_B", "D_A", "D_B"))
        real_A = batch["A"].to(self.device, non_blocking=True)
        real_B = batch["B"].to(self.device, non_blocking=True)

        # generators
        fake_B = G_A(real_A)  # this call order, too, is the reference's: autograd accumulates
        rec_A = G_B(fake_B)   # gradients in graph order, so it decides the last bits
        fake_A = G_B(real_B)
        rec_B = G_A(fake_A)
        set_requires_grad([D_A, D_B], False)
        self.optimizers["G"].zero_grad(set_to_none=True)
        loss = {}
        if opts.lambda_identity > 0:  # G_A should leave B images alone, G_B A images
            loss["idt_A"] = F.l1_loss(G_A(real_B), real_B) * opts.lambda_B * opts.lambda_identity
            loss["idt_B"] = F.l1_loss(G_B(real_A), real_A) * opts.lambda_A * opts.lambda_identity
        loss["G_A"] = self.gan(D_A(fake_B), True, for_discriminator=False) * cfg.lambda_gan  # x 1.0: exact
        loss["G_B"] = self.gan(D_B(fake_A), True, for_discriminator=False) * cfg.lambda_gan
        loss["cycle_A"] = F.l1_loss(rec_A, real_A) * opts.lambda_A
        loss["cycle_B"] = F.l1_loss(rec_B, real_B) * opts.lambda_B
        # summed in the reference's order, so a step is bit-identical to its optimize_parameters()
        total = loss["G_A"] + loss["G_B"] + loss["cycle_A"] + loss["cycle_B"]
        if opts.lambda_identity > 0:
            total = total + loss["idt_A"] + loss["idt_B"]
        self.precision.backward(total)
        self.precision.step(self.optimizers["G"])
        set_requires_grad([D_A, D_B], True)

        # discriminators
        self.optimizers["D"].zero_grad(set_to_none=True)
        loss["D_A"] = self._d_loss(D_A, real_B, self.pools["fake_B"].query(fake_B))
        loss["D_B"] = self._d_loss(D_B, real_A, self.pools["fake_A"].query(fake_A))
        self.precision.backward(loss["D_A"] + loss["D_B"])
        self.precision.step(self.optimizers["D"])
        return {k: v.detach() for k, v in loss.items()}

    @torch.no_grad()
    def visuals(self, real_A: torch.Tensor, real_B: torch.Tensor, nets: Mapping[str, nn.Module]) -> list[torch.Tensor]:
        """The six sample-grid columns, computed in eval mode (no dropout / BN updates)."""
        G_A, G_B = nets["G_A"], nets["G_B"]
        with eval_mode(G_A, G_B):
            real_A, real_B = real_A.to(self.device), real_B.to(self.device)
            fake_B, fake_A = G_A(real_A), G_B(real_B)
            return [t.cpu() for t in (real_A, fake_B, G_B(fake_B), real_B, fake_A, G_A(fake_A))]
