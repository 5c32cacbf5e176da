"""`pocketgan data`: dataset tools (pair two matched folders for pix2pix; download standard datasets)."""
from __future__ import annotations

import argparse

from ..choices import IMAGE_FORMATS


def add_parser(sub) -> None:
    da = sub.add_parser("data", help="dataset tools: build the aligned pix2pix layout from two matched folders; "
                                     "download standard datasets")
    da_sub = da.add_subparsers(dest="data_command", required=True, metavar="TOOL")
    pr = da_sub.add_parser("pair", help="combine A_DIR/x.png and B_DIR/x.png into OUT/SPLIT/x.png (A left, B right)",
                           description="Build the reference's aligned layout for pix2pix: every file of A_DIR is matched "
                                       "with the file of the same name in B_DIR and written side by side. Unmatched "
                                       "names, pairs of different sizes or unreadable files are errors; nothing is "
                                       "written then.")
    pr.add_argument("dir_a", metavar="A_DIR")
    pr.add_argument("dir_b", metavar="B_DIR")
    pr.add_argument("--out", required=True, help="dataset root to write (OUT/SPLIT/)")
    pr.add_argument("--split", default="train", help="train, val or test (default: train)")
    pr.add_argument("--format", default="png", choices=IMAGE_FORMATS, help="(default: png, lossless)")
    pr.add_argument("--no-progress", action="store_true")
    dl = da_sub.add_parser("download", help="download a standard CycleGAN / pix2pix dataset (resumable, verified)",
                           description="Fetch NAME from the CycleGAN/pix2pix authors' server into ROOT/NAME "
                                       "(trainA/ trainB/ testA/ testB/, or train/ val/ for pix2pix/NAME). An "
                                       "interrupted download resumes when run again.")
    dl.add_argument("name", nargs="?", help="dataset name, e.g. horse2zebra or pix2pix/facades (omit with --list)")
    dl.add_argument("--root", default="datasets", help="parent folder (default: datasets)")
    dl.add_argument("--list", action="store_true", help="list the known datasets")
    dl.add_argument("--no-progress", action="store_true")
    da.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.data_command == "download":
        from ..data.download import CATALOGUE, download_dataset

        if args.list or not args.name:
            for name, src in sorted(CATALOGUE.items()):
                print(f"{name:28} {src.kind:9} {src.url}")
            return 0
        folder = download_dataset(args.name, args.root, progress=not args.no_progress)
        print(f"dataset ready in {folder}")
        return 0

    from ..data.paired import make_aligned

    written = make_aligned(args.dir_a, args.dir_b, args.out, args.split, args.format, progress=not args.no_progress)
    print(f"wrote {len(written)} aligned pairs to {args.out}/{args.split}")
    return 0
