"""The registry of training objectives: one :class:`ObjectiveSpec` per objective, holding everything
the rest of pocketgan asks about an objective without building it — the CLI (option groups,
defaults), the config (valid names), the report (loss charts, health checks, sample columns),
``info`` (which discriminators a run has, which directions it writes), the demo and the trainer
(paired or unpaired data, the class to build).

Adding an objective is one new module — a class that satisfies
:class:`pocketgan.training.objective.Objective` and, beside it, the dataclass of its own options,
named by the class as ``Options`` — plus one :func:`register` call here (or in the caller, as the
tests do with a toy objective). Nothing here imports torch: the CLI reads this while parsing, and
imports an objective's module (``load``) only for that objective's options.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..directions import DIRECTIONS, Direction
from ..errors import PocketganError


@dataclass(frozen=True)
class ObjectiveSpec:
    """What an objective is, as data (its maths lives in the class ``load()`` returns)."""

    name: str                           # what --objective takes and what run configs record (as "model")
    summary: str                        # one line for --help and `pocketgan info`
    load: Callable[[], type]            # imports and returns the Objective class (torch is imported then)
    loss_names: tuple[str, ...]         # every loss train_step returns, in metrics.jsonl order
    progress_losses: tuple[str, ...]    # shown on the progress bar
    health_losses: tuple[str, ...]      # must fall for training to be working (report health checks)
    loss_groups: tuple[tuple[str, tuple[str, ...]], ...]  # (chart title, losses) of the report
    visual_names: tuple[str, ...]       # the columns of a sample grid
    discriminators: Mapping[str, int]   # discriminator name -> input channels (for `info`)
    discriminator_losses: tuple[tuple[str, ...], ...] = ()  # each discriminator's loss terms ("D wins outright" checks)
    one_direction: bool = False         # learns cfg.direction only (else both: G_A and G_B)
    paired: bool = False                # trains on aligned pairs (else two unpaired folders)
    single_folder: bool = False         # trains on one folder of images (--data ROOT with train/, or --a DIR):
                                        # batches {"A": ...} only, e.g. colorization (a photo is its own target)
    option_group: str | None = None     # the title of its options' group (`train --objective NAME --help`)
    requires: Mapping[str, str] = field(default_factory=dict)  # its options it cannot run without -> why
    demo: bool = True                   # `pocketgan demo` offers it (it learns the toy scenes in the demo's budget)
    defaults: Mapping[str, Any] = field(default_factory=dict)  # shared or own option values that differ from the
                                                               # dataclasses' defaults

    def directions(self, direction: str = "AtoB") -> tuple[Direction, ...]:
        """The directions a run of this objective writes (its model folder's generator slots)."""
        return (DIRECTIONS[direction],) if self.one_direction else tuple(DIRECTIONS.values())


OBJECTIVES: dict[str, ObjectiveSpec] = {}


def register(spec: ObjectiveSpec, replace: bool = False) -> ObjectiveSpec:
    if spec.name in OBJECTIVES and not replace:
        raise ValueError(f"objective {spec.name!r} is already registered")
    OBJECTIVES[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    OBJECTIVES.pop(name, None)


def objective_names() -> tuple[str, ...]:
    return tuple(OBJECTIVES)


def demo_objectives() -> tuple[str, ...]:
    """Objectives `pocketgan demo` can run on built-in data alone (nothing else required)."""
    return tuple(name for name, spec in OBJECTIVES.items() if spec.demo and not spec.requires)


def get_objective(name: str) -> ObjectiveSpec:
    try:
        return OBJECTIVES[name]
    except KeyError:
        raise PocketganError(f"--objective: unknown objective {name!r} (one of {', '.join(OBJECTIVES)})") from None


# --- the built-in objectives ---------------------------------------------------------------------
def _cyclegan() -> type:
    from .cyclegan import CycleGAN
    return CycleGAN


def _pix2pix() -> type:
    from .pix2pix import Pix2Pix
    return Pix2Pix


def _distill() -> type:
    from .distill import Distillation
    return Distillation


register(ObjectiveSpec(
    name="cyclegan", summary="unpaired translation both ways (Zhu et al. 2017): G_A, G_B, D_A, D_B, cycle loss",
    load=_cyclegan,
    loss_names=("D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B"),
    progress_losses=("G_A", "G_B", "D_A", "D_B", "cycle_A", "cycle_B"),
    health_losses=("cycle_A", "cycle_B"),
    loss_groups=(("adversarial (generators)", ("G_A", "G_B")), ("discriminators", ("D_A", "D_B")),
                 ("cycle (x lambda)", ("cycle_A", "cycle_B")), ("identity", ("idt_A", "idt_B"))),
    visual_names=("real_A", "fake_B", "rec_A", "real_B", "fake_A", "rec_B"),
    discriminators={"D_A": 3, "D_B": 3}, discriminator_losses=(("D_A",), ("D_B",)),
    option_group="cyclegan",
))

register(ObjectiveSpec(
    name="pix2pix", summary="paired translation one way (Isola et al. 2017): G and a conditional 6-channel D",
    load=_pix2pix,
    loss_names=("G_GAN", "G_L1", "D_real", "D_fake"),
    progress_losses=("G_GAN", "G_L1", "D_real", "D_fake"),
    health_losses=("G_L1",),
    loss_groups=(("L1 to the true target (x lambda)", ("G_L1",)), ("adversarial (generator)", ("G_GAN",)),
                 ("discriminator", ("D_real", "D_fake"))),
    visual_names=("input", "output", "target"),
    discriminators={"D": 6}, discriminator_losses=(("D_real", "D_fake"),),
    one_direction=True, paired=True, option_group="pix2pix",
    # the paper's settings: U-Net G with dropout, batch norm, vanilla GAN, no image pool
    defaults={"netG": "unet_256", "norm": "batch", "use_dropout": True, "gan_mode": "vanilla", "pool_size": 0},
))


def _colorization() -> type:
    from .colorization import Colorization
    return Colorization


register(ObjectiveSpec(
    name="colorization", summary="grey -> colour (the reference's colorization): pix2pix on Lab, G predicts ab from L",
    load=_colorization,
    loss_names=("G_GAN", "G_L1", "D_real", "D_fake"),
    progress_losses=("G_GAN", "G_L1", "D_real", "D_fake"),
    health_losses=("G_L1",),
    loss_groups=(("L1 to the true colour (x lambda)", ("G_L1",)), ("adversarial (generator)", ("G_GAN",)),
                 ("discriminator", ("D_real", "D_fake"))),
    visual_names=("input", "output", "target"),
    discriminators={"D": 3}, discriminator_losses=(("D_real", "D_fake"),),  # D sees (L, ab)
    one_direction=True, single_folder=True, option_group="colorization",
    # the demo scores summer -> winter against the true translation, not grey -> colour
    demo=False,
    # the reference's colorization = its pix2pix settings (U-Net G with dropout, batch norm, vanilla GAN, no
    # image pool) with 1 input and 2 output channels: colorize_unet_256 wraps that U-Net (models/lab.py)
    defaults={"netG": "colorize_unet_256", "norm": "batch", "use_dropout": True, "gan_mode": "vanilla",
              "pool_size": 0},
))


def _cut() -> type:
    from .cut import CUT
    return CUT


# CUT and FastCUT: the same maths, the reference's two sets of defaults (its CUT_mode option)
_CUT_COMMON = dict(
    load=_cut,
    loss_names=("G_GAN", "D_real", "D_fake", "NCE", "NCE_Y"),
    progress_losses=("G_GAN", "D_real", "D_fake", "NCE", "NCE_Y"),
    health_losses=("NCE",),
    loss_groups=(("PatchNCE (x lambda)", ("NCE", "NCE_Y")), ("adversarial (generator)", ("G_GAN",)),
                 ("discriminator", ("D_real", "D_fake"))),
    visual_names=("input", "output", "target", "identity"),
    discriminators={"D": 3}, discriminator_losses=(("D_real", "D_fake"),),
    one_direction=True, option_group="cut",
    # measured: 400 demo steps at 64 px lift the toy scenes' PSNR from 9.0 (untrained) to 11.6 (CUT) /
    # 9.7 (FastCUT) dB against the demo's bar of +3 dB (CycleGAN: 20.9); CUT needs far longer runs
    demo=False,
)
_CUT_DEFAULTS = {"netG": "cut_resnet_9blocks", "netD": "cut_basic", "init_type": "xavier", "pool_size": 0}

register(ObjectiveSpec(
    name="cut", summary="contrastive unpaired translation one way (Park et al. 2020): G, D, PatchNCE with identity",
    defaults={**_CUT_DEFAULTS, "nce_idt": True, "lambda_nce": 1.0, "flip_equivariance": False,
              "n_epochs": 200, "n_epochs_decay": 200},
    **_CUT_COMMON,
))

register(ObjectiveSpec(
    name="fastcut", summary="FastCUT: CUT without the identity term, PatchNCE x10, flip equivariance, 150+50 epochs",
    defaults={**_CUT_DEFAULTS, "nce_idt": False, "lambda_nce": 10.0, "flip_equivariance": True,
              "n_epochs": 150, "n_epochs_decay": 50},
    **_CUT_COMMON,
))

register(ObjectiveSpec(
    name="distill", summary="a small student generator imitates one direction of a trained model (GAN Compression)",
    load=_distill,
    loss_names=("G_gan", "recon", "distill", "D"),
    progress_losses=("G_gan", "recon", "distill", "D"),
    health_losses=("recon",),
    loss_groups=(("imitating the teacher (x lambda)", ("recon", "distill")), ("adversarial", ("G_gan", "D"))),
    visual_names=("input", "teacher", "student"),
    discriminators={"D": 3}, discriminator_losses=(("D",),),
    one_direction=True, option_group="distillation",
    requires={"teacher": "distillation needs --teacher (a trained model or run folder)"},
    defaults={"netG": "mobile_resnet_9blocks", "ngf": 16},  # a phone-sized student
))
