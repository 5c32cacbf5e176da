"""`pocketgan evaluate`: KID/FID of a model's translations against real target images."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..choices import EVAL_CONVENTIONS
from ..directions import DIRECTION_NAMES
from .options import MODEL_HELP, STRENGTH_HELP, add_device, int_at_least, non_negative_int, positive_int, strength_value


def add_parser(sub) -> None:
    ev = sub.add_parser("evaluate", help="KID/FID of a model's translations vs real target images, beside doing nothing",
                        description="Translate testA (AtoB) or testB (BtoA) of --data and compare with the real images of the "
                                    "other domain: KID x1000 (mean ± std over subsets) and FID on Inception features, the "
                                    "same for the untranslated inputs (the 'do nothing' baseline), and the cycle "
                                    "reconstruction. Prints a table and writes eval.json (default: in the model folder; "
                                    "for a bundled model, in the model home under evaluations/NAME/; never in the "
                                    "current folder because of a model name).")
    ev.add_argument("--model", required=True, help=MODEL_HELP)
    ev.add_argument("--data", required=True, help="dataset root with testA/ and testB/")
    ev.add_argument("--direction", default="AtoB", choices=(*DIRECTION_NAMES, "both"), help="(default: AtoB)")
    ev.add_argument("--convention", default="clean", choices=EVAL_CONVENTIONS,
                    help="resize to 299 like clean-fid (default) or like pytorch-fid; they differ by 3-4 FID")
    ev.add_argument("--max-images", type=positive_int, default=None, help="use only the first N images per folder")
    ev.add_argument("--kid-subset", type=int_at_least(2), default=1000,
                    help="KID subset size (reduced, with a warning, for small folders; default: 1000)")
    ev.add_argument("--max-size", type=non_negative_int, default=0,
                    help="translate at most this long a side, e.g. the training crop size (0 = native size)")
    ev.add_argument("--strength", type=strength_value, default=1.0, metavar="S",
                    help=f"{STRENGTH_HELP}; results are kept apart per strength (default: 1)")
    ev.add_argument("--allow-small-images", action="store_true",
                    help="score a test folder even when all its images are under 75 px on their shorter side (refused "
                         "by default: Inception sees them upscaled over 4×, so FID/KID measure the blur; e.g. to "
                         "compare with published 32 px CIFAR-10 figures); they are warned about either way")
    ev.add_argument("--out", default=None,
                    help="JSON file to write/merge (default: MODEL/eval.json, or <model home>/evaluations/NAME/eval.json "
                         "for a bundled model)")
    add_device(ev)
    ev.add_argument("--no-cache", action="store_true", help="recompute real-image features instead of using the cache")
    ev.add_argument("--no-progress", action="store_true", help="hide progress bars")
    ev.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..devices import resolve_device
    from ..models.zoo import evaluation_file, resolve_model

    # resolved once, before any work: every direction reads the same model and the result never
    # lands in a folder named after the model in the current directory
    model = resolve_model(args.model)
    device = str(resolve_device(args.device))
    out = Path(args.out) if args.out else evaluation_file(model)
    from ..evaluation.evaluate import evaluate, format_result, save_result

    for direction in (DIRECTION_NAMES if args.direction == "both" else (args.direction,)):
        result = evaluate(model, args.data, direction, args.convention, device, args.max_images,
                          args.kid_subset, progress=not args.no_progress, use_cache=not args.no_cache,
                          max_side=args.max_size or None, strength=args.strength,
                          allow_small=args.allow_small_images)
        print(format_result(result))
        save_result(result, out)
    print(f"results in {out}")
    return 0
