"""ONNX export: one file for Android (ONNX Runtime Mobile), iOS and the browser (onnxruntime-web).

The graph takes and returns uint8 NHWC RGB images (see ``prepare.ImageIO``) named ``image`` and
``translated``; height and width are dynamic (any multiple of the generator's stride), and the
export traces at any HxW. fp16 keeps uint8 I/O and runs the generator in half precision: the fp32
graph is traced once and converted with onnxconverter-common's float16 conversion (seconds; tracing
the model in half precision on a CPU took 449 s for resnet_9blocks), the image pre/post-processing
staying fp32. int8 is ONNX Runtime's static QDQ quantization calibrated on real images. The file is
run (parity check, `translate`, `serve`) by :class:`pocketgan.inference.runners.OnnxRunner`."""
from __future__ import annotations

import io
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ..choices import QUANTIZE_MODES
from ..errors import MissingDependency, OptionError
from ..fileio import atomic_write_bytes
from ..inference.runners import INSTALL_HINT
from .prepare import prepare
from .sizes import parse_size

OPSET = 17
INPUT, OUTPUT = "image", "translated"


def require_onnx() -> None:
    """Raise MissingDependency (one line, with the install command) without onnx / onnxruntime."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        raise MissingDependency(f"ONNX export needs onnx and onnxruntime: {INSTALL_HINT}") from None


def _to_onnx_bytes(net: nn.Module, size, dynamic: bool) -> bytes:
    """Trace ``net`` (uint8 NHWC in and out) at ``size`` (N, "HxW" or (H, W)) to ONNX bytes."""
    h, w = parse_size(size)
    sample = torch.zeros(1, h, w, 3, dtype=torch.uint8)
    buf = io.BytesIO()
    axes = {INPUT: {1: "height", 2: "width"}, OUTPUT: {1: "height", 2: "width"}} if dynamic else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter announces its deprecation
        # the stubs type `f` as a path; the TorchScript exporter (dynamo=False) writes to a file object too
        torch.onnx.export(net, (sample,), buf, dynamo=False, opset_version=OPSET,  # type: ignore[arg-type]
                          input_names=[INPUT], output_names=[OUTPUT], dynamic_axes=axes, do_constant_folding=True)
    return buf.getvalue()


def export_onnx(generator: nn.Module, path: str | Path, size, quantize: str | None = None,
                calibration: Sequence[np.ndarray] | None = None, dynamic: bool = True) -> None:
    """Write ``generator`` as ONNX to ``path`` (atomically). ``size``: the trace size, N, "HxW" or
    (H, W) (the file's own size unless ``dynamic``). ``calibration``: uint8 HxWx3 images of the
    target domain's inputs, required for int8."""
    require_onnx()
    import onnx

    if quantize is not None and quantize not in QUANTIZE_MODES:
        raise OptionError(f"unknown quantization {quantize!r}; choose {' or '.join(QUANTIZE_MODES)}")
    if quantize == "fp16":
        require_float16()
    model = onnx.load_from_string(_to_onnx_bytes(prepare(generator, image_io=True), size, dynamic))
    if quantize == "fp16":
        model = to_float16(model)
    if quantize == "int8":
        if not calibration:
            raise OptionError("int8 export needs calibration images (--calibration DIR)")
        model = _quantize_int8(model, calibration)
    onnx.checker.check_model(model)
    atomic_write_bytes(path, model.SerializeToString())


def require_float16() -> None:
    """Raise MissingDependency (one line) without onnxconverter-common, which fp16 export uses."""
    try:
        from onnxconverter_common import float16  # noqa: F401
    except ImportError:
        raise MissingDependency(f"fp16 ONNX export needs onnxconverter-common: {INSTALL_HINT}") from None


def image_io_nodes(model) -> list[str]:
    """Names of the nodes of ``prepare.ImageIO``'s own pre/post-processing (uint8 <-> [-1, 1],
    rounding, layout): the TorchScript exporter names nodes by module path, so these are the
    top-level ones, "/Cast", "/Div", ..., while the generator's are "/generator/...". Unnamed
    helper nodes (shared-constant Identity nodes) belong to neither and are not listed."""
    names = [n.name for n in model.graph.node]
    if not any(n.startswith("/generator/") for n in names):
        raise RuntimeError("cannot tell the generator's nodes from the image I/O in the traced graph "
                           "(no '/generator/' node names); fp16 conversion needs them")
    return [n for n in names if n.startswith("/") and not n.startswith("/generator/")]


def to_float16(model):
    """The fp32 ``model`` with the generator's weights and maths in float16 (onnxconverter-common's
    float16 conversion); the image I/O nodes stay fp32, as they are cheap and exact there, so only
    the generator's tensors round. The converter clamps weights to +-1e4 (generators' are far
    smaller) and raises nonzero magnitudes below 1e-7 to 1e-7, warning per tensor for those:
    expected, so not shown."""
    import warnings

    from onnxconverter_common import float16

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"the float32 number .* will be truncated to", category=UserWarning)
        return float16.convert_float_to_float16(model, keep_io_types=True, node_block_list=image_io_nodes(model))


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
