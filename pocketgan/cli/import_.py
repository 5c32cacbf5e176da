"""`pocketgan import`: a reference .pth generator as a model folder, or a published one by name."""
from __future__ import annotations

import argparse

from ..choices import NORMS
from ..directions import SLOTS
from ..errors import PocketganError
from .options import int_at_least, output_folder, write_error


def add_parser(sub) -> None:
    im = sub.add_parser("import", help="convert a reference .pth generator (junyanz/pytorch-CycleGAN-and-pix2pix) to a model "
                                       "folder, or download a published one (--published NAME)",
                        description="Convert latest_net_G_A.pth / latest_net_G_B.pth / latest_net_G.pth into a pocketgan "
                                    "model folder (a .safetensors of the same state_dict works too: the format is read "
                                    "from the file's bytes, not its name). Loaded with weights_only=True (no code in the "
                                    "file is run); a damaged file is one line that names it. Importing "
                                    "G_A and G_B into the same --out gives a two-way model. With --published NAME, the "
                                    "authors' published checkpoint is downloaded (resumable, size-checked), converted into "
                                    "the model home (see `pocketgan models`) and usable as --model NAME.")
    im.add_argument("pth", nargs="?", help="the .pth file")
    im.add_argument("--published", metavar="NAME", help="download and import a published checkpoint (horse2zebra, "
                                                        "style_monet, ...; `pocketgan models --published` lists them)")
    im.add_argument("--no-progress", action="store_true", help="hide the download progress bar")
    im.add_argument("--arch", default="resnet_9blocks", help="generator architecture of the file (default: resnet_9blocks)")
    im.add_argument("--out", type=output_folder, help="model folder to write (or add to); required for a .pth")
    im.add_argument("--as", dest="slot", choices=tuple(SLOTS),
                    help="which direction it is (default: from the file name; G_A unless *G_B.pth)")
    im.add_argument("--ngf", type=int_at_least(1, 1024), default=64, help="generator width (1-1024; default: 64)")
    im.add_argument("--norm", default=None, choices=NORMS,
                    help="normalisation (default: instance for resnet, batch for unet)")
    im.add_argument("--dropout", action="store_true", help="the generator has dropout layers (pix2pix U-Nets do)")
    im.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.published:
        if args.pth or args.out:
            raise PocketganError("--published NAME downloads into the model home; give no .pth or --out with it")
        from ..models.zoo import import_published

        out = import_published(args.published, progress=not args.no_progress)
        print(f"imported {args.published} into {out}; use it with --model {args.published}")
        return 0
    if not args.pth or not args.out:
        raise PocketganError("give a .pth file and --out FOLDER (or --published NAME)")
    from ..models.importing import import_reference

    norm = args.norm or ("batch" if args.arch.startswith("unet") else "instance")
    try:
        out = import_reference(args.pth, args.out, args.arch, args.slot, ngf=args.ngf, norm=norm,
                               use_dropout=args.dropout)
    except OSError as e:  # files are written atomically: a failed one leaves the folder as it was
        raise PocketganError(write_error(f"--out {args.out}", e, "its config.json was not changed")) from None
    print(f"imported {args.pth} into {out}")
    return 0
