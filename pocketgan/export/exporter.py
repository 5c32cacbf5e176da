"""`pocketgan export`: model folder -> .onnx / .tflite + a model card, verified automatically.

Every export is run once on a fixed input (a toy scene rendered at the export size) and compared
with PyTorch; the figures go into the model card JSON written beside the file, together with what
an app needs to call it (input name, shape, layout, value range, direction). The check runs the
file with the same runner `translate` and `serve` use (:mod:`pocketgan.inference.runners`).

An export whose PSNR against PyTorch falls below its quality floor (``QUALITY_FLOOR_DB``) is not
written (the file is exported beside its destination under a hidden name, checked, and only then
moved into place), unless ``force``: then it is written and its card says it is below the floor."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

import numpy as np
import torch

from ..choices import EXPORT_FORMATS, QUANTIZE_MODES
from ..data.images import load_image, scan_folder
from ..data.synthetic import render_scene
from ..directions import get_direction
from ..errors import OptionError, PocketganError
from ..evaluation.metrics import psnr
from ..fileio import atomic_write_json
from ..home import file_digest
from ..inference.runners import load_runner
from ..models.pretrained import ModelFolderError, load_generator, read_model_config
from ..models.zoo import export_dir
from .prepare import prepare

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


def calibration_images(folder: str | Path, size: int, count: int = CALIBRATION_LIMIT) -> list[np.ndarray]:
    """Up to ``count`` images of ``folder`` resized to size x size, uint8 HxWx3."""
    files = scan_folder(folder).files[:count]
    return [np.asarray(load_image(p).resize((size, size)), dtype=np.uint8) for p in files]


def _without_paths(training: dict | None) -> dict | None:
    """A run's training summary for the card, its data folders cut to their names: the card travels
    with the model file (to phones, to the web app's clients), the folders' locations stay here."""
    if not isinstance(training, dict) or "data" not in training:
        return training
    data = training["data"]
    def name(d):
        return Path(d).name if isinstance(d, str) else d
    names = [name(d) for d in data] if isinstance(data, (list, tuple)) else name(data)
    return {**training, "data": names}


def parity(generator: torch.nn.Module, runner, size: int, subpixel: bool) -> dict:
    image = np.ascontiguousarray(np.asarray(render_scene(12345, size, "A"), dtype=np.uint8)[None])
    with torch.no_grad():
        expected = prepare(generator, image_io=True, subpixel=subpixel)(torch.from_numpy(image.copy())).numpy()
    got = runner(image)
    return {"input": f"toy scene {size}x{size}", "max_abs_error": int(np.abs(got.astype(int) - expected).max()),
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


def _staging_path(path: Path) -> Path:
    """A hidden name beside ``path`` with its suffix (the runners pick the runtime by suffix)."""
    return path.with_name(f".{path.stem}.{secrets.token_hex(4)}.unchecked{path.suffix}")


def export_model(model: str | Path, fmt: str, size: int = 256, quantize: str | None = None, direction: str = "AtoB",
                 out: str | Path | None = None, calibration: str | Path | None = None,
                 force: bool = False) -> tuple[Path, dict]:
    """Export one direction of a model folder; returns (file, model card).

    Raises ExportError, and writes nothing, when the export's PSNR against PyTorch is below
    ``QUALITY_FLOOR_DB[quantize]``; with ``force`` the file is written and the card says so."""
    if fmt not in EXPORT_FORMATS:
        raise OptionError(f"unknown format {fmt!r}; choose one of: {', '.join(EXPORT_FORMATS)}")
    if quantize is not None and quantize not in QUANTIZE_MODES:
        raise OptionError(f"unknown quantization {quantize!r}; choose {' or '.join(QUANTIZE_MODES)}")
    chosen = get_direction(direction)
    direction, slot = chosen.name, chosen.slot
    model = Path(model)
    config = read_model_config(model)
    if slot not in config["generators"]:
        raise ModelFolderError(f"{model}: has no {slot}, so it cannot export {direction} (it holds {', '.join(config['generators'])})")
    generator = load_generator(model, slot)
    multiple = getattr(generator, "size_multiple", 4)
    if size < multiple or size % multiple:
        raise OptionError(f"--size {size} is not a multiple of {multiple}, which {config['generators'][slot]['name']} needs")
    suffix = {None: "", "fp16": "_fp16", "int8": "_int8"}[quantize]
    path = Path(out) if out else export_dir(model) / f"{slot}_{size}{suffix}.{fmt}"  # the format names are the suffixes
    calib = None
    if quantize == "int8":
        if calibration is None:
            raise OptionError("int8 export needs --calibration DIR (a few dozen real input images)")
        calib = calibration_images(calibration, size)
    staging = _staging_path(path)
    try:
        try:
            if fmt == "onnx":
                from .onnx import export_onnx
                export_onnx(generator, staging, size, quantize, calib)
                subpixel, dynamic = False, True
            else:
                from .litert import export_litert
                export_litert(generator, staging, size, quantize, calib)
                subpixel, dynamic = True, False
        except OSError as e:  # name the file the user asked for, not the hidden staging name
            if e.errno is None:
                raise
            raise type(e)(e.errno, e.strerror, str(path)) from e
        check = parity(generator, load_runner(staging), size, subpixel)
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
    card = {"file": path.name, "format": fmt, "bytes": path.stat().st_size,
            "sha256": file_digest(path), "quantize": quantize or "fp32",
            "input": {"shape": [1, "height" if dynamic else size, "width" if dynamic else size, 3], "dtype": "uint8",
                      "layout": "NHWC", "range": [0, 255], "color": "RGB",
                      "size_multiple": multiple, "note": "any multiple of size_multiple" if dynamic else "fixed size"},
            "output": {"shape": "same as input", "dtype": "uint8", "layout": "NHWC", "range": [0, 255], "color": "RGB"},
            "direction": direction, "generator": config["generators"][slot], "source": model.resolve().name,
            "training": _without_paths(config.get("training")), "parity_vs_pytorch": check}
    if calib is not None:
        card["calibration_images"] = len(calib)
    if below:
        card["warning"] = (f"below the {card['quantize']} quality floor: {check['psnr_db']} dB PSNR vs PyTorch "
                           f"< {floor:g} dB; written with --force")
    if fmt == "onnx":
        from .onnx import INPUT, OPSET, OUTPUT
        card.update(opset=OPSET, input_name=INPUT, output_name=OUTPUT)
    atomic_write_json(path.with_name(path.name + ".json"), card)
    return path, card
