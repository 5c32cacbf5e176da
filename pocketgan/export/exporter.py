"""`pocketgan export`: model folder -> .onnx / .tflite + a model card, verified automatically.

Every export is run once on a fixed input (a toy scene rendered at the export size) and compared
with PyTorch; the figures go into the model card JSON written beside the file, together with what
an app needs to call it (signature key, tensor names ``image`` / ``translated``, shapes, dtypes,
layout, value range, fixed or dynamic size, direction) and what the model is (name, description,
author, licence, version, training data and summary, this direction's scores). A .tflite also
carries the same description as TFLite metadata (:mod:`.tflite_metadata`). The check runs the file
with the same runner `translate` and `serve` use (:mod:`pocketgan.inference.runners`).

Sizes are N or HxW (height x width, :mod:`.sizes`): a LiteRT file's fixed input; ONNX files take
any multiple of the generator's stride and are traced and checked at that size.

An export whose PSNR against PyTorch falls below its quality floor (``QUALITY_FLOOR_DB``) is not
written (the file is exported beside its destination under a hidden name, checked, and only then
moved into place), unless ``force``: then it is written and its card says it is below the floor."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..choices import EXPORT_FORMATS, QUANTIZE_MODES
from ..data.images import load_image
from ..data.inputs import scan_folder
from ..data.synthetic import render_scene
from ..directions import get_direction
from ..errors import OptionError, PocketganError
from ..evaluation.metrics import psnr
from ..fileio import atomic_write_json, name_max, temp_path
from ..home import file_digest
from ..inference.runners import load_runner
from ..models.pretrained import ModelFolderError, load_generator, read_model_config
from ..models.zoo import export_dir
from ..public import public
from .prepare import prepare
from .sizes import parse_size, size_label

# Quality floors: PSNR (dB, uint8 scale) of the exported file against PyTorch on the fixed check image.
# fp32 is exact in practice (> 90 dB), so below 40 dB means a conversion fault. fp16 keeps about three
# significant digits (65+ dB on our generators); 35 dB leaves room for deep InstanceNorm ones. int8:
# 25 dB is an RMS error of 14/255 per pixel, a visibly degraded but still recognisable translation;
# calibrated BatchNorm generators reach 32-50 dB here, while an InstanceNorm resnet_9blocks reached
# 15 dB (max error 240/255) and was written anyway before these floors.
QUALITY_FLOOR_DB = {None: 40.0, "fp16": 35.0, "int8": 25.0}
CALIBRATION_LIMIT = 32  # images read from --calibration


class ExportError(PocketganError):
    """An export that does not reproduce its PyTorch generator closely enough (one line, with the figures)."""


def calibration_images(folder: str | Path, size, count: int = CALIBRATION_LIMIT) -> list[np.ndarray]:
    """Up to ``count`` images of ``folder`` resized to the export size (N or (H, W)), uint8 HxWx3."""
    h, w = parse_size(size)
    files = scan_folder(folder).files[:count]
    return [np.asarray(load_image(p).resize((w, h)), dtype=np.uint8) for p in files]


def check_image(size: tuple[int, int]) -> np.ndarray:
    """The fixed parity-check input at (H, W): toy scene 12345 rendered square at the larger side
    and centre-cropped, so a square size gives the image earlier exports were checked on."""
    h, w = size
    side = max(h, w)
    scene = np.asarray(render_scene(12345, side, "A"), dtype=np.uint8)
    top, left = (side - h) // 2, (side - w) // 2
    return np.ascontiguousarray(scene[top:top + h, left:left + w][None])


def parity(generator: torch.nn.Module, runner, size, subpixel: bool = False) -> dict:
    """The exported file (``runner``) against PyTorch on :func:`check_image`. The reference is the
    generator as trained (BatchNorm folded, no rewrites), so the figure covers every rewrite and
    the conversion. ``subpixel`` is kept for callers of the earlier signature and changes nothing."""
    h, w = parse_size(size)
    image = check_image((h, w))
    with torch.no_grad():
        expected = prepare(generator, image_io=True)(torch.from_numpy(image.copy())).numpy()
    got = runner(image)
    return {"input": f"toy scene {size_label((h, w))}", "max_abs_error": int(np.abs(got.astype(int) - expected).max()),
            "psnr_db": round(psnr(got, expected), 2)}


def below_floor_message(path: Path, quantize: str | None, check: dict, calibration_count: int | None) -> str:
    """One line: which file was not written, the measured agreement, the floor, and what to try."""
    label, floor = quantize or "fp32", QUALITY_FLOOR_DB[quantize]
    measured = (f"{path} not written: the {label} export matches PyTorch at only {check['psnr_db']} dB PSNR "
                f"(max error {check['max_abs_error']}/255), below the {label} floor of {floor:g} dB")
    if quantize == "int8":
        advice = (f"try more, representative calibration photos (--calibration DIR: a few dozen photos like those "
                  f"you will translate; {calibration_count} used, up to {CALIBRATION_LIMIT} read), or --quantize fp16, "
                  "or a BatchNorm generator (mobile_*: InstanceNorm quantizes poorly); weights are already per-channel")
    elif quantize == "fp16":
        advice = "export fp32 (no --quantize) instead"
    else:
        advice = "this is a conversion fault; please report it with the model's config.json"
    return f"{measured}; {advice}; --force writes it anyway"


def _existing_parent(path: Path) -> Path:
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    return parent


def _staging_path(path: Path) -> Path:
    """A hidden name beside ``path`` with its suffix (the runners pick the runtime by suffix), within
    the file-name limit however long ``path``'s name is."""
    return temp_path(path, f".unchecked{path.suffix}")


def export_model(model: str | Path, fmt: str, size=256, quantize: str | None = None, direction: str = "AtoB",
                 out: str | Path | None = None, calibration: str | Path | None = None,
                 force: bool = False) -> tuple[Path, dict]:
    """Export one direction of a model folder; returns (file, model card).

    ``size``: N, "HxW" or (H, W) (height x width): a LiteRT file's fixed input; ONNX files take any
    size and are traced and checked at this one. Raises ExportError, and writes nothing, when the
    export's PSNR against PyTorch is below ``QUALITY_FLOOR_DB[quantize]``; with ``force`` the file
    is written and the card says so."""
    if fmt not in EXPORT_FORMATS:
        raise OptionError(f"unknown format {fmt!r}; choose one of: {', '.join(EXPORT_FORMATS)}")
    if quantize is not None and quantize not in QUANTIZE_MODES:
        raise OptionError(f"unknown quantization {quantize!r}; choose {' or '.join(QUANTIZE_MODES)}")
    hw = parse_size(size)
    chosen = get_direction(direction)
    direction, slot = chosen.name, chosen.slot
    model = Path(model)
    config = read_model_config(model)
    if slot not in config["generators"]:
        raise ModelFolderError(f"{model}: has no {slot}, so it cannot export {direction} "
                               f"(it holds {', '.join(config['generators'])})")
    generator = load_generator(model, slot)
    multiple = getattr(generator, "size_multiple", 4)
    if any(side < multiple or side % multiple for side in hw):
        raise OptionError(f"--size {size_label(hw)} is not a multiple of {multiple}, which "
                          f"{config['generators'][slot]['name']} needs")
    suffix = {None: "", "fp16": "_fp16", "int8": "_int8"}[quantize]
    path = Path(out) if out else export_dir(model) / f"{slot}_{size_label(hw)}{suffix}.{fmt}"  # format names are suffixes
    card_bytes, limit = len(os.fsencode(path.name + ".json")), name_max(_existing_parent(path))
    if card_bytes > limit:  # refused before the (minutes-long) conversion, not after it
        raise OptionError(f"--out {path.name[:40]}…: name too long: its model card beside it (the name + .json) would "
                          f"have a {card_bytes}-byte name, over the file system's {limit}; choose a shorter name")
    calib = None
    if quantize == "int8":
        if calibration is None:
            raise OptionError("int8 export needs --calibration DIR (a few dozen real input images)")
        calib = calibration_images(calibration, hw)
    about = describe_model(model, config, direction, slot)
    staging = _staging_path(path)
    try:
        try:
            if fmt == "onnx":
                from .onnx import export_onnx
                export_onnx(generator, staging, hw, quantize, calib)
            else:
                from .litert import export_litert
                export_litert(generator, staging, hw, quantize, calib, metadata=tflite_metadata_info(about))
        except OSError as e:  # name the file the user asked for, not the hidden staging name
            if e.errno is None:
                raise
            raise type(e)(e.errno, e.strerror, str(path)) from e
        check = parity(generator, load_runner(staging), hw)
        floor = QUALITY_FLOOR_DB[quantize]
        below = check["psnr_db"] < floor
        check.update(floor_psnr_db=floor, meets_floor=not below)
        if below and not force:
            raise ExportError(below_floor_message(path, quantize, check, len(calib) if calib is not None else None))
        try:
            os.replace(staging, path)
        except OSError as e:
            raise type(e)(e.errno, e.strerror, str(path)) from e
    finally:
        staging.unlink(missing_ok=True)
    card = model_card(path, fmt, quantize, hw, multiple, config, slot, about, check)
    if calib is not None:
        card["calibration_images"] = len(calib)
    if below:
        card["warning"] = (f"below the {card['quantize']} quality floor: {check['psnr_db']} dB PSNR vs PyTorch "
                           f"< {floor:g} dB; written with --force")
    atomic_write_json(path.with_name(path.name + ".json"), card)
    return path, card


def describe_model(model: Path, config: dict, direction: str, slot: str) -> dict:
    """What the card and the TFLite metadata say about the model the file came from: its name,
    description, author, licence, version, data, training and scores (those of this direction
    where they are kept per direction). Taken from config.json (``model_card`` for a bundled model,
    ``training`` for a run, ``published`` for an imported checkpoint) and MODEL/eval.json."""
    from .. import __version__
    from ..models.hub import provenance
    from ..models.zoo import bundled_name

    bundled = bundled_name(model)
    hub = provenance(model)  # a Hub snapshot: named by its repository, sourced as hf://ORG/NAME@<commit>
    published = config.get("published") if isinstance(config.get("published"), dict) else None
    model_card = config.get("model_card")
    card: dict = model_card if isinstance(model_card, dict) else {}
    training = public(config.get("training"))
    name = bundled or (hub or {}).get("repo_id") or (published or {}).get("name") or model.resolve().name
    license_ = config.get("license") or card.get("license")
    if license_ is None and bundled:
        license_ = "BSD-3-Clause (pocketgan's licence; the weights ship inside the package)"
    elif license_ is None and published:
        license_ = f"as published by {published.get('by')} ({published.get('url')}); pocketgan states none"
    author = config.get("author") or card.get("author") or (
        "pocketgan" if bundled else f"{published.get('by')} (published checkpoint)" if published else None)
    if training is None and card:  # a bundled model keeps its training summary in model_card
        training = {k: card[k] for k in ("steps", "epochs", "batch_size", "image_size", "train_minutes", "hardware",
                                         "objective") if k in card} or None
    data = card.get("data") or (training.get("data") if isinstance(training, dict) else None)
    return {"name": name, "description": config.get("description"), "author": author, "license": license_,
            "version": str(config.get("version") or f"pocketgan {config.get('pocketgan_version', __version__)}"),
            "data": data, "training": training, "scores": _scores(model, card, direction),
            "direction": direction, "slot": slot,
            "published": public(published) if published else None,
            "hub": {k: hub[k] for k in ("repo_id", "revision", "commit")} if hub else None,
            "source": hub["spec"] if hub else name}


def _scores(model: Path, card: dict, direction: str) -> dict | None:
    """This direction's evaluation: from the model card (bundled models) or from `pocketgan
    evaluate`'s eval.json (its data folder cut to its name); None when there is none."""
    from ..fileio import read_json
    from ..models.zoo import evaluation_file

    scores = card.get("evaluation") if isinstance(card.get("evaluation"), dict) else None
    if not scores:
        try:
            path = evaluation_file(model)
            scores = read_json(path) if path.is_file() else None
        except (OSError, ValueError, UnicodeDecodeError):
            scores = None
    if not isinstance(scores, dict):
        return None
    keep = ("test_images", "translated", "do_nothing", "n_source", "n_target", "convention", "data")
    mine = {k: v for k, v in scores.items() if str(k).split("/")[0] == direction and isinstance(v, dict)}
    return {k: {f: public(v[f], f) for f in keep if f in v} for k, v in mine.items()} or None


def tflite_metadata_info(about: dict) -> dict:
    """The TFLite metadata of an export (see :mod:`.tflite_metadata`): ML Model Binding names the
    wrapper's fields after the tensors and shows the descriptions."""
    from .litert import INPUT, OUTPUT

    description = " ".join(p for p in (about.get("description"), f"This file: {about['direction']} ({about['slot']}).",
                                       "Input and output are uint8 RGB images in [0, 255] (NHWC); "
                                       "the graph does its own normalisation.") if p)
    return {"name": f"{about['name']} {about['direction']}", "description": description,
            "version": about["version"], "author": about.get("author") or "not stated",
            "license": about.get("license") or "not stated",
            "input": {"name": INPUT, "description": "The photo to translate: RGB, uint8 0-255, at the file's fixed size."},
            "output": {"name": OUTPUT, "description": "The translated photo: RGB, uint8 0-255, the input's size."}}


def model_card(path: Path, fmt: str, quantize: str | None, size: tuple[int, int], multiple: int, config: dict,
               slot: str, about: dict, check: dict) -> dict:
    """The JSON card written beside an export: the file, what an app calls (signature, tensor
    names, shapes, dtypes, sizes), the model's data, training, scores and licence, and the parity
    check. Names only, never this machine's paths."""
    from .litert import SIGNATURE
    from .onnx import INPUT, OPSET, OUTPUT

    h, w = size
    dynamic = fmt == "onnx"
    shape = [1, "height", "width", 3] if dynamic else [1, h, w, 3]
    image = {"dtype": "uint8", "layout": "NHWC", "range": [0, 255], "color": "RGB"}
    card = {"file": path.name, "format": fmt, "bytes": path.stat().st_size, "sha256": file_digest(path),
            "quantize": quantize or "fp32",
            "input": {"name": INPUT, "shape": shape, **image, "size_multiple": multiple,
                      "height": None if dynamic else h, "width": None if dynamic else w,
                      "dynamic_size": dynamic,
                      "note": (f"any height and width that are multiples of {multiple} (checked at {size_label(size)})"
                               if dynamic else f"fixed {h}x{w} (height x width); export again for another size: "
                               "litert-torch cannot convert a dynamic height/width, and resizing the input at run "
                               "time is not supported")},
            "output": {"name": OUTPUT, "shape": shape if dynamic else [1, h, w, 3], **image, "note": "same size as the input"},
            "signature": _signature(fmt, shape, SIGNATURE, INPUT, OUTPUT),
            "direction": about["direction"], "generator": config["generators"][slot],
            "source": about.get("source") or about["name"],
            "model": {k: about[k] for k in ("name", "description", "author", "license", "version", "data", "scores")},
            "training": about["training"], "parity_vs_pytorch": check}
    if about.get("published"):
        card["model"]["published"] = about["published"]
    if about.get("hub"):
        card["model"]["hub"] = about["hub"]
    if fmt == "onnx":
        card.update(opset=OPSET, input_name=INPUT, output_name=OUTPUT)
    else:
        card["tflite_metadata"] = _read_back_metadata(path)
    return card


def _signature(fmt: str, shape: list, key: str, input_name: str, output_name: str) -> dict:
    """How an app calls the file: LiteRT's signature runner key and tensor names, or ONNX Runtime's
    input / output names (ONNX has no signature key)."""
    tensors = {"inputs": {input_name: {"shape": shape, "dtype": "uint8"}},
               "outputs": {output_name: {"shape": shape, "dtype": "uint8"}}}
    return {"key": key, **tensors} if fmt == "tflite" else {"key": None, **tensors}


def _read_back_metadata(path: Path) -> dict | None:
    """The TFLite metadata as read back from the written file (so the card shows what is in it)."""
    from .tflite_metadata import read_metadata

    return read_metadata(path.read_bytes())
