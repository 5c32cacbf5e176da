"""`pocketgan export`: model folder -> .onnx / .tflite + a model card, verified automatically.

Every export is run once on a fixed input (a toy scene rendered at the export size) and compared
with PyTorch; the figures go into the model card JSON written beside the file, together with what
an app needs to call it (input name, shape, layout, value range, direction). The check runs the
file with the same runner `translate` and `serve` use (:mod:`pocketgan.inference.runners`)."""
from __future__ import annotations

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

MIN_PSNR = {None: 40.0, "fp16": 35.0, "int8": None}  # int8 is reported, not gated


class ExportError(PocketganError):
    """An export that does not reproduce its PyTorch generator closely enough (one line, with the figures)."""


def calibration_images(folder: str | Path, size: int, count: int = 32) -> list[np.ndarray]:
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


def export_model(model: str | Path, fmt: str, size: int = 256, quantize: str | None = None, direction: str = "AtoB",
                 out: str | Path | None = None, calibration: str | Path | None = None) -> tuple[Path, dict]:
    """Export one direction of a model folder; returns (file, model card)."""
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
    if fmt == "onnx":
        from .onnx import export_onnx
        export_onnx(generator, path, size, quantize, calib)
        subpixel, dynamic = False, True
    else:
        from .litert import export_litert
        export_litert(generator, path, size, quantize, calib)
        subpixel, dynamic = True, False
    check = parity(generator, load_runner(path), size, subpixel)
    card = {"file": path.name, "format": fmt, "bytes": path.stat().st_size,
            "sha256": file_digest(path), "quantize": quantize or "fp32",
            "input": {"shape": [1, "height" if dynamic else size, "width" if dynamic else size, 3], "dtype": "uint8",
                      "layout": "NHWC", "range": [0, 255], "color": "RGB",
                      "size_multiple": multiple, "note": "any multiple of size_multiple" if dynamic else "fixed size"},
            "output": {"shape": "same as input", "dtype": "uint8", "layout": "NHWC", "range": [0, 255], "color": "RGB"},
            "direction": direction, "generator": config["generators"][slot], "source": model.resolve().name,
            "training": _without_paths(config.get("training")), "parity_vs_pytorch": check}
    if fmt == "onnx":
        from .onnx import INPUT, OPSET, OUTPUT
        card.update(opset=OPSET, input_name=INPUT, output_name=OUTPUT)
    atomic_write_json(path.with_name(path.name + ".json"), card)
    floor = MIN_PSNR[quantize]
    if floor is not None and check["psnr_db"] < floor:
        raise ExportError(f"{path}: exported model disagrees with PyTorch ({check['psnr_db']} dB < {floor} dB)")
    return path, card
