"""`pocketgan export`: a generator as ONNX or LiteRT (TFLite), verified against PyTorch."""
from __future__ import annotations

import argparse

from ..choices import EXPORT_FORMATS, QUANTIZE_MODES
from ..directions import DIRECTION_NAMES
from ..errors import OptionError, PocketganError
from .options import MODEL_HELP, output_file, write_error


def export_size(text: str) -> tuple[int, int]:
    """An argparse type: N or HxW (height x width), each side 1..4096, as (height, width)."""
    from ..export.sizes import parse_size

    try:
        return parse_size(text)
    except OptionError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_parser(sub) -> None:
    ex = sub.add_parser("export", help="export a generator to ONNX or LiteRT (TFLite) for phones and browsers, "
                                       "verified against PyTorch",
                        description="Write MODEL/export/G_A_256.onnx (or --out) and a model card JSON beside it. The graph "
                                    "takes and returns uint8 RGB NHWC images [0,255] (tensors `image` -> `translated`; "
                                    "LiteRT signature `serving_default`, with TFLite metadata). ONNX has dynamic height/width; "
                                    "LiteRT files are fixed at --size (square or not). Each export is checked against "
                                    "PyTorch on a fixed image and is not written when its PSNR is below the floor for "
                                    "its precision (fp32 40 dB, "
                                    "fp16 35 dB, int8 25 dB) unless --force. "
                                    "Exports of a bundled model go to the model home (`pocketgan models` shows where).")
    ex.add_argument("--model", required=True, help=MODEL_HELP)
    ex.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    ex.add_argument("--quantize", choices=QUANTIZE_MODES, help="smaller/faster weights (int8 needs --calibration)")
    ex.add_argument("--size", type=export_size, default=(256, 256), metavar="N|HxW",
                    help="export/verification size: N (square) or HxW, HEIGHT x WIDTH, e.g. 384x512 for a "
                         "portrait 3:4 photo; a LiteRT file's fixed input size; each side a multiple of 4 "
                         "(of 256 for unet_256), 1-4096 (default: 256)")
    ex.add_argument("--direction", default="AtoB", choices=DIRECTION_NAMES, help="(default: AtoB)")
    ex.add_argument("--calibration", help="folder of real input images for int8 calibration")
    ex.add_argument("--out", type=output_file((".onnx", ".tflite")),
                    help="output file, .onnx or .tflite as --format (default: MODEL/export/G_X_SIZE[_q].EXT, "
                         "SIZE as N or HxW)")
    ex.add_argument("--force", action="store_true",
                    help="write the file even when it agrees with PyTorch less than the quality floor "
                         "(its model card then says so)")
    ex.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..models.zoo import resolve_model

    if args.out and not args.out.lower().endswith("." + args.format):
        raise OptionError(f"--out {args.out}: a --format {args.format} file must end with .{args.format}")
    model = resolve_model(args.model)
    from ..export.exporter import export_model

    try:
        path, card = export_model(model, args.format, args.size, args.quantize, args.direction, args.out,
                                  args.calibration, force=args.force)
    except OSError as e:  # exports are written whole or not at all: say so, in one line
        raise PocketganError(write_error(e.filename or args.out or "the export", e)) from None
    p = card["parity_vs_pytorch"]
    below = "" if p["meets_floor"] else f" (BELOW the {card['quantize']} floor of {p['floor_psnr_db']:g} dB; --force)"
    print(f"wrote {path} ({card['bytes'] / 1e6:.2f} MB, {card['quantize']}); vs PyTorch: PSNR {p['psnr_db']} dB{below}, "
          f"max abs error {p['max_abs_error']}/255; model card {path.name}.json")
    return 0
