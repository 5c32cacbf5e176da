"""LiteRT (TFLite) export of a generator (the file is run by
:class:`pocketgan.inference.runners.LiteRTRunner`).

The exported graph is ``prepare(generator, image_io=True, subpixel=True)``: uint8 RGB [0, 255] NHWC
in, the same out, BatchNorm folded, ConvTranspose2d rewritten as conv + PixelShuffle (LiteRT's
converter cannot legalise transposed convs). LiteRT files have a FIXED input size (1, size, size, 3):
litert-torch 0.10 cannot convert dynamic height/width for these graphs, so export once per size.

Conversion is ``litert_torch.convert``; quantization is done by ``ai_edge_quantizer`` (a dependency
of litert-torch, the same library litert-torch uses for its own recipes) on the converted flatbuffer:

* ``None``: float32, bit-exact with PyTorch on our generators in practice.
* ``"fp16"``: float16 weights (conv / depthwise conv), float32 compute (weights are cast back at
  load time; GPU delegates can run them in fp16). About half the weight bytes.
* ``"int8"`` without calibration: dynamic-range quantization: int8 per-channel weights, activations
  quantized on the fly at run time (hybrid kernels), no calibration needed.
* ``"int8"`` with ``calibration`` images: full-integer (static) quantization: int8 weights and int8
  activations whose ranges come from running the calibration images through the float model. All
  convs, adds, resizes, pads and the tanh compute in int8; only the image edges stay float (uint8
  -> float -> int8 on the way in, int8 -> float -> round -> uint8 on the way out), so the file keeps
  the same uint8 image I/O. Works best with BatchNorm generators (the mobile ones); InstanceNorm
  does not quantize well statically.

litert-torch pulls jax and transformers, so it is an optional extra (``pip install
'pocketgan[export]'``) and is imported only inside the functions here.
"""
from __future__ import annotations

import contextlib
import math
import os
import warnings
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
import torch.nn as nn

from ..choices import QUANTIZE_MODES
from ..errors import MissingDependency, OptionError, first_line
from ..fileio import atomic_write_bytes
from ..inference.runners import INSTALL_HINT, litert_interpreter
from .prepare import prepare

QUANTIZE_CHOICES = (None, *QUANTIZE_MODES)
_SIGNATURE = "serving_default"  # litert_torch.convert's default signature name


def require_litert() -> None:
    """Raise MissingDependency with an install hint if litert_torch / ai_edge_litert cannot be imported."""
    missing = []
    for module in ("litert_torch", "ai_edge_litert.interpreter"):
        try:
            __import__(module)
        except ImportError as e:
            missing.append(f"{module.split('.')[0]} ({first_line(e)})")
    if missing:
        raise MissingDependency(f"LiteRT export needs {', '.join(missing)}; install it with: {INSTALL_HINT}")


@contextlib.contextmanager
def _quiet_converter() -> Iterator[None]:
    """Turn off litert-torch's per-stage progress printing for one conversion (restored afterwards),
    and torch.export's internal LeafSpec deprecation warning (raised once per decomposition pass)."""
    key = "LITERT_TORCH_SHOW_PROGRESS"  # read by litert_torch.config.show_progress at each stage
    old = os.environ.get(key)
    os.environ[key] = "n"
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)", category=FutureWarning)
            yield
    finally:
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old


def _check_size(generator: nn.Module, size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size <= 0:
        raise OptionError(f"export size must be a positive integer (got {size!r})")
    multiple = math.lcm(4, int(getattr(generator, "size_multiple", 4)))
    if size % multiple:
        raise OptionError(f"export size {size} is not a multiple of {multiple}, which this generator needs")


def _calibration_batches(calibration: Sequence[np.ndarray], size: int) -> list[np.ndarray]:
    """Calibration images as contiguous uint8 (1, size, size, 3) arrays (HxWx3 or 1xHxWx3 accepted)."""
    batches = []
    for i, image in enumerate(calibration):
        image = np.asarray(image)
        if image.ndim == 3:
            image = image[None]
        if image.dtype != np.uint8 or image.shape != (1, size, size, 3):
            raise OptionError(f"calibration image {i} must be uint8 {size}x{size}x3 RGB "
                              f"(got {image.dtype} {tuple(np.shape(image))})")
        batches.append(np.ascontiguousarray(image))
    if not batches:
        raise OptionError("calibration is empty; pass a few dozen real input images (or None for dynamic-range int8)")
    return batches


def _quantize(model: bytes, quantize: str, calibration: list[np.ndarray] | None) -> bytes:
    """Quantize a float .tflite flatbuffer with ai_edge_quantizer (see the module docstring)."""
    try:
        from ai_edge_quantizer import qtyping, quantizer, recipe, recipe_manager
        from ai_edge_quantizer.algorithm_manager import AlgorithmName
    except ImportError as e:
        raise MissingDependency(f"quantized LiteRT export needs ai_edge_quantizer ({first_line(e)}); "
                                f"install it with: {INSTALL_HINT}") from None
    if quantize == "fp16":
        manager = recipe_manager.RecipeManager()
        manager.add_weight_only_config(regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
                                       num_bits=16, algorithm_key=AlgorithmName.FLOAT_CASTING)
        rules = manager.get_quantization_recipe()
    elif calibration is None:
        rules = recipe.dynamic_wi8_afp32()
    else:
        rules = recipe.static_wi8_ai8()
    qt = quantizer.Quantizer(bytearray(model), rules)
    with warnings.catch_warnings():
        # calibration (and its check in quantize) deliberately keeps every intermediate tensor;
        # the interpreter's "for debugging only" warning about that is not for our users
        warnings.filterwarnings("ignore", message=".*experimental_preserve_all_tensors")
        ranges = None
        if qt.need_calibration:
            input_name = _input_name(model)
            ranges = qt.calibrate({_SIGNATURE: [{input_name: image} for image in calibration]},
                                  num_threads=max(1, min(os.cpu_count() or 1, 16)))
        result = qt.quantize(ranges, enable_progress_bar=False, enable_progress_report=False)
    return bytes(result.quantized_model)


def _input_name(model: bytes) -> str:
    """The name of the single input of the default signature (``args_0`` from litert_torch)."""
    signatures = litert_interpreter()(model_content=model).get_signature_list()
    if _SIGNATURE not in signatures or len(signatures[_SIGNATURE]["inputs"]) != 1:
        raise RuntimeError(f"converted model has unexpected signatures {signatures}")
    return signatures[_SIGNATURE]["inputs"][0]


def export_litert(generator: nn.Module, path: str | Path, size: int, quantize: str | None = None,
                  calibration: Sequence[np.ndarray] | None = None) -> None:
    """Convert ``prepare(generator, image_io=True, subpixel=True)`` at the fixed input (1, size, size, 3)
    uint8 NHWC RGB [0, 255] (output the same) to a .tflite file at ``path``, written atomically.

    ``quantize``: None (float32), "fp16" (float16 weights) or "int8": dynamic-range int8 (int8
    weights, activations quantized at run time) when ``calibration`` is None, full-integer static
    int8 (int8 weights and activations) when ``calibration`` holds uint8 HxWx3 images of size x size
    (a few dozen real inputs of the domain being translated). ``generator`` is not modified.
    """
    if quantize not in QUANTIZE_CHOICES:
        choices = " or ".join(repr(q) for q in QUANTIZE_MODES)
        raise OptionError(f"unknown quantization {quantize!r}; choose None, {choices}")
    _check_size(generator, size)
    size = int(size)
    if calibration is not None and quantize != "int8":
        raise OptionError(f"calibration images are only used by quantize='int8' (got quantize={quantize!r})")
    batches = _calibration_batches(calibration, size) if calibration is not None else None
    require_litert()
    import litert_torch

    net = prepare(generator, image_io=True, subpixel=True).to(device="cpu", dtype=torch.float32)
    sample = torch.zeros((1, size, size, 3), dtype=torch.uint8)
    name = type(generator).__name__
    try:
        with _quiet_converter():
            model = bytes(litert_torch.convert(net, (sample,)).model_content())
    except Exception as e:
        raise RuntimeError(f"LiteRT conversion of {name} at {size}x{size} failed: {type(e).__name__}: "
                           f"{first_line(e)}") from e
    if quantize is not None:
        model = _quantize(model, quantize, batches)
    # refuse to write a file the runtime cannot prepare (a converter/quantizer bug would otherwise ship)
    try:
        litert_interpreter()(model_content=model).allocate_tensors()
    except Exception as e:
        raise RuntimeError(f"LiteRT export of {name} ({quantize or 'fp32'}) produced a model the LiteRT "
                           f"runtime rejects: {first_line(e)}") from e
    atomic_write_bytes(path, model)
