"""What a training objective must provide, declared once: the :class:`Objective` protocol the
trainer drives, and the small toolbox the built-in objectives share (building G and D from the
config, the default optimizer factory, freezing nets).

An objective owns its networks, optimizers and image pools and knows its maths (``train_step``);
the trainer owns everything else: data, the loop, logging, samples, checkpoints, exact resume,
the hardware fast path, DDP. The two meet only through the names below, plus the objective's
registry entry (:mod:`pocketgan.training.objectives`), which describes it as data.

``self.nets`` always holds the plain modules (what checkpoints, model folders and ``--init-from``
read). The nets a call should *run* come in as an argument: ``train_step(batch, nets)`` gets the
step's versions (compiled and/or DDP-wrapped, built once at set-up; the plain module where none
applies), ``visuals(real_A, real_B, nets)`` the ones a run shows (the moving averages with
``--ema-decay``). Nothing is ever swapped into ``self.nets``, so a net held in an attribute cannot
silently train unwrapped; it simply is not what the trainer asked to run.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Protocol, runtime_checkable

import torch
import torch.nn as nn

from ..models import create_discriminator, create_generator
from .config import TrainConfig
from .image_pool import ImagePool
from .precision import Precision

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
"""Builds one optimizer over the given parameters. The trainer passes one configured for the
hardware (Adam's foreach / fused implementation); objectives never pick the implementation."""


@runtime_checkable
class Objective(Protocol):
    """The interface between the trainer and one objective (CycleGAN, pix2pix, distill, ...).

    Built as ``cls(cfg, device, optimizer)`` where ``optimizer`` is an :data:`OptimizerFactory`.
    """

    nets: dict[str, nn.Module]
    """Every network, by name; all are checkpointed (frozen ones too, e.g. distill's teacher)."""
    optimizers: dict[str, torch.optim.Optimizer]
    """One per update; each gets the linear-decay LR schedule; the first one's LR is logged."""
    pools: dict[str, ImagePool]
    """Image pools (checkpointed, seeded per rank under DDP); may be empty."""
    precision: Precision
    """Set by the trainer (fp16 loss scaling); use ``precision.backward(loss)`` and
    ``precision.step(optimizer)`` instead of ``loss.backward()`` / ``optimizer.step()``."""
    device: torch.device

    @property
    def generators(self) -> dict[str, nn.Module]:
        """What the model folder holds: slot ("G_A" for A->B, "G_B" for B->A) -> generator."""
        ...

    def model_info(self) -> dict:
        """Extra entries for the model folder's config.json (at least ``model_type``)."""
        ...

    def train_step(self, batch: dict[str, torch.Tensor], nets: Mapping[str, nn.Module]) -> dict[str, torch.Tensor]:
        """One optimisation step on ``batch`` ({"A": ..., "B": ...}), calling ``nets[name]`` (same
        names as ``self.nets``); returns the detached losses named in the registry's ``loss_names``."""
        ...

    def visuals(self, real_A: torch.Tensor, real_B: torch.Tensor, nets: Mapping[str, nn.Module]) -> list[torch.Tensor]:
        """The sample-grid columns (registry ``visual_names``) for fixed examples, in eval mode,
        drawn with ``nets`` (the trainer passes the averaged generators with --ema-decay)."""
        ...


def adam(cfg: TrainConfig, impl: str = "plain") -> OptimizerFactory:
    """The reference's optimizer (Adam, cfg.lr, (beta1, beta2)); ``impl``: plain (torch's default
    choice), foreach or fused — the same maths (foreach is bit-identical to plain on CPU)."""
    flags = {"foreach": True} if impl == "foreach" else ({"fused": True} if impl == "fused" else {})

    def build(params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
        return torch.optim.Adam(params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), **flags)
    return build


def generator_names(task: Objective) -> dict[str, str]:
    """Model folder slot -> the generator's name in ``task.nets`` ({"G_A": "G"} for pix2pix A->B)."""
    return {slot: name for slot, g in task.generators.items() for name, net in task.nets.items() if net is g}


def set_requires_grad(nets: list[nn.Module], flag: bool) -> None:
    for net in nets:
        for p in net.parameters():
            p.requires_grad_(flag)


def generator_spec(cfg: TrainConfig | dict) -> dict:
    """The constructor arguments of this config's generator (``name`` included), as a model
    folder's config.json records them."""
    if isinstance(cfg, dict):
        cfg = TrainConfig.from_dict(cfg)
    spec = {"name": cfg.netG, "ngf": cfg.ngf, "norm": cfg.g_norm, "use_dropout": cfg.use_dropout}
    if cfg.residual:  # only when set: older model configs stay as they were
        spec["residual"] = True
    return spec


def make_generator(cfg: TrainConfig) -> nn.Module:
    spec = generator_spec(cfg)
    return create_generator(spec.pop("name"), **spec, init_type=cfg.init_type, init_gain=cfg.init_gain)


def discriminator_spec(cfg: TrainConfig | dict, in_channels: int = 3) -> dict:
    """The constructor arguments of a discriminator of this config (``name`` included): what the
    trainer builds and what `pocketgan info` describes, from one place."""
    if isinstance(cfg, dict):
        cfg = TrainConfig.from_dict(cfg)
    spec = {"name": cfg.netD, "ndf": cfg.ndf, "norm": cfg.d_norm}
    if in_channels != 3:  # e.g. pix2pix's conditional D sees input and output stacked (6 channels)
        spec["in_channels"] = in_channels
    if cfg.netD in ("n_layers", "cut_n_layers"):
        spec["n_layers"] = cfg.n_layers_D
    return spec


def make_discriminator(cfg: TrainConfig, in_channels: int = 3) -> nn.Module:
    spec = discriminator_spec(cfg, in_channels)
    return create_discriminator(spec.pop("name"), **spec, init_type=cfg.init_type, init_gain=cfg.init_gain)
