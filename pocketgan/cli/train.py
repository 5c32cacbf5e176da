"""`pocketgan train` and `pocketgan distill`.

Their flags are generated from the config (one source of truth for names, defaults and help): the
options every objective shares come from :class:`~pocketgan.training.config.TrainConfig`, an
objective's own from the options dataclass its module declares. Parsing stays torch-free for the
shared flags; an objective's own flags are parsed once the objective is known (``--objective``,
the ``model`` of ``--config``, the resumed run's, or cyclegan), which imports its module — where
torch is needed anyway to train. Hence ``train --help`` lists the shared options and names each
objective, and ``train --objective cut --help`` adds CUT's. ``distill`` is ``train --objective
distill`` with ``--student`` for ``--netG``.

Precedence: the objective's defaults, then ``--config`` (a file or a shipped recipe), then flags.
"""
from __future__ import annotations

import argparse
import dataclasses
import difflib
import sys
import typing

from ..training.config import TrainConfig, shared_fields
from ..training.objectives import OBJECTIVES, get_objective, objective_names
from .options import finite_float

GROUP_TITLES = {"objective": "objective options (every objective)", "evaluation": "evaluation during training"}
META = ("command", "func", "resume", "config", "print_config", "list_recipes", "objective", "model_alias", "help",
        "accepts_extra", "extra")  # parsed values that are not config fields


def group_title(group: str, fields: typing.Sequence[dataclasses.Field]) -> str:
    """"run options (may change on --resume)", "cut options (--objective cut, fastcut)", ..."""
    owners = [spec.name for spec in OBJECTIVES.values() if spec.option_group == group]
    if owners:
        return f"{group} options (--objective {', '.join(owners)})"
    title = GROUP_TITLES.get(group, f"{group} options")
    if fields and all(f.metadata["runtime"] for f in fields):
        title += " (may change on --resume)"
    return title


def _default_text(f: dataclasses.Field, defaults: dict, shown_for: str | None) -> str:
    """" (default: X)", the objective's own where it differs; "" where the help states it or there is none."""
    shown = defaults.get(f.name, f.default)
    if "(default" in f.metadata["help"] or shown is None:
        return ""
    others = [f"--objective {spec.name}: {spec.defaults[f.name]}" for spec in OBJECTIVES.values()
              if shown_for is None and f.name in spec.defaults and spec.defaults[f.name] != shown]
    return f" (default: {'; '.join([str(shown), *others])})"


def add_field_flags(parser: argparse.ArgumentParser, fields: typing.Sequence[dataclasses.Field], hints: dict,
                    defaults: dict, shown_for: str | None, aliases: dict[str, str] | None = None) -> None:
    """One flag per field, one argument group per config group. Flags default to SUPPRESS so only
    what the user typed reaches the config (and may override a config file, or on --resume)."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    for f in fields:
        group = groups.get(f.metadata["group"])
        if group is None:
            own = [g for g in fields if g.metadata["group"] == f.metadata["group"]]
            group = groups[f.metadata["group"]] = parser.add_argument_group(group_title(f.metadata["group"], own))
        flags = [a for a in ((aliases or {}).get(f.name),) if a] + ["--" + f.name.replace("_", "-")]
        help_text = (f.metadata["help"] + _default_text(f, defaults, shown_for)).replace("%", "%%")
        if hints[f.name] is bool:
            group.add_argument(*flags, dest=f.name, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                               help=help_text)
            continue
        choices = f.metadata["choices"]
        group.add_argument(*flags, dest=f.name, default=argparse.SUPPRESS, help=help_text, choices=choices,
                           type={int: int, float: finite_float}.get(hints[f.name], str),
                           metavar=None if choices else f.name.upper())


class _Formatter(argparse.HelpFormatter):
    """Wraps each line of a description or epilog on its own (argparse's default joins them), so the
    objective list keeps one objective per line."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        import textwrap

        return "\n".join(textwrap.fill(line, width, initial_indent=indent,
                                       subsequent_indent=indent + ("    " if line.startswith("  ") else ""))
                         for line in text.splitlines())


def objective_listing() -> str:
    lines = ["objectives (--objective NAME; `pocketgan train --objective NAME --help` adds its own options):"]
    lines += [f"  {name}: {OBJECTIVES[name].summary}" for name in objective_names()]
    return "\n".join(lines).replace("%", "%%")


def build(sub_or_none, command: str, objective: str | None = None) -> argparse.ArgumentParser:
    """The parser of ``command`` (train / distill): meta flags and the shared options; with
    ``objective``, also that objective's own group (imports its module)."""
    distill = command == "distill"
    kwargs = dict(add_help=False, allow_abbrev=False, formatter_class=_Formatter,
                  usage=f"pocketgan {command} [-h]{'' if distill else ' [--objective NAME]'} [--config FILE|RECIPE] "
                        "[--resume RUN] [OPTIONS]")
    if distill:
        kwargs.update(help="train a small (mobile) generator to imitate a trained one (= train --objective distill)",
                      description="Distil one direction of a trained model (--teacher) into a small student generator "
                                  "(GAN Compression): L1 to the teacher's output + matching of intermediate features "
                                  "through 1x1 adapters + an adversarial loss against real target images. Same run "
                                  "folder layout, Ctrl-C and --resume as `train`; the model folder holds the student "
                                  "(G_A for AtoB, G_B for BtoA), ready for `translate` and `export`. The same as "
                                  "`pocketgan train --objective distill`.")
    else:
        kwargs.update(help=f"train a model: {', '.join(objective_names())} (--objective)",
                      description="Train a model (by default a CycleGAN on trainA/ and trainB/, unpaired). Writes "
                                  "runs/NAME/ with samples, metrics.jsonl, checkpoints and the generators. Ctrl-C "
                                  "saves a checkpoint; continue with --resume runs/NAME.",
                      epilog=objective_listing())
    p = sub_or_none.add_parser(command, **kwargs) if sub_or_none is not None else \
        argparse.ArgumentParser(prog=f"pocketgan {command}", **{k: v for k, v in kwargs.items() if k != "help"})
    p.add_argument("-h", "--help", action="store_true", help="show this help and exit")
    if not distill:
        p.add_argument("--objective", choices=objective_names(), metavar="NAME",
                       help=f"training objective (default: {TrainConfig.model}); listed below")
        p.add_argument("--model", dest="model_alias", choices=objective_names(), metavar="NAME",
                       help="the former name of --objective (every other command's --model names a model)")
    p.add_argument("--config", metavar="FILE|RECIPE",
                   help="start from this config: a YAML or JSON file of options (a run's train_config.json as it is) "
                        "or a shipped recipe (--list-recipes); flags given beside it override it")
    p.add_argument("--print-config", action="store_true",
                   help="print the fully resolved config as YAML and exit (`--print-config > c.yaml`, then "
                        "`--config c.yaml`, reproduces the run's train_config.json)")
    p.add_argument("--list-recipes", action="store_true", help="list the shipped recipes and what each is for, and exit")
    p.add_argument("--resume", metavar="RUN",
                   help="continue RUN from its last checkpoint (only run/data-location flags may change)")
    shown_for = "distill" if distill else objective
    defaults = dict(get_objective(shown_for).defaults) if shown_for else {}
    fields = [f for f in shared_fields() if f.name != "model"]
    add_field_flags(p, fields, typing.get_type_hints(TrainConfig), defaults, shown_for,
                    aliases={"netG": "--student"} if distill else None)
    if objective:
        from ..training.config import objective_options

        options = objective_options(objective)
        add_field_flags(p, dataclasses.fields(options), typing.get_type_hints(options), defaults, shown_for)
    p.set_defaults(func=run, accepts_extra=True)
    return p


def add_parser(sub) -> None:
    build(sub, "train")
    build(sub, "distill")


def chosen_objective(args: argparse.Namespace) -> str | None:
    """The objective the command line names (None: from --config, the resumed run, or the default)."""
    if args.command == "distill":
        return "distill"
    alias, name = getattr(args, "model_alias", None), getattr(args, "objective", None)
    if alias and name and alias != name:
        raise SystemExit(f"pocketgan train: error: --model {alias} and --objective {name} disagree; give --objective")
    if alias:
        print("note: `train --model` is now `--objective` (elsewhere --model names a model); --model still works",
              file=sys.stderr)
    return name or alias


def resumed_objective(run_dir: str) -> str:
    """The objective a run folder trained (its train_config.json, else its checkpoint); cyclegan if
    neither says (resume() then explains what is wrong with the folder)."""
    from pathlib import Path

    from ..fileio import read_json
    from ..training.checkpoint import read_checkpoint_meta
    from ..training.run import RunFolder

    folder = RunFolder(Path(run_dir))
    for read in (lambda: read_json(folder.config), lambda: read_checkpoint_meta(folder.checkpoint)["config"]):
        try:
            model = read().get("model")
        except Exception:  # noqa: BLE001 - any unreadable record: resume() reports it in one line
            continue
        if model in OBJECTIVES:
            return model
    return TrainConfig.model


def own_options(command: str, objective: str, extra: list[str]) -> dict:
    """The objective's own flags among ``extra`` (what the shared parser did not know), parsed by its
    own parser: an unknown flag is argparse's usage error, with the closest real flag."""
    if not extra:
        return {}
    parser = build(None, command, objective)
    values, unknown = parser.parse_known_args(extra)
    if unknown:
        flags = [s for a in parser._actions for s in a.option_strings]
        close = difflib.get_close_matches(unknown[0].split("=")[0], flags, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        scope = "" if command == "distill" else f" of --objective {objective}"
        parser.error(f"unrecognized arguments{scope}: {' '.join(unknown)}{hint}")
    known = {a.dest for a in parser._actions}
    return {k: v for k, v in vars(values).items() if k in known and k not in META}


def run(args: argparse.Namespace) -> int:
    from ..devices import resolve_device
    from ..training.config import config_for
    from ..training.recipes import dump_config, list_recipes, load_config_file
    from ..training.run import resume, train

    if args.list_recipes:
        for name, purpose in list_recipes():
            print(f"{name:16s} {purpose}")
        return 0
    objective = chosen_objective(args)
    if args.help:
        build(None, args.command, objective).print_help()  # with its own options when one is named
        return 0
    if args.resume and args.config:
        raise SystemExit(f"pocketgan {args.command}: error: --config starts a new run; --resume continues one "
                         "(give one of them)")
    from_file = load_config_file(args.config) if args.config else {}
    if args.resume:
        objective = objective or resumed_objective(args.resume)
    objective = objective or from_file.get("model") or TrainConfig.model
    if not isinstance(objective, str) or objective not in OBJECTIVES:
        objective = str(objective)  # from_dict names the bad "model" value in one line
    given = {k: v for k, v in vars(args).items() if k not in META}
    given.update(own_options(args.command, objective if objective in OBJECTIVES else TrainConfig.model, args.extra))
    if "device" in given:
        resolve_device(given["device"])  # `--device nope` is one line before any work
    if args.resume:
        summary = resume(args.resume, given)
    else:
        cfg = config_for(objective, strict=True, **{**{k: v for k, v in from_file.items() if k != "model"}, **given})
        if args.print_config:
            cfg.validate(require_data=False)
            sys.stdout.write(dump_config(cfg))
            return 0
        summary = train(cfg)
    state = "finished" if summary["finished"] else ("interrupted" if summary["interrupted"] else "stopped")
    print(f"{state} after {summary['steps']} steps ({summary['epochs_completed']} epochs); "
          f"run folder: {summary['run_dir']}")
    if not summary["finished"]:
        print(f"continue with: pocketgan {args.command} --resume {summary['run_dir']}")
    return 130 if summary["interrupted"] else 0
