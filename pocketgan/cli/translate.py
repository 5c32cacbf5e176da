"""`pocketgan translate`: image and video files, folders or globs through a model."""
from __future__ import annotations

import argparse

from ..choices import IMAGE_FORMATS
from ..directions import DIRECTION_NAMES
from .options import MODEL_HELP, STRENGTH_HELP, add_device, non_negative_int, output_folder, positive_int, strength_value


def add_parser(sub) -> None:
    tr = sub.add_parser("translate", help="translate images and videos with a trained model",
                        description="Translate image and video files, folders or globs. Outputs go to --out as "
                                    "<name>.png (never over an input); videos (.mp4 .mov .mkv .webm .avi) as videos of "
                                    "the same kind, frame rate and size, audio copied (needs PyAV: "
                                    "pip install 'pocketgan[video]'). Any size: images are padded to the network's "
                                    "stride and come back at their original size. An input that cannot be read, or an "
                                    "output the file system refuses for its name (too long, not allowed there, a folder "
                                    "in the way), is skipped with a warning naming it and the rest go on. Exit status: "
                                    "0 when every input was written; 1 when some were skipped (also when that left "
                                    "nothing written), so a script sees an incomplete batch; 2 when an error stopped "
                                    "the command (a full disk, a read-only --out, a bad option).")
    tr.add_argument("inputs", nargs="+", metavar="INPUT", help="image or video files, folders or glob patterns")
    tr.add_argument("--model", help=f"{MODEL_HELP} (default: the bundled summer2winter)")
    tr.add_argument("--direction", default="AtoB", choices=DIRECTION_NAMES,
                    help="AtoB uses G_A, BtoA uses G_B (default: AtoB)")
    tr.add_argument("--out", default="translated", type=output_folder,
                    help="output folder (created if needed; default: translated)")
    tr.add_argument("--format", default="png", choices=IMAGE_FORMATS,
                    help="output format of images (default: png; videos keep their own)")
    tr.add_argument("--max-size", type=non_negative_int, default=1024,
                    help="translate at most this long a side: larger images are downscaled for the network; a "
                         "residual model's predicted change is then upsampled and applied to the full-resolution "
                         "photo (its detail kept), any other model's result is upscaled; 0 = translate at full "
                         "resolution (default: 1024)")
    tr.add_argument("--strength", type=strength_value, default=1.0, metavar="S", help=f"{STRENGTH_HELP} (default: 1)")
    tr.add_argument("--batch-size", type=positive_int, default=4,
                    help="images (or video frames) per forward pass (default: 4)")
    tr.add_argument("--stabilize", action=argparse.BooleanOptionalAction, default=True,
                    help="videos: steady the translation from frame to frame where the picture is still, so it does "
                         "not flicker (default: on; --no-stabilize translates every frame on its own)")
    add_device(tr)
    tr.add_argument("--engine", choices=("onnx", "torch"), default=None,
                    help="onnx: the model's verified ONNX export in ONNX Runtime on the CPU (exported once and cached; "
                         "the bundled models ship theirs), torch: PyTorch (default: onnx; torch with a --device "
                         "other than auto or cpu, and for videos)")
    tr.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    tr.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..inference.engines import open_pipeline
    from ..models.zoo import DEFAULT_MODEL

    if args.model is None:
        print(f"using the bundled model {DEFAULT_MODEL} ({args.direction}); `pocketgan models` lists others", flush=True)
    from ..inference.translate import translate_files

    pipe = open_pipeline(args.model, args.direction, engine=args.engine, device=args.device, max_side=args.max_size,
                         batch_size=args.batch_size, strength=args.strength)
    written, skipped, unwritten = translate_files(pipe, args.inputs, args.out, args.format,
                                                  progress=not args.no_progress, stabilize=args.stabilize)
    from ..data.inputs import is_video

    n_videos = sum(1 for p in written if is_video(p))
    n_images = len(written) - n_videos
    what = f"{n_images} image{'s' if n_images != 1 else ''}"
    if n_videos:
        videos = f"{n_videos} video{'s' if n_videos != 1 else ''}"
        what = f"{what} and {videos}" if len(written) > n_videos else videos
    print(f"wrote {what} to {args.out}" + _skips(skipped, unwritten))
    return 1 if skipped or unwritten else 0  # incomplete: see the description's "Exit status"


def _skips(skipped: list[str], unwritten: list[str]) -> str:
    """"; 2 inputs skipped, 1 output not written (see above)", or "" when nothing was."""
    parts = [f"{len(skipped)} input{'s' if len(skipped) != 1 else ''} skipped"] if skipped else []
    if unwritten:
        parts.append(f"{len(unwritten)} output{'s' if len(unwritten) != 1 else ''} not written")
    return f"; {', '.join(parts)} (see above)" if parts else ""
