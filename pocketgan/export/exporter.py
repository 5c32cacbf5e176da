"""`pocketgan export`: model folder -> .onnx / .tflite + a model card, verified automatically.

Every export is run once on a fixed input (a toy scene rendered at the export size) and compared
with PyTorch; the figures go into the model card JSON written beside the file, together with what
an app needs to call it (input name, shape, layout, value range, direction)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from ..data.images import load_image, scan_folder
from ..data.synthetic import render_scene
from ..evaluation.metrics import psnr
from ..fileio import atomic_write_json
from ..models.pretrained import DIRECTIONS, ModelFolderError, load_generator, read_model_config
from ..models.zoo import export_dir
from .prepare import prepare

FORMATS = {"onnx": ".onnx", "tflite": ".tflite"}
MIN_PSNR = {None: 40.0, "fp16": 35.0, "int8": None}  # int8 is reported, not gated



def load_runner(path: str | Path):
    """A callable uint8 (1,H,W,3) -> uint8 (1,H,W,3) for an exported file, chosen by suffix."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such exported model file")
    if path.suffix == ".onnx":
        from .onnx import OnnxRunner
        return OnnxRunner(path)
    if path.suffix == ".tflite":
        from .litert import LiteRTRunner
        return LiteRTRunner(path)
    raise ValueError(f"{path}: unknown model file type (expected .onnx or .tflite)")


def calibration_images(folder: str | Path, size: int, count: int = 32) -> list[np.ndarray]:
    """Up to ``count`` images of ``folder`` resized to size x size, uint8 HxWx3."""
    files = scan_folder(folder).files[:count]
    return [np.asarray(load_image(p).resize((size, size)), dtype=np.uint8) for p in files]


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
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    if quantize not in (None, "fp16", "int8"):
        raise ValueError(f"unknown quantization {quantize!r}; choose fp16 or int8")
    model = Path(model)
    config = read_model_config(model)
    slot = DIRECTIONS.get(direction)
    if slot is None:
        raise ValueError(f"direction must be AtoB or BtoA (got {direction!r})")
    if slot not in config["generators"]:
        raise ModelFolderError(f"{model}: has no {slot}, so it cannot export {direction} (it holds {', '.join(config['generators'])})")
    generator = load_generator(model, slot)
    multiple = getattr(generator, "size_multiple", 4)
    if size < multiple or size % multiple:
        raise ValueError(f"--size {size} is not a multiple of {multiple}, which {config['generators'][slot]['name']} needs")
    suffix = {None: "", "fp16": "_fp16", "int8": "_int8"}[quantize]
    path = Path(out) if out else export_dir(model) / f"{slot}_{size}{suffix}{FORMATS[fmt]}"
    calib = None
    if quantize == "int8":
        if calibration is None:
            raise ValueError("int8 export needs --calibration DIR (a few dozen real input images)")
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
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "quantize": quantize or "fp32",
            "input": {"shape": [1, "height" if dynamic else size, "width" if dynamic else size, 3], "dtype": "uint8",
                      "layout": "NHWC", "range": [0, 255], "color": "RGB",
                      "size_multiple": multiple, "note": "any multiple of size_multiple" if dynamic else "fixed size"},
            "output": {"shape": "same as input", "dtype": "uint8", "layout": "NHWC", "range": [0, 255], "color": "RGB"},
            "direction": direction, "generator": config["generators"][slot], "source": str(model),
            "training": config.get("training"), "parity_vs_pytorch": check}
    if fmt == "onnx":
        from .onnx import INPUT, OPSET, OUTPUT
        card.update(opset=OPSET, input_name=INPUT, output_name=OUTPUT)
    atomic_write_json(path.with_name(path.name + ".json"), card)
    floor = MIN_PSNR[quantize]
    if floor is not None and check["psnr_db"] < floor:
        raise ValueError(f"{path}: exported model disagrees with PyTorch ({check['psnr_db']} dB < {floor} dB)")
    return path, card


class ExportedGenerator(torch.nn.Module):
    """Lets TranslationPipeline run an exported file: float [-1,1] NCHW in/out around the uint8 runner
    (uint8 -> [-1,1] -> uint8 is exact, so this adds no error)."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.runner = load_runner(path)
        self.size_multiple = 4
        self.fixed_size = self.runner.input_size  # (h, w) for fixed-size files (LiteRT), else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        image = torch.round((x.clamp(-1, 1) + 1) * 127.5).to(torch.uint8).permute(0, 2, 3, 1).numpy()
        outs = [self.runner(np.ascontiguousarray(image[i:i + 1])) for i in range(len(image))]
        return torch.from_numpy(np.concatenate(outs)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
