"""Distillation (GAN Compression, Li et al. 2020): a small student generator learns to imitate a
trained teacher generator on the teacher's own task.

One direction at a time (a phone app ships one): for ``AtoB`` the student sees real A images and
is trained on

    lambda_recon   * L1(student(a), teacher(a))                       output reconstruction
  + lambda_distill * sum_p MSE(adapter_p(student_p(a)), teacher_p(a))  intermediate features
  + lambda_gan     * GAN(D(student(a)), real)                          stay on the B manifold

where ``p`` runs over the matching points of :func:`pocketgan.models.feature_points` and each
adapter is a learned 1x1 conv from the student's width to the teacher's. D learns real B images
vs. the student's outputs (from an image pool); it starts from the teacher run's own
discriminator when that run's checkpoint holds one of the same architecture, so the adversarial
signal is useful from the first step. The teacher is frozen and in eval mode.
"""
from __future__ import annotations

import itertools
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from ..directions import get_direction
from ..errors import PocketganError
from ..models import feature_points
from ..models.hub import is_hub_spec, resolve, source_of
from ..models.losses import GANLoss
from ..models.modes import eval_mode
from ..models.pretrained import load_generator, load_weights, read_model_config
from .checkpoint import CheckpointError, load_checkpoint, subset
from .config import TrainConfig, at_least, opt
from .image_pool import ImagePool
from .objective import OptimizerFactory, adam, make_discriminator, make_generator, set_requires_grad
from .precision import PLAIN, Precision


class FeatureTap:
    """Keeps the latest output of each named module (forward hooks)."""

    def __init__(self, modules: dict[str, nn.Module]) -> None:
        self.out: dict[str, torch.Tensor] = {}
        self._hooks = [m.register_forward_hook(self._keep(name)) for name, m in modules.items()]

    def _keep(self, name: str):
        def hook(module, inputs, output):
            self.out[name] = output
        return hook


def _probe_channels(net: nn.Module, tap: FeatureTap) -> dict[str, int]:
    """Channels at each matching point, from one tiny forward pass in eval mode (no BN update)."""
    with eval_mode(net), torch.no_grad():
        net(torch.zeros(1, 3, 32, 32, device=next(net.parameters()).device))
    return {k: v.shape[1] for k, v in tap.out.items()}


def teacher_discriminator(cfg: TrainConfig, D: nn.Module) -> str | None:
    """Load the teacher run's discriminator for this direction into ``D`` if the teacher folder is
    a run folder with a checkpoint of the same D architecture. Returns where it came from."""
    from .run import CHECKPOINT

    ckpt = Path(cfg.options.teacher) / CHECKPOINT
    if not ckpt.is_file():
        return None
    try:
        tensors, meta = load_checkpoint(ckpt)
    except CheckpointError:
        return None
    try:
        teacher_cfg = TrainConfig.from_dict(meta["config"])
    except (KeyError, TypeError, ValueError):
        return None
    same_arch = teacher_cfg.model == "cyclegan" and teacher_cfg.d_norm == cfg.d_norm and \
        all(getattr(teacher_cfg, k) == getattr(cfg, k) for k in ("netD", "ndf", "n_layers_D"))
    name = get_direction(cfg.direction).discriminator  # the one that judges this direction's target domain
    state = subset(tensors, f"net.{name}")
    if not same_arch or not state:
        return None
    load_weights(D, state, f"{ckpt} [{name}]")
    return f"{ckpt} [{name}]"


@dataclass
class DistillOptions:
    """Distillation's own options (`pocketgan distill` = `train --objective distill`)."""

    teacher: str | None = opt(None, "trained model or run folder (or a Hub model, hf://ORG/NAME[@REVISION]) whose "
                                    "generator the student imitates", "distillation",
                              runtime=True)
    lambda_recon: float = opt(10.0, "weight of the L1 loss between student and teacher outputs", "distillation")
    lambda_distill: float = opt(0.1, "weight of the intermediate-feature matching loss (MSE after 1x1 adapters)",
                                "distillation")

    def validate(self) -> None:
        at_least(self, 0, "lambda_recon", "lambda_distill")


class Distillation:
    """The :class:`~pocketgan.training.objective.Objective` of distillation (registry entry "distill")."""

    Options = DistillOptions
    precision: Precision = PLAIN  # the trainer sets loss scaling for fp16 (precision.py)

    def __init__(self, cfg: TrainConfig, device: torch.device, optimizer: OptimizerFactory | None = None) -> None:
        self.cfg, self.device = cfg, device
        self.direction = get_direction(cfg.direction)
        self.slot, self.src, self.dst = self.direction.slot, self.direction.source, self.direction.target
        opts = cfg.options
        folder = opts.teacher
        if is_hub_spec(opts.teacher):  # a Hub model: its snapshot, the config pinned to its commit
            folder = resolve(opts.teacher)
            opts.teacher = source_of(folder)
        teacher = load_generator(folder, self.slot).to(device)  # eval mode, frozen
        set_requires_grad([teacher], False)
        self.teacher_spec = read_model_config(folder)["generators"][self.slot]
        student = make_generator(cfg)
        D = make_discriminator(cfg)
        self.d_source = teacher_discriminator(cfg, D)
        if self.d_source:
            tqdm.write(f"discriminator initialised from {self.d_source}", file=sys.stderr)

        self.points: tuple[str, ...] = ()
        adapters = nn.ModuleDict()
        if opts.lambda_distill > 0:
            try:
                t_points, s_points = feature_points(teacher), feature_points(student)
            except ValueError as e:
                raise PocketganError(f"{e}; distill with --lambda-distill 0 (output and adversarial losses only)") from None
            self.points = tuple(k for k in t_points if k in s_points)
            self.teacher_tap = FeatureTap({k: t_points[k] for k in self.points})
            self.student_tap = FeatureTap({k: s_points[k] for k in self.points})
            t_ch, s_ch = _probe_channels(teacher, self.teacher_tap), _probe_channels(student, self.student_tap)
            for k in self.points:
                adapters[k] = nn.Conv2d(s_ch[k], t_ch[k], 1)
        # the teacher is checkpointed too: a resumed run continues with the very weights it started
        # with, even if the teacher folder has changed or moved since
        self.nets: dict[str, nn.Module] = {self.slot: student, "adapters": adapters, "D": D, "teacher": teacher}
        for name in (self.slot, "adapters", "D"):
            self.nets[name].to(device).train()
        optimizer = optimizer or adam(cfg)
        self.optimizers = {"G": optimizer(itertools.chain(student.parameters(), adapters.parameters())),
                           "D": optimizer(D.parameters())}
        self.pools = {"student": ImagePool(cfg.pool_size, seed=cfg.seed * 2 + 1)}
        self.gan = GANLoss(cfg.gan_mode)

    @property
    def generators(self) -> dict[str, nn.Module]:
        return {self.slot: self.nets[self.slot]}

    def model_info(self) -> dict:
        return {"model_type": "distilled",
                "distilled_from": {"teacher": str(self.cfg.options.teacher), "direction": self.cfg.direction,
                                   "teacher_generator": self.teacher_spec}}

    def train_step(self, batch: dict, nets: Mapping[str, nn.Module]) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        student, adapters, D = nets[self.slot], nets["adapters"], nets["D"]
        real = batch[self.src].to(self.device, non_blocking=True)
        target_real = batch[self.dst].to(self.device, non_blocking=True)
        with torch.no_grad():
            target = nets["teacher"](real)
        fake = student(real)

        set_requires_grad([D], False)
        self.optimizers["G"].zero_grad(set_to_none=True)
        loss = {"G_gan": self.gan(D(fake), True, for_discriminator=False) * cfg.lambda_gan,
                "recon": F.l1_loss(fake, target) * cfg.options.lambda_recon}
        distill = torch.zeros((), device=self.device)
        for k in self.points:
            distill = distill + F.mse_loss(adapters[k](self.student_tap.out[k]), self.teacher_tap.out[k])
        loss["distill"] = distill * cfg.options.lambda_distill
        self.precision.backward(loss["G_gan"] + loss["recon"] + loss["distill"])
        self.precision.step(self.optimizers["G"])
        set_requires_grad([D], True)

        self.optimizers["D"].zero_grad(set_to_none=True)
        pooled = self.pools["student"].query(fake.detach())
        loss["D"] = 0.5 * (self.gan(D(target_real), True) + self.gan(D(pooled), False))
        self.precision.backward(loss["D"])
        self.precision.step(self.optimizers["D"])
        return {k: v.detach() for k, v in loss.items()}

    @torch.no_grad()
    def visuals(self, real_A: torch.Tensor, real_B: torch.Tensor, nets: Mapping[str, nn.Module]) -> list[torch.Tensor]:
        """Input | teacher output | student output, the student in eval mode (what ships)."""
        student = nets[self.slot]
        real = (real_A if self.src == "A" else real_B).to(self.device)
        with eval_mode(student):
            return [t.cpu() for t in (real, nets["teacher"](real), student(real))]
