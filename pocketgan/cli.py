"""`pocketgan` command line: train, distill, translate, serve, data, evaluate, report, info, import, models, demo.

Training flags are generated from :class:`TrainConfig` (one source of truth for names, defaults
and help). Errors the user can fix print as one line, ``pocketgan: error: ...``, exit code 2.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing
import warnings

from . import __version__


def _add_config_flags(parser: argparse.ArgumentParser, skip: set[str], defaults: dict | None = None,
                      aliases: dict[str, str] | None = None) -> None:
    """One flag per TrainConfig field (``skip``: field names, or "group:NAME" for a whole group). Flags default
    to SUPPRESS so only what the user typed reaches the config (and may override on --resume)."""
    from .training.config import TrainConfig

    hints = typing.get_type_hints(TrainConfig)
    groups: dict[str, argparse._ArgumentGroup] = {}
    defaults, aliases = defaults or {}, aliases or {}
    for f in dataclasses.fields(TrainConfig):
        meta = f.metadata
        if f.name in skip or f"group:{meta['group']}" in skip:
            continue
        group = groups.setdefault(meta["group"], parser.add_argument_group(meta["group"]))
        flags = [a for a in (aliases.get(f.name),) if a] + ["--" + f.name.replace("_", "-")]
        help_text = f"{meta['help']} (default: {defaults.get(f.name, f.default)})"
        if hints[f.name] is bool:
            group.add_argument(*flags, dest=f.name, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=help_text)
            continue
        typ = {int: int, float: float}.get(hints[f.name], str)
        group.add_argument(*flags, dest=f.name, type=typ, default=argparse.SUPPRESS, choices=meta["choices"], help=help_text,
                           metavar=None if meta["choices"] else f.name.upper())


def build_parser() -> argparse.ArgumentParser:
    from .inference.translate import FORMATS
    from .training.config import MODEL_DEFAULTS

    p = argparse.ArgumentParser(prog="pocketgan", description="Unpaired image-to-image translation (CycleGAN) that ships to phones.")
    p.add_argument("--version", action="version", version=f"pocketgan {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train a CycleGAN on two folders of unpaired images",
                       description="Train a CycleGAN on trainA/ and trainB/ (unpaired). Writes runs/NAME/ with "
                                   "samples, metrics.jsonl, checkpoints and the generators. Ctrl-C saves a checkpoint; "
                                   "continue with --resume runs/NAME.")
    t.add_argument("--resume", metavar="RUN", help="continue RUN from its last checkpoint (only run/data-location flags may change)")
    _add_config_flags(t, skip={"group:distillation"})

    ds = sub.add_parser("distill", help="train a small (mobile) generator to imitate a trained one",
                        description="Distil one direction of a trained model (--teacher) into a small student generator "
                                    "(GAN Compression): L1 to the teacher's output + matching of intermediate features "
                                    "through 1x1 adapters + an adversarial loss against real target images. Same run "
                                    "folder layout, Ctrl-C and --resume as `train`; the model folder holds the student "
                                    "(G_A for AtoB, G_B for BtoA), ready for `translate` and `export`.")
    ds.add_argument("--resume", metavar="RUN", help="continue RUN from its last checkpoint")
    _add_config_flags(ds, skip={"model", "lambda_A", "lambda_B", "lambda_identity", "lambda_L1"},
                      defaults=MODEL_DEFAULTS["distill"], aliases={"netG": "--student"})

    tr = sub.add_parser("translate", help="translate images with a trained model",
                        description="Translate image files, folders or globs. Outputs go to --out as <name>.png "
                                    "(never over an input). Any size: images are padded to the network's stride "
                                    "and come back at their original size.")
    tr.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or glob patterns")
    tr.add_argument("--model", help="model name (`pocketgan models`), model or run folder (config.json + "
                                    "G_*.safetensors), or an exported .onnx/.tflite (default: the bundled summer2winter)")
    tr.add_argument("--direction", default="AtoB", choices=("AtoB", "BtoA"), help="AtoB uses G_A, BtoA uses G_B (default: AtoB)")
    tr.add_argument("--out", default="translated", help="output folder (created if needed; default: translated)")
    tr.add_argument("--format", default="png", choices=FORMATS, help="output format (default: png)")
    tr.add_argument("--max-size", type=int, default=1024,
                    help="translate at most this long a side (larger images are downscaled for the network and the "
                         "result upscaled back); 0 = full resolution (default: 1024)")
    tr.add_argument("--batch-size", type=int, default=4, help="images per forward pass (default: 4)")
    tr.add_argument("--device", default="auto", help="auto, cpu, cuda, ... (default: auto)")
    tr.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    ex = sub.add_parser("export", help="export a generator to ONNX or LiteRT (TFLite) for phones and browsers, verified against PyTorch",
                        description="Write MODEL/export/G_A_256.onnx (or --out) and a model card JSON beside it. The graph "
                                    "takes and returns uint8 RGB NHWC images [0,255]. ONNX has dynamic height/width; LiteRT "
                                    "files are fixed at --size. Each export is checked against PyTorch on a fixed image.")
    ex.add_argument("--model", required=True, help="model name, model folder or run folder")
    ex.add_argument("--format", required=True, choices=("onnx", "tflite"))
    ex.add_argument("--quantize", choices=("fp16", "int8"), help="smaller/faster weights (int8 needs --calibration)")
    ex.add_argument("--size", type=int, default=256, help="export/verification size; LiteRT input size (default: 256)")
    ex.add_argument("--direction", default="AtoB", choices=("AtoB", "BtoA"), help="(default: AtoB)")
    ex.add_argument("--calibration", help="folder of real input images for int8 calibration")
    ex.add_argument("--out", help="output file (default: MODEL/export/G_X_SIZE[_q].EXT)")

    i = sub.add_parser("info", help="show architecture, parameters, MACs, training progress of a model or run")
    i.add_argument("path", help="model name, model folder, run folder, or training checkpoint (.safetensors)")
    i.add_argument("--size", type=int, default=256, help="image size for the MAC count (default: 256)")
    i.add_argument("--json", action="store_true", help="print JSON")

    im = sub.add_parser("import", help="convert a reference .pth generator (junyanz/pytorch-CycleGAN-and-pix2pix) to a model "
                                       "folder, or download a published one (--published NAME)",
                        description="Convert latest_net_G_A.pth / latest_net_G_B.pth / latest_net_G.pth into a pocketgan "
                                    "model folder. Loaded with weights_only=True (no code in the file is run). Importing "
                                    "G_A and G_B into the same --out gives a two-way model. With --published NAME, the "
                                    "authors' published checkpoint is downloaded (resumable, size-checked), converted into "
                                    "the model home (see `pocketgan models`) and usable as --model NAME.")
    im.add_argument("pth", nargs="?", help="the .pth file")
    im.add_argument("--published", metavar="NAME", help="download and import a published checkpoint (horse2zebra, "
                                                        "style_monet, ...; `pocketgan models --published` lists them)")
    im.add_argument("--no-progress", action="store_true", help="hide the download progress bar")
    im.add_argument("--arch", default="resnet_9blocks", help="generator architecture of the file (default: resnet_9blocks)")
    im.add_argument("--out", help="model folder to write (or add to); required for a .pth")
    im.add_argument("--as", dest="slot", choices=("G_A", "G_B"), help="which direction it is (default: from the file name; G_A unless *G_B.pth)")
    im.add_argument("--ngf", type=int, default=64, help="generator width (default: 64)")
    im.add_argument("--norm", default=None, choices=("instance", "batch", "none"),
                    help="normalisation (default: instance for resnet, batch for unet)")
    im.add_argument("--dropout", action="store_true", help="the generator has dropout layers (pix2pix U-Nets do)")

    mo = sub.add_parser("models", help="list the bundled, imported and published models usable as --model NAME")
    mo.add_argument("--published", action="store_true", help="also list every published checkpoint `import --published` can fetch")
    mo.add_argument("--json", action="store_true", help="print JSON")

    ev = sub.add_parser("evaluate", help="KID/FID of a model's translations vs real target images, beside doing nothing",
                        description="Translate testA (AtoB) or testB (BtoA) of --data and compare with the real images of the "
                                    "other domain: KID x1000 (mean ± std over subsets) and FID on Inception features, the "
                                    "same for the untranslated inputs (the 'do nothing' baseline), and the cycle "
                                    "reconstruction. Prints a table and writes eval.json (default: in the model folder).")
    ev.add_argument("--model", required=True, help="model name, model folder or run folder")
    ev.add_argument("--data", required=True, help="dataset root with testA/ and testB/")
    ev.add_argument("--direction", default="AtoB", choices=("AtoB", "BtoA", "both"), help="(default: AtoB)")
    ev.add_argument("--convention", default="clean", choices=("clean", "pytorch-fid"),
                    help="resize to 299 like clean-fid (default) or like pytorch-fid; they differ by 3-4 FID")
    ev.add_argument("--max-images", type=int, default=None, help="use only the first N images per folder")
    ev.add_argument("--kid-subset", type=int, default=1000, help="KID subset size (reduced, with a warning, for small folders)")
    ev.add_argument("--max-size", type=int, default=0,
                    help="translate at most this long a side, e.g. the training crop size (0 = native size)")
    ev.add_argument("--out", default=None, help="JSON file to write/merge (default: MODEL/eval.json)")
    ev.add_argument("--device", default="auto")
    ev.add_argument("--no-cache", action="store_true", help="recompute real-image features instead of using the cache")
    ev.add_argument("--no-progress", action="store_true", help="hide progress bars")

    rp = sub.add_parser("report", help="write runs/NAME/report.html (health checks, loss curves, samples, FID/KID, sizes, "
                                       "config), or a model's card and before/after page",
                        description="For a run folder: runs/NAME/report.html. For a model (name such as summer2winter, or "
                                    "folder): report-NAME.html with its model card, measured scores, size, and what it "
                                    "does to pocketgan's synthetic scenes and to --images (your own photos).")
    rp.add_argument("run", help="run folder, model folder or model name")
    rp.add_argument("--images", help="folder of your own photos to show before/after (model reports)")
    rp.add_argument("--out", help="HTML file to write (model reports; default: report-NAME.html)")
    rp.add_argument("--figure", help="also save the before/after figure as this PNG (model reports)")

    sv = sub.add_parser("serve", help="serve the web app that translates photos on the phone (in the browser)",
                        description="Serve an installable web app (PWA) that translates camera photos on the device "
                                    "with onnxruntime-web (WebGPU or WebAssembly): the photo never leaves the phone. "
                                    "A model folder is exported to ONNX first (cached in MODEL/export/). Also serves "
                                    "POST /api/translate for clients that cannot run the model, and /api/model.")
    sv.add_argument("--model", help="model name, model or run folder (config.json + G_*.safetensors), or an exported "
                                    ".onnx (default: the bundled summer2winter)")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on; 0.0.0.0 for phones on the network (default: 127.0.0.1)")
    sv.add_argument("--port", type=int, default=8000, help="(default: 8000)")
    sv.add_argument("--max-size", type=int, default=1024,
                    help="longest side photos are translated at, in the page and on the server; 0 = full size (default: 1024)")
    sv.add_argument("--workers", type=int, default=2, help="server-side translations at once; more requests queue (default: 2)")
    sv.add_argument("--max-upload-mb", type=float, default=20, help="largest photo POST /api/translate accepts (default: 20)")
    sv.add_argument("--device", default="cpu", help="device for server-side translation: cpu, cuda, ... (default: cpu)")

    da = sub.add_parser("data", help="dataset tools: build the aligned pix2pix layout from two matched folders")
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
    pr.add_argument("--format", default="png", choices=("png", "jpg"), help="(default: png, lossless)")
    pr.add_argument("--no-progress", action="store_true")
    dl = da_sub.add_parser("download", help="download a standard CycleGAN / pix2pix dataset (resumable, verified)",
                           description="Fetch NAME from the CycleGAN/pix2pix authors' server into ROOT/NAME "
                                       "(trainA/ trainB/ testA/ testB/, or train/ val/ for pix2pix/NAME). An "
                                       "interrupted download resumes when run again.")
    dl.add_argument("name", nargs="?", help="dataset name, e.g. horse2zebra or pix2pix/facades (omit with --list)")
    dl.add_argument("--root", default="datasets", help="parent folder (default: datasets)")
    dl.add_argument("--list", action="store_true", help="list the known datasets")
    dl.add_argument("--no-progress", action="store_true")

    d = sub.add_parser("demo", help="the main job on built-in data: train a small CycleGAN on toy summer/winter scenes and measure it")
    d.add_argument("--runs-dir", default="runs", help="where the run and the generated dataset go (default: runs)")
    d.add_argument("--epochs", type=int, default=8, help="training epochs of 50 steps (default: 8, ~2 min on 2 cores)")
    d.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    d.add_argument("--model", default="cyclegan", choices=("cyclegan", "pix2pix"),
                   help="cyclegan on unpaired scenes, or pix2pix on the paired variant (default: cyclegan)")
    return p


def cmd_train(args: argparse.Namespace) -> int:
    from .training.config import config_for
    from .training.trainer import resume, train

    given = {k: v for k, v in vars(args).items() if k not in ("command", "resume", "func")}
    if args.resume:
        summary = resume(args.resume, given)
    else:
        model = "distill" if args.command == "distill" else given.pop("model", "cyclegan")
        summary = train(config_for(model, **given))
    state = "finished" if summary["finished"] else ("interrupted" if summary["interrupted"] else "stopped")
    print(f"{state} after {summary['steps']} steps ({summary['epochs_completed']} epochs); run folder: {summary['run_dir']}")
    if not summary["finished"]:
        print(f"continue with: pocketgan {args.command} --resume {summary['run_dir']}")
    return 130 if summary["interrupted"] else 0


def cmd_translate(args: argparse.Namespace) -> int:
    from .inference.pipeline import TranslationPipeline
    from .inference.translate import translate_files

    from .models.zoo import DEFAULT_MODEL

    if args.model is None:
        print(f"using the bundled model {DEFAULT_MODEL} ({args.direction}); `pocketgan models` lists others", flush=True)
    pipe = TranslationPipeline.from_pretrained(args.model, args.direction, device=args.device,
                                               max_side=args.max_size, batch_size=args.batch_size)
    written, errors = translate_files(pipe, args.inputs, args.out, args.format, progress=not args.no_progress)
    print(f"wrote {len(written)} images to {args.out}" + (f"; {len(errors)} inputs skipped (see above)" if errors else ""))
    return 1 if errors else 0


def cmd_export(args: argparse.Namespace) -> int:
    from .export.exporter import export_model

    path, card = export_model(_model(args.model), args.format, args.size, args.quantize, args.direction, args.out, args.calibration)
    p = card["parity_vs_pytorch"]
    print(f"wrote {path} ({card['bytes'] / 1e6:.2f} MB, {card['quantize']}); vs PyTorch: PSNR {p['psnr_db']} dB, "
          f"max abs error {p['max_abs_error']}/255; model card {path.name}.json")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from .summary import describe, format_summary

    info = describe(_model(args.path), args.size)
    print(json.dumps(info, indent=2) if args.json else format_summary(info))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from .models.importing import import_reference

    if args.published:
        if args.pth or args.out:
            raise ValueError("--published NAME downloads into the model home; give no .pth or --out with it")
        from .models.zoo import import_published

        out = import_published(args.published, progress=not args.no_progress)
        print(f"imported {args.published} into {out}; use it with --model {args.published}")
        return 0
    if not args.pth or not args.out:
        raise ValueError("give a .pth file and --out FOLDER (or --published NAME)")
    norm = args.norm or ("batch" if args.arch.startswith("unet") else "instance")
    out = import_reference(args.pth, args.out, args.arch, args.slot, ngf=args.ngf, norm=norm, use_dropout=args.dropout)
    print(f"imported {args.pth} into {out}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .evaluation.evaluate import evaluate, format_result, save_result

    out = Path(args.out) if args.out else Path(args.model) / "eval.json"
    for direction in (("AtoB", "BtoA") if args.direction == "both" else (args.direction,)):
        result = evaluate(_model(args.model), args.data, direction, args.convention, args.device, args.max_images,
                          args.kid_subset, progress=not args.no_progress, use_cache=not args.no_cache,
                          max_side=args.max_size or None)
        print(format_result(result))
        save_result(result, out)
    print(f"results in {out}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .report import build_model_report, build_report

    run = Path(args.run)
    if (run / "metrics.jsonl").is_file() and not (args.images or args.out or args.figure):
        print(f"wrote {build_report(run)}")
        return 0
    model = Path(_model(args.run))
    photos = None
    if args.images:
        from .data.images import scan_folder

        scan = scan_folder(args.images)
        for line in scan.warnings():
            print(f"warning: {line}", file=sys.stderr)
        photos = scan.files[:6]
    out = build_model_report(model, args.out or f"report-{model.name}.html", photos, args.figure)
    print(f"wrote {out}" + (f" and {args.figure}" if args.figure else ""))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from .app import require_app_dependencies

    require_app_dependencies()
    import uvicorn

    from .app.assets import find_static
    from .app.server import check_address, create_app

    check_address(args.host, args.port)
    if args.max_upload_mb <= 0:
        raise ValueError(f"--max-upload-mb must be positive (got {args.max_upload_mb})")
    find_static()  # a missing web build is an error here, with the command that builds it
    args.model = _model(args.model)
    print(f"preparing {args.model} (a model folder is exported to ONNX once, then reused)", flush=True)
    app = create_app(args.model, max_side=args.max_size, workers=args.workers, device=args.device,
                     max_upload_bytes=int(args.max_upload_mb * 1024 * 1024))
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"serving {args.model} ({', '.join(app.state.served.directions)}) at http://{host}:{args.port}/", flush=True)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print("note: phones need HTTPS (e.g. a reverse proxy) to install the app, work offline and use the live camera",
              flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from .models.zoo import list_models

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
        print("(`pocketgan models --published` also lists the published checkpoints `pocketgan import --published NAME` fetches)")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from .data.paired import make_aligned

    if args.data_command == "download":
        from .data.download import CATALOGUE, download_dataset

        if args.list or not args.name:
            for name, src in sorted(CATALOGUE.items()):
                print(f"{name:28} {src.kind:9} {src.url}")
            return 0
        folder = download_dataset(args.name, args.root, progress=not args.no_progress)
        print(f"dataset ready in {folder}")
        return 0

    written = make_aligned(args.dir_a, args.dir_b, args.out, args.split, args.format, progress=not args.no_progress)
    print(f"wrote {len(written)} aligned pairs to {args.out}/{args.split}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    result = run_demo(args.runs_dir, args.epochs, progress=not args.no_progress, model=args.model)
    return 0 if result["learned"] else 1


COMMANDS = {"train": cmd_train, "distill": cmd_train, "translate": cmd_translate, "evaluate": cmd_evaluate, "report": cmd_report, "export": cmd_export,
            "info": cmd_info, "data": cmd_data, "import": cmd_import, "models": cmd_models, "demo": cmd_demo, "serve": cmd_serve}


def _model(spec: str | None) -> str:
    """A --model value (name, folder or file) as a path; see pocketgan.models.zoo."""
    from .models.zoo import resolve_model

    return str(resolve_model(spec))


def main(argv: list[str] | None = None) -> int:
    from .data.images import DataError, ImageError
    from .evaluation.inception import InceptionUnavailable
    from .models.pretrained import ModelFolderError
    from .training.checkpoint import CheckpointError
    from .training.trainer import TrainingError

    args = build_parser().parse_args(argv)
    warnings.formatwarning = lambda msg, cat, *a, **k: f"warning: {msg}\n"
    try:
        return COMMANDS[args.command](args)
    except (DataError, ImageError, ModelFolderError, CheckpointError, TrainingError, InceptionUnavailable,
            ValueError, FileNotFoundError, ImportError) as e:
        print(f"pocketgan: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
