"""`pocketgan info`: architecture, parameters, MACs and training progress of a model or run."""
from __future__ import annotations

import argparse
import json

from .options import MAX_IMAGE_SIZE, image_size


def add_parser(sub) -> None:
    i = sub.add_parser("info", help="show architecture, parameters, MACs, training progress of a model or run")
    i.add_argument("path", help="model name, model folder, run folder, or training checkpoint (.safetensors)")
    i.add_argument("--size", type=image_size, default=256,
                   help=f"image size for the MAC count (1-{MAX_IMAGE_SIZE}; default: 256)")
    i.add_argument("--json", action="store_true", help="print JSON")
    i.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..models.zoo import resolve_model

    path = resolve_model(args.path)
    from ..summary import describe, format_summary

    info = describe(path, args.size)
    print(json.dumps(info, indent=2) if args.json else format_summary(info))
    return 0
