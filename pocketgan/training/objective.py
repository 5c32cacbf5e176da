"""What a training objective must provide, declared once: the :class:`Objective` protocol the
trainer drives, and the small toolbox the built-in objectives share (building G and D from the
config, the default optimizer factory, freezing nets).

An objective owns its networks, optimizers and image pools and knows its maths (``train_step``);
the trainer owns everything else: data, the loop, logging, samples, checkpoints, exact resume,
the hardware fast path, DDP. The two meet only through the names below, plus the objective's
registry entry (:mod:`pocketgan.training.objectives`), which describes it as data.

The one rule: **look nets up at call time.** ``train_step`` and ``visuals`` must fetch
``self.nets[name]`` on every call and never keep a network in another attribute or closure,
because for the duration of a step the fast path swaps compiled and DDP-wrapped versions into
``self.nets`` (and swaps the plain modules back afterwards, so checkpoints, model folders,
samples and evaluation never see a wrapper). A net held elsewhere would silently train unwrapped.
"""
from __future__ import annotations

from typing import Callable, Iterable, Protocol, runtime_checkable

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

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One optimisation step on ``batch`` ({"A": ..., "B": ...}); returns the detached losses
        named in the registry entry's ``loss_names``."""
        ...

    def visuals(self, real_A: torch.Tensor, real_B: torch.Tensor) -> list[torch.Tensor]:
        """The sample-grid columns (registry ``visual_names``) for fixed examples, in eval mode."""
        ...


def adam(cfg: TrainConfig, impl: str = "plain") -> OptimizerFactory:
    """The reference's optimizer (Adam, cfg.lr, (beta1, beta2)); ``impl``: plain (torch's default
    choice), foreach or fused — the same maths (foreach is bit-identical to plain on CPU)."""
    flags = {"foreach": True} if impl == "foreach" else ({"fused": True} if impl == "fused" else {})

    def build(params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
        return torch.optim.Adam(params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), **flags)
    return build


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
