"""Colorization: the reference's third model (pytorch-CycleGAN-and-pix2pix ``colorization_model``),
pix2pix in Lab colour. A photo's lightness L (normalised L / 50 - 1) is the input, its colour
channels ab (ab / 110) the target: G predicts ab from L, a conditional PatchGAN judges (L, ab)
stacked as 3 channels, and G's loss is GAN + lambda_L1 (100) * L1 on ab. The data is one folder of
colour photos (the registry entry's ``single_folder``); every photo is its own training pair.

The defaults are the reference's: its colorization model takes pix2pix's options (unet_256 G with
dropout, batch norm, vanilla GAN, no image pool, lambda_L1 100, the basic 70x70 D) with 1 input
and 2 output channels. The generator is a ``colorize_unet_*`` (:mod:`pocketgan.models.lab`): the
same U-Net, wrapped so the saved model is RGB -> RGB (translate, export and the web app take it
as any model). ``--netG`` defaults to ``colorize_unet_256`` (what the run config and the model
folder both record) and must be one of the ``colorize_`` ones. One direction only: the model
folder holds G_A, grey -> colour.

The maths is pix2pix's ``train_step``, run on (L, ab) instead of (A, B): colorization differs from
pix2pix in its data and colour space, not in its objective, as in the reference (whose model
subclasses pix2pix's).
"""
from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn as nn

from ..errors import OptionError
from ..models.lab import grey, split_lab
from ..models.modes import eval_mode
from ..models.registry import list_generators
from .config import TrainConfig, at_least, opt
from .objective import OptimizerFactory
from .pix2pix import Pix2Pix
from .precision import PLAIN, Precision

GENERATOR_PREFIX = "colorize_"


@dataclass
class ColorizationOptions:
    """colorization's own options (`train --objective colorization`)."""

    lambda_L1: float = opt(100.0, "weight of the L1 loss to the photo's true colour (ab)", "colorization")

    def validate(self) -> None:
        at_least(self, 0, "lambda_L1")


def check_config(cfg: TrainConfig) -> None:
    """One OptionError line for a shared option colorization cannot honour."""
    if cfg.direction != "AtoB":
        raise OptionError("--direction: colorization learns grey -> colour only (AtoB; the model folder holds G_A)")
    if not cfg.netG.startswith(GENERATOR_PREFIX):
        known = ", ".join(n for n in list_generators() if n.startswith(GENERATOR_PREFIX))
        raise OptionError(f"--netG: colorization needs one of {known} (a U-Net inside a model that keeps the "
                          f"photo's lightness; colorize_unet_256 is the reference's unet_256), not {cfg.netG}")
    if cfg.residual:
        raise OptionError("--residual: the colorization generators predict colour from lightness, not a change "
                          "to the photo; drop --residual")


class Colorization(Pix2Pix):
    """The :class:`~pocketgan.training.objective.Objective` of grey -> colour (registry entry
    "colorization": one folder of photos, one 3-channel D, pix2pix's losses and sample columns).
    Sets every attribute pix2pix's ``train_step`` reads; builds its own G and D."""

    Options = ColorizationOptions
    precision: Precision = PLAIN  # the trainer sets loss scaling for fp16 (precision.py)
    D_IN_CHANNELS = 3  # D judges (L, ab) stacked

    def __init__(self, cfg: TrainConfig, device: torch.device, optimizer: OptimizerFactory | None = None) -> None:
        check_config(cfg)  # AtoB only: pix2pix's roles are then slot G_A, (L, ab) handed to its step as (A, B)
        super().__init__(cfg, device, optimizer)

    def model_info(self) -> dict:
        return {"model_type": "colorization",
                "description": "colorization: keeps a photo's lightness and predicts its colour (grey -> colour)"}

    def train_step(self, batch: dict, nets: Mapping[str, nn.Module]) -> dict[str, torch.Tensor]:
        """pix2pix's step on (L, ab) of the batch's photos, converted once; G is called through the
        step's net (compiled / DDP) in its ab-from-L mode."""
        with torch.no_grad():
            L, ab = split_lab(batch["A"].to(self.device, non_blocking=True))
        lab_nets = {"G": functools.partial(nets["G"], predict_ab=True), "D": nets["D"]}
        return super().train_step({"A": L, "B": ab}, lab_nets)

    @torch.no_grad()
    def visuals(self, real_A: torch.Tensor, real_B: torch.Tensor, nets: Mapping[str, nn.Module]) -> list[torch.Tensor]:
        """input (the grey photo G is given) | output (colourised) | target (the real photo)."""
        G = nets["G"]
        with eval_mode(G):
            photo = real_A.to(self.device)
            given = grey(photo)
            return [t.cpu() for t in (given, G(given), photo)]
