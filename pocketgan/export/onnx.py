"""ONNX export: one file for Android (ONNX Runtime Mobile), iOS and the browser (onnxruntime-web).

The graph takes and returns uint8 NHWC RGB images (see ``prepare.ImageIO``); height and width are
dynamic (any multiple of the generator's stride). fp16 keeps uint8 I/O and runs the maths in half
precision; int8 is ONNX Runtime's static QDQ quantization calibrated on real images. The file is
run (parity check, `translate`, `serve`) by :class:`pocketgan.inference.runners.OnnxRunner`."""
from __future__ import annotations

import io
import tempfile
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn

from ..choices import QUANTIZE_MODES
from ..errors import MissingDependency, OptionError
from ..fileio import atomic_write_bytes
from ..inference.runners import INSTALL_HINT
from .prepare import prepare

OPSET = 17
INPUT, OUTPUT = "image", "translated"


def require_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        raise MissingDependency(f"ONNX export needs onnx and onnxruntime: {INSTALL_HINT}") from None


def _to_onnx_bytes(net: nn.Module, size: int, dynamic: bool) -> bytes:
    sample = torch.zeros(1, size, size, 3, dtype=torch.uint8)
    buf = io.BytesIO()
    axes = {INPUT: {1: "height", 2: "width"}, OUTPUT: {1: "height", 2: "width"}} if dynamic else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter announces its deprecation
        torch.onnx.export(net, (sample,), buf, dynamo=False, opset_version=OPSET, input_names=[INPUT],
                          output_names=[OUTPUT], dynamic_axes=axes, do_constant_folding=True)
    return buf.getvalue()


def export_onnx(generator: nn.Module, path: str | Path, size: int, quantize: str | None = None,
                calibration: Sequence[np.ndarray] | None = None, dynamic: bool = True) -> None:
    """Write ``generator`` as ONNX to ``path`` (atomically). ``calibration``: uint8 HxWx3 images of
    the target domain's inputs, required for int8."""
    require_onnx()
    import onnx

    if quantize is not None and quantize not in QUANTIZE_MODES:
        raise OptionError(f"unknown quantization {quantize!r}; choose {' or '.join(QUANTIZE_MODES)}")
    net = prepare(generator, image_io=True)
    if quantize == "fp16":
        net.generator.half()
        net.dtype = torch.float16
    model = onnx.load_from_string(_to_onnx_bytes(net, size, dynamic))
    if quantize == "int8":
        if not calibration:
            raise OptionError("int8 export needs calibration images (--calibration DIR)")
        model = _quantize_int8(model, calibration)
    onnx.checker.check_model(model)
    atomic_write_bytes(path, model.SerializeToString())


def _quantize_int8(model, calibration: Sequence[np.ndarray]):
    """Static QDQ int8 (per-channel weights, uint8 activations) calibrated on ``calibration``."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Images(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{INPUT: img[None]} for img in calibration])

        def get_next(self):
            return next(self.items, None)

    with tempfile.TemporaryDirectory() as tmp:
        src, pre, dst = (Path(tmp) / n for n in ("fp32.onnx", "pre.onnx", "int8.onnx"))
        onnx.save(model, src)
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(dst), Images(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        op_types_to_quantize=["Conv", "Mul", "Add"])
        return onnx.load(str(dst))
