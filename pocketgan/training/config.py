"""The configuration of a training run: what every objective shares, in :class:`TrainConfig`, and
the objective's own options, in the dataclass its module declares beside its class (e.g.
``CycleGANOptions`` in cyclegan.py), held as ``cfg.options``.

Defaults are the papers' / reference implementations' (an objective's registry entry may differ,
e.g. pix2pix's U-Net). Field metadata (:func:`opt`) carries the ``--help`` text and the group, so
the CLI and ``info`` are generated from here and cannot drift. A run config is saved flat — the
shared fields and the objective's options side by side, as train_config.json and every checkpoint
hold it — and read back through :meth:`TrainConfig.from_dict`, which checks it field by field.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path

from ..choices import DIFFAUGMENT_POLICIES, EVAL_CONVENTIONS, GAN_MODES, INIT_TYPES, LOGGERS, NORMS, PREPROCESS_MODES
from ..directions import DIRECTION_NAMES
from ..errors import PocketganError
from .objectives import OBJECTIVES, get_objective


def opt(default, help: str, group: str, runtime: bool = False, choices=None):
    """A config field. ``runtime`` fields may change when resuming (they don't alter the maths)."""
    return field(default=default, metadata={"help": help, "group": group, "runtime": runtime, "choices": choices})


class ConfigError(PocketganError):
    """An option value that cannot work (one line naming the option)."""


@dataclass
class TrainConfig:
    # --- data -------------------------------------------------------------------------------
    data: str | None = opt(None, "dataset root holding trainA/ and trainB/ (testA/ testB/ optional, used for samples)", "data",
                           runtime=True)
    a: str | None = opt(None, "folder of domain-A training images (instead of --data)", "data", runtime=True)
    b: str | None = opt(None, "folder of domain-B training images (instead of --data)", "data", runtime=True)
    preprocess: str = opt("resize_and_crop", "training-time resize/crop", "data",
                          choices=PREPROCESS_MODES)
    load_size: int = opt(286, "resize images to this size before cropping", "data")
    crop_size: int = opt(256, "random crop size = training resolution", "data")
    flip: bool = opt(True, "random horizontal flips", "data")
    max_pixels: int = opt(8192 * 8192, "refuse images with more pixels than this (decompression-bomb guard)", "data",
                          runtime=True)

    # --- model ------------------------------------------------------------------------------
    model: str = opt("cyclegan", "training objective (`pocketgan train --help` lists them; see objectives.py)", "model")
    direction: str = opt("AtoB", "objectives that learn one direction (pix2pix, distill): AtoB (the model folder "
                                 "holds G_A) or BtoA (G_B)", "model", choices=DIRECTION_NAMES)
    netG: str = opt("resnet_9blocks", "generator architecture (see `pocketgan.models.list_generators()`)", "model")
    ngf: int = opt(64, "generator width (filters in the first conv)", "model")
    netD: str = opt("basic", "discriminator: basic = 70x70 PatchGAN, n_layers, pixel; cut_basic / cut_n_layers = "
                             "the same with anti-aliased (blur) downsampling, CUT's default", "model")
    ndf: int = opt(64, "discriminator width", "model")
    n_layers_D: int = opt(3, "depth of the 'n_layers' discriminator", "model")
    norm: str = opt("auto", "normalisation in G and D; auto = instance (the reference's), but batch for a mobile G "
                            "(it folds into the convs at export; D keeps instance)", "model",
                    choices=("auto", *NORMS))
    use_dropout: bool = opt(False, "dropout in the generator's residual blocks", "model")
    residual: bool = opt(False, "mobile generators: predict a change to the input image and start as the identity "
                                "(short runs start from 'do nothing' instead of noise)", "model")
    init_type: str = opt("normal", "weight initialisation", "model", choices=INIT_TYPES)
    init_gain: float = opt(0.02, "scale of the initialisation", "model")

    # --- objective (every objective) ----------------------------------------------------------
    gan_mode: str = opt("lsgan", "adversarial loss", "objective", choices=GAN_MODES)
    pool_size: int = opt(50, "history of generated images shown to D (0 disables)", "objective")
    lambda_gan: float = opt(1.0, "weight of the generator's adversarial loss", "objective")
    diffaugment: str = opt("", "DiffAugment: augment every image the discriminators see, real and fake, with these "
                               "differentiable policies (comma-separated: color, translation, cutout; empty = off); "
                               "against D overfitting small datasets", "objective")

    # --- optimisation -----------------------------------------------------------------------
    lr: float = opt(2e-4, "Adam learning rate", "optimisation")
    beta1: float = opt(0.5, "Adam beta1", "optimisation")
    beta2: float = opt(0.999, "Adam beta2", "optimisation")
    batch_size: int = opt(1, "images per domain per step", "optimisation")
    n_epochs: int = opt(100, "epochs at the initial learning rate", "optimisation")
    n_epochs_decay: int = opt(100, "epochs of linear decay to zero after that", "optimisation")
    seed: int = opt(0, "seed for weights, data order, augmentation and image pools", "optimisation")
    ema_decay: float = opt(0.0, "keep an exponential moving average of the generators' weights with this decay "
                                "(e.g. 0.999 = roughly the last 1000 steps) and save, sample and evaluate it instead "
                                "of the last step's weights; 0 = off", "optimisation")
    init_from: str | None = opt(None, "start from trained weights instead of random ones (a second schedule, or "
                                      "fine-tuning): a run folder (its last checkpoint: generators and "
                                      "discriminators) or a model folder, model name or hf://ORG/NAME[@REVISION] "
                                      "(generators; discriminators start fresh; a Hub model is pinned to its commit "
                                      "in the run's config). Optimizers, LR schedule and step count start anew; the architecture "
                                      "must match", "optimisation")

    # --- run (may change on --resume) -------------------------------------------------------
    name: str | None = opt(None, "run name (default: the dataset folder's name)", "run", runtime=True)
    runs_dir: str = opt("runs", "parent folder of run folders", "run", runtime=True)
    device: str = opt("auto", "auto, cpu, cuda, cuda:1, mps", "run", runtime=True)
    threads: int = opt(0, "CPU threads for torch (0 = torch's default)", "run", runtime=True)
    workers: int = opt(-1, "data loader processes (-1 = auto: 0 on CPU, 4 on GPU)", "run", runtime=True)
    log_every: int = opt(50, "log losses to metrics.jsonl and the progress bar every N steps", "run", runtime=True)
    sample_every: int = opt(1000, "write a sample grid every N steps (and at each epoch end; 0 = epoch ends only)", "run",
                            runtime=True)
    checkpoint_every: int = opt(1000, "checkpoint every N steps (and at each epoch end, at the end, and on Ctrl-C)", "run",
                                runtime=True)
    max_steps: int = opt(0, "stop (with a checkpoint) after this many steps in total; 0 = run the full schedule", "run",
                         runtime=True)
    progress: bool = opt(True, "show the progress bar", "run", runtime=True)
    logger: str = opt("", "also log the run to these experiment trackers, comma-separated: tensorboard (event files in "
                          "runs/NAME/tensorboard), mlflow (MLFLOW_TRACKING_URI, default a local store; a resumed run "
                          "continues its MLflow run); empty = metrics.jsonl only", "run", runtime=True)

    # --- speed (hardware fast paths; auto = what measured fastest on that hardware) -----------
    channels_last: str = opt("auto", "channels-last (NHWC) memory layout for the networks and batches; auto = on for "
                                     "CUDA, off on CPU (slower there; benchmarks/README.md)", "speed", runtime=True,
                             choices=("auto", "on", "off"))
    compile: str = opt("auto", "torch.compile the networks' training forward (falls back to eager with a warning if it "
                               "fails); auto = on for CUDA, off on CPU (slower there, after a long compile)",
                       "speed", runtime=True, choices=("auto", "on", "off"))
    amp: str = opt("auto", "mixed precision: bf16 autocast, or fp16 autocast with dynamic loss scaling; auto = bf16 on "
                           "CUDA GPUs that support it, fp16 on older CUDA GPUs, bf16 on CPUs with native bf16 "
                           "(AVX512-BF16/AMX), off on other CPUs (emulated bf16 is far slower); speeds in benchmarks/README.md",
                   "speed", choices=("auto", "bf16", "fp16", "off"))
    adam: str = opt("auto", "Adam implementation: auto = fused on CUDA, foreach elsewhere (bit-identical to the plain "
                            "per-parameter loop on CPU)", "speed", runtime=True, choices=("auto", "plain", "foreach", "fused"))

    grad_checkpoint: bool = opt(False, "recompute the generator's residual blocks in the backward pass instead of storing "
                                       "their activations (same results, less memory, more compute; resnet "
                                       "generators)", "speed", runtime=True)

    # --- evaluation during training ---------------------------------------------------------
    eval_every: int = opt(0, "every N epochs, FID/KID on a fixed test subset (eval.jsonl) and keep the best-KID "
                             "generators in runs/NAME/best/; 0 = off", "evaluation", runtime=True)
    eval_images: int = opt(100, "test images per domain for --eval-every", "evaluation", runtime=True)
    eval_convention: str = opt("clean", "FID resize convention", "evaluation", runtime=True, choices=EVAL_CONVENTIONS)

    # --- the objective's own options (its module's dataclass; None: its defaults) -----------------
    options: typing.Any = field(default=None, metadata={"group": None, "help": "", "runtime": False, "choices": None})

    def __post_init__(self) -> None:
        if self.options is None:
            self.options = objective_options(self.model)()
            for k, v in get_objective(self.model).defaults.items():
                if k in option_names(self.model):
                    setattr(self.options, k, v)

    @property
    def g_norm(self) -> str:
        if self.norm != "auto":
            return self.norm
        return "batch" if self.netG.startswith("mobile") else "instance"

    @property
    def d_norm(self) -> str:
        return "instance" if self.norm == "auto" else self.norm

    @property
    def total_epochs(self) -> int:
        return self.n_epochs + self.n_epochs_decay

    def validate(self, require_data: bool = True) -> None:
        """One :class:`ConfigError` line naming the option, for the first problem found
        (``require_data=False``: a config that names no data yet, e.g. a recipe being printed)."""
        check_fields(self.shared_dict())  # types first: a str where a number belongs is named, not compared
        if self.model not in OBJECTIVES:
            raise ConfigError(f"model must be one of {', '.join(OBJECTIVES)} (got {self.model!r})")
        options_cls = objective_options(self.model)
        if type(self.options) is not options_cls:
            raise ConfigError(f"options: {type(self.options).__name__} is not {options_cls.__name__}, the options of "
                              f"objective {self.model}")
        check_fields(dataclasses.asdict(self.options), options_cls)
        if OBJECTIVES[self.model].single_folder:  # one folder of images (colorization)
            if self.b is not None:
                raise ConfigError(f"--b: {self.model} trains on one folder of images: give --data ROOT (with train/) "
                                  "or --a DIR alone")
            if require_data and self.data is None and self.a is None:
                raise ConfigError(f"give --data ROOT (with train/, test/ optional) or --a DIR: {self.model} trains on "
                                  "one folder of images")
        elif require_data and self.data is None and (self.a is None or self.b is None):
            raise ConfigError("give --data ROOT (with trainA/ and trainB/) or both --a DIR and --b DIR")
        if self.data is not None and (self.a is not None or self.b is not None):
            raise ConfigError("give either --data or --a/--b, not both")
        at_least(self, 1, "load_size", "crop_size", "ngf", "ndf", "batch_size", "n_layers_D", "log_every", "eval_images")
        at_least(self, 0, "pool_size", "threads", "sample_every", "checkpoint_every", "max_steps", "eval_every",
                 "lambda_gan")
        if not self.lr > 0:
            raise ConfigError(f"--lr must be > 0 (got {self.lr})")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"--ema-decay must be >= 0 and < 1, e.g. 0.999 (got {self.ema_decay})")
        unknown = [p for p in self.logger.split(",") if p.strip() and p.strip() not in LOGGERS]
        if unknown:
            raise ConfigError(f"--logger: unknown tracker {unknown[0].strip()!r} (use any of {', '.join(LOGGERS)}, "
                              "comma-separated)")
        unknown = [p for p in self.diffaugment.split(",") if p.strip() and p.strip() not in DIFFAUGMENT_POLICIES]
        if unknown:
            raise ConfigError(f"--diffaugment: unknown policy {unknown[0].strip()!r} (use any of "
                              f"{', '.join(DIFFAUGMENT_POLICIES)}, comma-separated)")
        for name, why in OBJECTIVES[self.model].requires.items():
            if getattr(self.options, name) in (None, ""):
                raise ConfigError(why)
        if self.n_epochs < 0 or self.n_epochs_decay < 0 or self.total_epochs < 1:
            raise ConfigError("n_epochs + n_epochs_decay must be >= 1")
        for source in (self, self.options):
            for f in dataclasses.fields(source):
                choices = f.metadata.get("choices")
                if choices and getattr(source, f.name) not in choices:
                    raise ConfigError(f"--{f.name.replace('_', '-')} must be one of {', '.join(choices)} "
                                      f"(got {getattr(source, f.name)!r})")
        if hasattr(self.options, "validate"):
            self.options.validate()

    def shared_dict(self) -> dict:
        """The fields every objective has (everything but ``options``)."""
        return {f.name: getattr(self, f.name) for f in shared_fields()}

    def to_dict(self) -> dict:
        """Flat: the shared fields, then the objective's options (train_config.json, checkpoints)."""
        return {**self.shared_dict(), **dataclasses.asdict(self.options)}

    @classmethod
    def from_dict(cls, d: dict, strict: bool = False) -> TrainConfig:
        """The config a flat dict describes (``to_dict``'s inverse; a partial one is completed with the
        objective's defaults), checked field by field (:func:`check_fields`); not yet validated.
        Options of *other* objectives are ignored: configs written before objectives owned their
        options held every objective's, and must still load. ``strict`` (what a user wrote: a
        config file, flags) refuses those that differ from their objective's default: a setting
        that would silently do nothing."""
        if not isinstance(d, dict):
            raise ConfigError(f"a run config must be a mapping of option names to values (got {type(d).__name__})")
        model = d.get("model", cls.model)
        if not isinstance(model, str) or model not in OBJECTIVES:
            shown = json.dumps(model)[:60] if _jsonable(model) else repr(model)[:60]
            raise ConfigError(f"model: {shown} is not an objective (one of {', '.join(OBJECTIVES)})")
        own, shared = option_names(model), {f.name for f in shared_fields()}
        if strict:
            check_foreign_options(d, model, own | shared)
        d = {**get_objective(model).defaults, **{k: v for k, v in d.items() if k in own or k in shared or
                                                 k not in all_option_names()}}
        check_fields({k: v for k, v in d.items() if k not in own}, cls, also=own)
        options_cls = objective_options(model)
        check_fields({k: v for k, v in d.items() if k in own}, options_cls)
        return cls(**{k: v for k, v in d.items() if k in shared},
                   options=options_cls(**{k: v for k, v in d.items() if k in own}))


def check_foreign_options(d: dict, model: str, known: set[str]) -> None:
    """One line for the first key of ``d`` that is another objective's option, set to a value
    other than that objective's default."""
    for key, value in d.items():
        if key in known:
            continue
        for other in OBJECTIVES:
            f = next((f for f in dataclasses.fields(objective_options(other)) if f.name == key), None)
            if f is not None and value != get_objective(other).defaults.get(key, f.default):
                raise ConfigError(f"{key}: an option of {other}, not of {model} (it would do nothing here)")


def shared_fields() -> tuple[dataclasses.Field, ...]:
    """TrainConfig's fields but ``options``: what the CLI's shared groups show."""
    return tuple(f for f in dataclasses.fields(TrainConfig) if f.name != "options")


@dataclass
class NoOptions:
    """The options of an objective that declares none."""


def objective_options(model: str) -> type:
    """The options dataclass of objective ``model`` (imports its module: torch)."""
    return getattr(get_objective(model).load(), "Options", None) or NoOptions


def option_names(model: str) -> set[str]:
    return {f.name for f in dataclasses.fields(objective_options(model))}


def all_option_names() -> set[str]:
    """Every registered objective's option names (to recognise configs of the old, flat layout)."""
    return set().union(*(option_names(name) for name in OBJECTIVES))


def at_least(source, low: int, *names: str) -> None:
    """One ConfigError line for the first of ``names`` below ``low`` (as its --flag)."""
    for name in names:
        if getattr(source, name) < low:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= {low} (got {getattr(source, name)})")


def type_name(hint) -> str:
    """"a whole number", "a number", "text", "true or false", or "... or null" for ``X | None``."""
    names = {int: "a whole number", float: "a number", str: "text", bool: "true or false", type(None): "null"}
    return " or ".join(names.get(t, getattr(t, "__name__", str(t))) for t in (typing.get_args(hint) or (hint,)))


def fits_type(value, hint) -> bool:
    """``value`` (as JSON or YAML gives it) fits a config field's annotation: int, float (an int
    too), str, bool (never 1/0: a typo should not pass), or ``X | None``."""
    for t in typing.get_args(hint) or (hint,):
        if (t is type(None) and value is None) or (t in (bool, int) and type(value) is t) \
                or (t is float and type(value) in (int, float) and math.isfinite(value)) \
                or (t is str and isinstance(value, str)):
            return True
    return False


def check_fields(d, cls=None, also: set[str] = frozenset()) -> None:
    """Every key of ``d`` is a field of ``cls`` (TrainConfig's shared fields by default; else one
    line naming it and the closest real key, among ``also`` too) and every value has its field's
    type (else one line naming the field, the value and the type)."""
    if not isinstance(d, dict):
        raise ConfigError(f"a run config must be a mapping of option names to values (got {type(d).__name__})")
    cls = cls or TrainConfig
    hints = {k: v for k, v in typing.get_type_hints(cls).items() if k != "options"}
    for key, value in d.items():
        if key not in hints:
            names = [*hints, *also]
            close = [k for k in names if k.lower() == str(key).lower()] or difflib.get_close_matches(str(key), names, n=1)
            raise ConfigError(f"unknown option {key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        if not fits_type(value, hints[key]):
            shown = json.dumps(value)[:60] if _jsonable(value) else repr(value)[:60]
            raise ConfigError(f"{key}: {shown} is not {type_name(hints[key])}")


def _jsonable(value) -> bool:
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False


def read_run_config(d, source: str | Path) -> TrainConfig:
    """The valid TrainConfig a saved run config (train_config.json, a checkpoint's copy) describes, or
    one :class:`ConfigError` line naming ``source`` and the field: what every reader of a run
    config goes through, so a hand edit is named, not met as a TypeError deep in the trainer."""
    try:
        cfg = TrainConfig.from_dict(d)
        cfg.validate()
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None
    return cfg


def config_for(model: str = "cyclegan", strict: bool = False, **given) -> TrainConfig:
    """A TrainConfig for ``model`` with that objective's defaults (its registry entry) under the
    explicitly ``given`` values (shared fields and the objective's options alike, flat)."""
    return TrainConfig.from_dict({**given, "model": model}, strict=strict)


def runtime_fields(model: str | None = None) -> set[str]:
    """The fields a resume may change (they don't alter the maths), shared and, with ``model``, the
    objective's own (e.g. distill's --teacher location)."""
    fields = [*shared_fields(), *(dataclasses.fields(objective_options(model)) if model else ())]
    return {f.name for f in fields if f.metadata.get("runtime")}
