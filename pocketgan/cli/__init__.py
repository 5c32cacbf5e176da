"""`pocketgan` command line: train, distill, translate, export, info, import, push, models, evaluate,
benchmark, report, serve, data, demo.

Each command's parser lives beside its handler, one module per command (or close group): a module
has ``add_parser(subparsers)`` and ``run(args) -> int``. Building the parser and parsing import
nothing heavy (no torch, numpy, PIL, onnx, fastapi...): option values come from torch-free tables
(:mod:`pocketgan.choices`, :mod:`pocketgan.directions`, the objective registry, the training
config), so ``--help``, ``--version`` and usage errors are instant; a handler imports what it needs.

Errors: a :class:`~pocketgan.errors.PocketganError` (a problem the user can fix) or an ``OSError``
(the user's environment: a missing file, a full disk, a permission) prints as one line,
``pocketgan: error: ...``, exit code 2; bad option values are argparse's usage error, also exit 2.
Anything else is a bug and keeps its traceback (exit 1).
"""
from __future__ import annotations

import argparse
import sys
import warnings

from .. import __version__
from ..errors import PocketganError, first_line
from . import benchmark, data, demo, evaluate, export, import_, info, models, push, report, serve, train, translate

# in the order `pocketgan --help` lists them
COMMAND_MODULES = (train, translate, export, info, import_, push, models, evaluate, benchmark, report, serve, data,
                   demo)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pocketgan",
                                description="Unpaired image-to-image translation (CycleGAN) that ships to phones.")
    p.add_argument("--version", action="version", version=f"pocketgan {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "accepts_extra", False):
        parser.parse_args(argv)  # argparse's own usage error for the unknown arguments (exit 2)
    args.extra = extra  # train/distill: the objective's own flags, parsed once the objective is known
    warnings.formatwarning = lambda msg, cat, *a, **k: f"warning: {msg}\n"
    try:
        return args.func(args)
    except (PocketganError, OSError) as e:
        print(f"pocketgan: error: {first_line(e, limit=1000)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pocketgan: interrupted", file=sys.stderr)
        return 130

