"""`pocketgan train` and `pocketgan distill`.

Their flags are generated from :class:`~pocketgan.training.config.TrainConfig` (one source of truth
for names, defaults and help) and the objective registry (:mod:`pocketgan.training.objectives`),
both torch-free. ``train`` offers every objective and every objective's option group; ``distill``
is a shortcut for ``train --model distill`` that shows only the options distillation uses.
"""
from __future__ import annotations

import argparse
import dataclasses
import typing

from ..training.config import TrainConfig
from ..training.objectives import OBJECTIVES, objective_names
from .options import finite_float

GROUP_TITLES = {"objective": "objective options (every objective)", "evaluation": "evaluation during training"}
NOT_CONFIG = ("command", "resume", "func")  # parsed values that are not TrainConfig fields


def group_title(group: str) -> str:
    """"cyclegan options (--model cyclegan)", "run options (may change on --resume)", ..."""
    owners = [spec.name for spec in OBJECTIVES.values() if spec.option_group == group]
    if owners:
        return f"{group} options (--model {', '.join(owners)})"
    title = GROUP_TITLES.get(group, f"{group} options")
    fields = [f for f in dataclasses.fields(TrainConfig) if f.metadata["group"] == group]
    if fields and all(f.metadata["runtime"] for f in fields):
        title += " (may change on --resume)"
    return title


def _default_text(name: str, default, help: str, defaults: dict, per_objective: bool) -> str:
    """" (default: X; --model pix2pix: Y)", or "" where the help states it or there is none."""
    shown = defaults.get(name, default)
    others = [f"--model {spec.name}: {spec.defaults[name]}" for spec in OBJECTIVES.values()
              if per_objective and name in spec.defaults and spec.defaults[name] != shown]
    if "(default" in help or (shown is None and not others):
        return ""
    return f" (default: {'; '.join([str(shown), *others])})"


def add_config_flags(parser: argparse.ArgumentParser, skip_fields: set[str] = frozenset(),
                     skip_groups: set[str] = frozenset(), defaults: dict | None = None,
                     aliases: dict[str, str] | None = None, per_objective_defaults: bool = False,
                     overrides: dict[str, dict] | None = None) -> None:
    """One flag per TrainConfig field, in one argument group per config group. Flags default to
    SUPPRESS so only what the user typed reaches the config (and may override on --resume);
    ``defaults`` are the defaults shown (an objective's own), ``per_objective_defaults`` also names
    each objective's differing default; ``overrides``: add_argument keywords replacing a field's own
    (its help, choices)."""
    hints = typing.get_type_hints(TrainConfig)
    groups: dict[str, argparse._ArgumentGroup] = {}
    defaults, aliases, overrides = dict(defaults or {}), aliases or {}, overrides or {}
    for f in dataclasses.fields(TrainConfig):
        meta = f.metadata
        if f.name in skip_fields or meta["group"] in skip_groups:
            continue
        group = groups.get(meta["group"])
        if group is None:
            group = groups[meta["group"]] = parser.add_argument_group(group_title(meta["group"]))
        flags = [a for a in (aliases.get(f.name),) if a] + ["--" + f.name.replace("_", "-")]
        help_text = (meta["help"] + _default_text(f.name, f.default, meta["help"], defaults, per_objective_defaults)
                     ).replace("%", "%%")
        if hints[f.name] is bool:
            group.add_argument(*flags, dest=f.name, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                               help=help_text)
            continue
        kwargs = {"type": {int: int, float: finite_float}.get(hints[f.name], str), "choices": meta["choices"],
                  "help": help_text, **overrides.get(f.name, {})}
        kwargs.setdefault("metavar", None if kwargs["choices"] else f.name.upper())
        group.add_argument(*flags, dest=f.name, default=argparse.SUPPRESS, **kwargs)


def add_parser(sub) -> None:
    names = objective_names()
    t = sub.add_parser("train", help=f"train a model: {', '.join(names)} (--model)",
                       description="Train a model (by default a CycleGAN on trainA/ and trainB/, unpaired). Writes "
                                   "runs/NAME/ with samples, metrics.jsonl, checkpoints and the generators. Ctrl-C "
                                   "saves a checkpoint; continue with --resume runs/NAME. Each objective's own options "
                                   "are in its group below.")
    t.add_argument("--resume", metavar="RUN",
                   help="continue RUN from its last checkpoint (only run/data-location flags may change)")
    summaries = "; ".join(f"{n}: {OBJECTIVES[n].summary}" for n in names)
    model_flag = {"choices": names, "help": f"training objective (default: {TrainConfig.model}). {summaries}"
                                            .replace("%", "%%")}
    add_config_flags(t, per_objective_defaults=True, overrides={"model": model_flag})
    t.set_defaults(func=run)

    spec = OBJECTIVES["distill"]
    others = {s.option_group for s in OBJECTIVES.values() if s.option_group and s.option_group != spec.option_group}
    ds = sub.add_parser("distill", help="train a small (mobile) generator to imitate a trained one "
                                        "(= train --model distill)",
                        description="Distil one direction of a trained model (--teacher) into a small student generator "
                                    "(GAN Compression): L1 to the teacher's output + matching of intermediate features "
                                    "through 1x1 adapters + an adversarial loss against real target images. Same run "
                                    "folder layout, Ctrl-C and --resume as `train`; the model folder holds the student "
                                    "(G_A for AtoB, G_B for BtoA), ready for `translate` and `export`. The same as "
                                    "`pocketgan train --model distill`.")
    ds.add_argument("--resume", metavar="RUN", help="continue RUN from its last checkpoint")
    add_config_flags(ds, skip_fields={"model"}, skip_groups=others, defaults=dict(spec.defaults),
                     aliases={"netG": "--student"})
    ds.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..devices import resolve_device
    from ..training.config import config_for
    from ..training.run import resume, train

    given = {k: v for k, v in vars(args).items() if k not in NOT_CONFIG}
    if "device" in given:
        resolve_device(given["device"])  # `--device nope` is one line before any work
    if args.resume:
        summary = resume(args.resume, given)
    else:
        model = "distill" if args.command == "distill" else given.pop("model", "cyclegan")
        summary = train(config_for(model, **given))
    state = "finished" if summary["finished"] else ("interrupted" if summary["interrupted"] else "stopped")
    print(f"{state} after {summary['steps']} steps ({summary['epochs_completed']} epochs); "
          f"run folder: {summary['run_dir']}")
    if not summary["finished"]:
        print(f"continue with: pocketgan {args.command} --resume {summary['run_dir']}")
    return 130 if summary["interrupted"] else 0
