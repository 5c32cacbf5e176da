"""`pocketgan report`: a run's report.html, or a model's card and before/after page."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

MAX_PHOTOS = 6  # a page a person scrolls through: more photos are named, not shown


def add_parser(sub) -> None:
    rp = sub.add_parser("report", help="write runs/NAME/report.html (loss curves, samples, health checks, FID/KID, sizes, "
                                       "config), or a model's before/after page, scores and card",
                        description="One self-contained HTML page (images embedded) to open in a browser. For a run "
                                    "folder: runs/NAME/report.html: loss curves and sample grids, then health checks, "
                                    "FID/KID and sizes, the config last. For a model (name such as summer2winter, or "
                                    "folder): report-NAME.html: what it does, its size and speed; before/after pictures of "
                                    "--images (your own photos) and of pocketgan's synthetic scenes; its scores beside "
                                    "doing nothing; then its model card (data, recipe, training stages, notes).")
    rp.add_argument("run", help="run folder, model folder or model name")
    rp.add_argument("--images", help=f"folder of your own photos to show before/after, the first {MAX_PHOTOS} "
                                     "(model reports)")
    rp.add_argument("--out", help="HTML file to write (model reports; default: report-NAME.html)")
    rp.add_argument("--figure", help="also save the before/after figure as this PNG (model reports)")
    rp.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    run_dir = Path(args.run)
    if (run_dir / "metrics.jsonl").is_file() and not (args.images or args.out or args.figure):
        from ..report import build_report

        print(f"wrote {build_report(run_dir)}")
        return 0
    from ..models.zoo import resolve_model

    model = resolve_model(args.run)
    from ..report import build_model_report

    photos = None
    if args.images:
        from ..data.inputs import scan_folder

        scan = scan_folder(args.images)
        for line in scan.warnings():
            print(f"warning: {line}", file=sys.stderr)
        photos = scan.files[:MAX_PHOTOS]
        if len(scan.files) > MAX_PHOTOS:
            print(f"note: showing the first {MAX_PHOTOS} of {len(scan.files)} photos in {args.images}", file=sys.stderr)
    from ..models.hub import display_name

    out = build_model_report(model, args.out or f"report-{display_name(model) or model.name}.html", photos, args.figure)
    print(f"wrote {out}" + (f" and {args.figure}" if args.figure else ""))
    return 0
