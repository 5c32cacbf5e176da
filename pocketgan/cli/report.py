"""`pocketgan report`: a run's report.html, or a model's card and before/after page."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub) -> None:
    rp = sub.add_parser("report", help="write runs/NAME/report.html (health checks, loss curves, samples, FID/KID, sizes, "
                                       "config), or a model's card and before/after page",
                        description="For a run folder: runs/NAME/report.html. For a model (name such as summer2winter, or "
                                    "folder): report-NAME.html with its model card, measured scores, size, and what it "
                                    "does to pocketgan's synthetic scenes and to --images (your own photos).")
    rp.add_argument("run", help="run folder, model folder or model name")
    rp.add_argument("--images", help="folder of your own photos to show before/after (model reports)")
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
        from ..data.images import scan_folder

        scan = scan_folder(args.images)
        for line in scan.warnings():
            print(f"warning: {line}", file=sys.stderr)
        photos = scan.files[:6]
    out = build_model_report(model, args.out or f"report-{model.name}.html", photos, args.figure)
    print(f"wrote {out}" + (f" and {args.figure}" if args.figure else ""))
    return 0
