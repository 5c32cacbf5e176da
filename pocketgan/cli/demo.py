"""`pocketgan demo`: train a small model on built-in toy scenes and measure it."""
from __future__ import annotations

import argparse

from ..training.objectives import demo_objectives
from .options import positive_int


def add_parser(sub) -> None:
    d = sub.add_parser("demo", help="the main job on built-in data: train a small CycleGAN on toy summer/winter scenes "
                                    "and measure it")
    d.add_argument("--runs-dir", default="runs", help="where the run and the generated dataset go (default: runs)")
    d.add_argument("--epochs", type=positive_int, default=8,
                   help="training epochs of 50 steps (default: 8; timings in benchmarks/README.md)")
    d.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    d.add_argument("--model", default="cyclegan", choices=demo_objectives(),
                   help="the objective to train: unpaired ones on unpaired scenes, paired ones (pix2pix) on the "
                        "paired variant (default: cyclegan)")
    d.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..demo import run_demo

    result = run_demo(args.runs_dir, args.epochs, progress=not args.no_progress, model=args.model)
    return 0 if result["learned"] else 1
