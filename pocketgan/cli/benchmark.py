"""`pocketgan benchmark`: one model in every export format and precision, one table (file size,
load time, latency on equal threads, PSNR against PyTorch; KID and the photo's change with --data)."""
from __future__ import annotations

import argparse
import os
import sys

from ..choices import BENCHMARK_FORMATS, BENCHMARK_PRECISIONS, EVAL_CONVENTIONS
from ..directions import DIRECTION_NAMES
from ..errors import MissingDependency
from .options import MODEL_HELP, int_at_least, non_negative_int, positive_int, shown


def name_list(choices: tuple[str, ...], what: str):
    """An argparse type: comma-separated names out of ``choices`` (duplicates dropped, order kept)."""
    def parse(text: str) -> list[str]:
        names = [n.strip() for n in text.split(",") if n.strip()]
        unknown = [n for n in names if n not in choices]
        if unknown or not names:
            bad = f"unknown {what} {shown(unknown[0])}" if unknown else f"no {what} given"
            raise argparse.ArgumentTypeError(f"{bad}; choose from {','.join(choices)} (comma-separated)")
        return list(dict.fromkeys(names))
    return parse


def benchmark_size(text: str) -> tuple[int, int]:
    """An argparse type: N or HxW, each side positive and a multiple of 4 (what every exporter needs)."""
    from ..errors import OptionError
    from ..export.sizes import parse_size, size_label

    try:
        size = parse_size(text)
    except OptionError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    if any(side % 4 for side in size):
        raise argparse.ArgumentTypeError(f"{size_label(size)}: each side must be a multiple of 4 (the exporters need it)")
    return size


def new_file(suffixes: tuple[str, ...]):
    """An argparse type for a file to write: one of ``suffixes``, in a folder that exists, and not a folder itself."""
    def parse(text: str) -> str:
        if not text.lower().endswith(suffixes):
            raise argparse.ArgumentTypeError(f"must end with {' or '.join(suffixes)} (got {shown(text)})")
        parent = os.path.dirname(os.path.abspath(text))
        if not os.path.isdir(parent):
            raise argparse.ArgumentTypeError(f"{shown(text)}: the folder {shown(os.path.dirname(text) or parent)} "
                                             "does not exist")
        if os.path.isdir(text):
            raise argparse.ArgumentTypeError(f"{shown(text)} is a folder")
        return text
    return parse


def add_parser(sub) -> None:
    b = sub.add_parser("benchmark", help="measure a model in every export format and precision: file size, load time, "
                                         "latency on equal threads, PSNR vs PyTorch (and KID with --data), one table",
                       description="Export the model (cached: the files `pocketgan export` writes, reused while they "
                                   "match the weights) to every --formats x --quantize and measure each on this CPU: "
                                   "file MB, load ms (session / interpreter / module, median of 3), latency ms (median "
                                   "of --runs after --warmup, batch 1, the same --threads for PyTorch, ONNX Runtime, "
                                   "LiteRT and onnxruntime-web; every row loaded first, then timed in 5 interleaved "
                                   "rounds, so load changes on a shared machine fall on all rows alike), the speed-up "
                                   "over PyTorch fp32 (always measured, the "
                                   "baseline) and the output's PSNR against PyTorch fp32 on a fixed image. --data adds "
                                   "KID x1000 and the photo's mean change on its first --limit images, beside doing "
                                   "nothing. A runtime that is not installed, or a precision a format lacks, is a "
                                   "'skipped: ...' row.")
    b.add_argument("--model", default=None, help=MODEL_HELP + "; here not an exported file, as benchmark exports every "
                                                          "format itself (default: the bundled summer2winter)")
    b.add_argument("--formats", type=name_list(BENCHMARK_FORMATS, "format"), default=list(BENCHMARK_FORMATS),
                   metavar="F[,F...]", help=f"comma-separated, of {','.join(BENCHMARK_FORMATS)}: PyTorch eager, ONNX "
                                            "Runtime, LiteRT, the ONNX file in onnxruntime-web (WebAssembly) in headless "
                                            "Chromium (default: all)")
    b.add_argument("--quantize", type=name_list(BENCHMARK_PRECISIONS, "precision"), default=list(BENCHMARK_PRECISIONS),
                   metavar="P[,P...]", help=f"comma-separated, of {','.join(BENCHMARK_PRECISIONS)} (default: all)")
    b.add_argument("--size", type=benchmark_size, default=(256, 256), metavar="N|HxW",
                   help="input size, N (square) or HxW, each side a multiple of 4 (default: 256)")
    b.add_argument("--threads", type=positive_int, default=2, help="threads for every runtime (default: 2)")
    b.add_argument("--runs", type=positive_int, default=20, help="timed runs per row (default: 20)")
    b.add_argument("--warmup", type=non_negative_int, default=3, help="untimed runs first (default: 3)")
    b.add_argument("--direction", default="AtoB", choices=DIRECTION_NAMES, help="(default: AtoB)")
    b.add_argument("--data", metavar="DIR",
                   help="real photos: a dataset root with testA/testB (translate testA, KID against testB; BtoA the "
                        "other way), a testA folder beside its testB, or any folder of images (KID then against "
                        "PyTorch fp32's translations); the fixed PSNR image becomes its first photo")
    b.add_argument("--limit", type=int_at_least(2), default=50,
                   help="with --data: the first N images (by file name) of each folder (default: 50)")
    b.add_argument("--calibration", metavar="DIR",
                   help="int8 calibration photos (default: the data's trainA/trainB, else its inputs, else 16 toy scenes)")
    b.add_argument("--convention", default="clean", choices=EVAL_CONVENTIONS, help="KID's resize convention (default: clean)")
    b.add_argument("--fresh", action="store_true", help="export every file again instead of reusing cached exports")
    b.add_argument("--json", type=new_file((".json",)), metavar="FILE", help="also write the rows and settings here")
    b.add_argument("--plot", type=new_file((".png", ".svg", ".pdf")), metavar="FILE",
                   help="also plot latency against PSNR here (needs matplotlib)")
    b.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import OptionError

    if args.plot:  # said before minutes of measuring, not after
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise MissingDependency("--plot needs matplotlib: pip install matplotlib") from None
    if args.calibration and not os.path.isdir(args.calibration):
        raise OptionError(f"--calibration {args.calibration}: no such folder")
    if args.data:  # checked before the model is loaded: a typo costs nothing
        from ..data.inputs import scan_folder
        from ..evaluation.benchmark import data_layout

        layout = data_layout(args.data, args.direction)
        scan_folder(layout.source)  # a DataError (one line) for a folder without images
        if layout.target is not None:
            scan_folder(layout.target)
    from ..evaluation.benchmark import format_table, run_benchmark, write_json, write_plot

    result = run_benchmark(args.model, args.formats, args.quantize, args.size, args.threads, args.runs, args.warmup,
                           args.direction, args.data, args.limit, args.calibration, args.fresh, args.convention,
                           progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(format_table(result))
    if args.json:
        write_json(result, args.json)
        print(f"rows in {args.json}")
    if args.plot:
        write_plot(result, args.plot)
        print(f"plot in {args.plot}")
    return 0
