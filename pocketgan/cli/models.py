"""`pocketgan models`: the bundled, imported and published models usable as --model NAME."""
from __future__ import annotations

import argparse
import json


def add_parser(sub) -> None:
    mo = sub.add_parser("models", help="list the bundled, imported and published models usable as --model NAME")
    mo.add_argument("--published", action="store_true",
                    help="also list every published checkpoint `import --published` can fetch")
    mo.add_argument("--json", action="store_true", help="print JSON")
    mo.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..models.zoo import list_models

    rows = list_models(include_published=args.published)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'name':34} {'kind':9} {'directions':11} {'generator':34} {'MB':>6}  where / about")
    for r in rows:
        mb = f"{r['bytes'] / 1e6:.1f}" if r.get("bytes") else ""
        about = r["about"] if len(r["about"]) <= 90 or r["kind"] == "published" else r["about"][:89] + "…"
        print(f"{r['name']:34} {r['kind']:9} {','.join(r['directions']):11} {r['generator']:34} {mb:>6}  {about}")
    if not args.published:
        print("(`pocketgan models --published` also lists the published checkpoints "
              "`pocketgan import --published NAME` fetches)")
    return 0
