"""LiteRT (TFLite) export of a generator (the file is run by
:class:`pocketgan.inference.runners.LiteRTRunner`).

The exported graph is ``prepare(generator, image_io=True, litert=True)``: uint8 RGB [0, 255] NHWC
in, the same out, BatchNorm folded, transposed convs made lowerable to TFLite's TRANSPOSE_CONV (so
the file holds the generator's weights once: unet_256 no longer stores 1.8x them). Its signature
``serving_default`` takes ``image`` and returns ``translated`` (the ONNX export's names too), and
the file carries TFLite metadata (:mod:`.tflite_metadata`) when ``metadata`` is given.

Sizes: a LiteRT file has a FIXED input (1, height, width, 3); height and width may differ (HxW).
A dynamic height/width is not possible with litert-torch 0.10: it lowers elementwise ops through
JAX, which needs static shapes (``dynamic_shapes`` fails on the first op, ``aten.div``), and a
fixed-size graph bakes its sizes into RESIZE_NEAREST_NEIGHBOR / RESHAPE, so resizing its input
tensor at run time gives wrong shapes or fails in XNNPACK. Export once per size.

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

The conversion runs in a child Python process (:mod:`._litert_worker`): litert-torch pulls
TensorFlow's converter, jax and torchao, whose native libraries log to stderr (absl, oneDNN,
"Failed to load" torchao kernels) with no switch that silences all of them. The child runs with
their logging turned down and its stderr captured: shown (its last lines) only if it fails, so an
export prints only pocketgan's own lines. The parent hands it the graph as a ``torch.export``
program, so any generator module converts, not only classes the child could import. litert-torch
is an optional extra (``pip install 'pocketgan[export]'``).
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ..choices import QUANTIZE_MODES
from ..errors import MissingDependency, OptionError, first_line
from ..fileio import atomic_write_bytes
from ..inference.runners import INSTALL_HINT
from .prepare import prepare
from .sizes import parse_size, size_label

QUANTIZE_CHOICES = (None, *QUANTIZE_MODES)
SIGNATURE = "serving_default"     # the signature key an app looks up
INPUT, OUTPUT = "image", "translated"  # the signature's tensor names, as in the ONNX export
_SIGNATURE = SIGNATURE  # the earlier private name

# What the converter child runs with: its libraries' logging turned down (the rest of its stderr
# is captured anyway), litert-torch's progress bars off, jax on the CPU (no accelerator probing).
QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "GLOG_minloglevel": "3", "JAX_PLATFORMS": "cpu",
             "LITERT_TORCH_SHOW_PROGRESS": "n", "PYTHONWARNINGS": "ignore", "TORCH_CPP_LOG_LEVEL": "ERROR"}
STDERR_TAIL = 3  # lines of a failed child's stderr quoted in the error


def _importable(module: str) -> bool:
    """Whether ``import module`` would find it, without importing it (importing litert_torch in
    this process would load the noisy native libraries the child exists to contain)."""
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require_litert() -> None:
    """Raise MissingDependency with an install hint if litert_torch / ai_edge_litert are not installed."""
    missing = [module.split(".")[0] for module in ("litert_torch", "ai_edge_litert.interpreter") if not _importable(module)]
    if missing:
        raise MissingDependency(f"LiteRT export needs {', '.join(missing)} (not installed); install it with: {INSTALL_HINT}")


def _check_size(generator: nn.Module, size) -> tuple[int, int]:
    """(height, width) of ``size`` (N, "HxW" or a pair), each a multiple of what the generator needs."""
    h, w = parse_size(size)
    multiple = int(np.lcm(4, int(getattr(generator, "size_multiple", 4))))
    if h % multiple or w % multiple:
        raise OptionError(f"export size {size_label((h, w))} is not a multiple of {multiple}, which this generator needs")
    return h, w


def _calibration_batches(calibration: Sequence[np.ndarray], size: tuple[int, int]) -> list[np.ndarray]:
    """Calibration images as contiguous uint8 (1, H, W, 3) arrays (HxWx3 or 1xHxWx3 accepted)."""
    h, w = size
    batches = []
    for i, image in enumerate(calibration):
        image = np.asarray(image)
        if image.ndim == 3:
            image = image[None]
        if image.dtype != np.uint8 or image.shape != (1, h, w, 3):
            raise OptionError(f"calibration image {i} must be uint8 {h}x{w}x3 RGB "
                              f"(got {image.dtype} {tuple(np.shape(image))})")
        batches.append(np.ascontiguousarray(image))
    if not batches:
        raise OptionError("calibration is empty; pass a few dozen real input images (or None for dynamic-range int8)")
    return batches


class NamedIO(nn.Module):
    """The prepared graph with its tensors named for the signature: ``image`` in (a keyword
    argument, which litert-torch names the input after), ``{"translated": ...}`` out (a dict,
    whose key names the output); positional arguments and a bare tensor give args_0 / output_0."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        return {OUTPUT: self.net(image)}


def export_litert(generator: nn.Module, path: str | Path, size, quantize: str | None = None,
                  calibration: Sequence[np.ndarray] | None = None, *, metadata: dict | None = None) -> None:
    """Convert ``prepare(generator, image_io=True, litert=True)`` at the fixed input (1, H, W, 3)
    uint8 NHWC RGB [0, 255] (output the same) to a .tflite file at ``path``, written atomically.

    ``size``: N (N x N), "HxW" or (H, W). ``quantize``: None (float32), "fp16" (float16 weights)
    or "int8": dynamic-range int8 (int8 weights, activations quantized at run time) when
    ``calibration`` is None, full-integer static int8 (int8 weights and activations) when
    ``calibration`` holds uint8 HxWx3 images of the export size (a few dozen real inputs of the
    domain being translated). ``metadata``: TFLite metadata to embed (see
    :func:`.tflite_metadata.metadata_buffer`). ``generator`` is not modified.
    """
    if quantize not in QUANTIZE_CHOICES:
        choices = " or ".join(repr(q) for q in QUANTIZE_MODES)
        raise OptionError(f"unknown quantization {quantize!r}; choose None, {choices}")
    h, w = _check_size(generator, size)
    if calibration is not None and quantize != "int8":
        raise OptionError(f"calibration images are only used by quantize='int8' (got quantize={quantize!r})")
    batches = _calibration_batches(calibration, (h, w)) if calibration is not None else None
    require_litert()
    name = type(generator).__name__
    net = NamedIO(prepare(generator, image_io=True, litert=True)).to(device="cpu", dtype=torch.float32).eval()
    sample = torch.zeros((1, h, w, 3), dtype=torch.uint8)
    with tempfile.TemporaryDirectory(prefix="pocketgan-litert-") as tmp:
        job = Path(tmp)
        try:
            torch.export.save(torch.export.export(net, (), {INPUT: sample}), job / "net.pt2")
        except Exception as e:
            raise RuntimeError(f"LiteRT conversion of {name} at {size_label((h, w))} failed: "
                               f"{type(e).__name__}: {first_line(e)}") from e
        if batches is not None:
            np.save(job / "calibration.npy", np.concatenate(batches))
        (job / "job.json").write_text(json.dumps({"size": [h, w], "quantize": quantize, "metadata": metadata}))
        _run_worker(job, f"{name} at {size_label((h, w))}")
        model = (job / "model.tflite").read_bytes()
    atomic_write_bytes(path, model)


def worker_env() -> dict[str, str]:
    """The converter child's environment: ours, its libraries' logging turned down, and this
    pocketgan importable (a source checkout may not be installed)."""
    env = {**os.environ, **QUIET_ENV}
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def _run_worker(job: Path, what: str) -> None:
    """Run :mod:`._litert_worker` on ``job``; raise its error (one line) if it fails."""
    from .. import errors

    log = job / "stderr.txt"
    with open(log, "wb") as err:
        # cwd: the job folder, so that no `pocketgan` folder where the user stands shadows this one
        proc = subprocess.run([sys.executable, "-m", "pocketgan.export._litert_worker", str(job)], env=worker_env(),
                              cwd=job, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
    result_file = job / "result.json"
    result = json.loads(result_file.read_text()) if result_file.is_file() else None
    if proc.returncode == 0 and result and result.get("ok"):
        return
    if result and "error" in result:
        kind = getattr(errors, result.get("kind") or "", None)
        if isinstance(kind, type) and issubclass(kind, errors.PocketganError):
            raise kind(result["error"])
        raise RuntimeError(f"LiteRT conversion of {what} failed: {result['error']}")
    tail = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()][-STDERR_TAIL:]
    raise RuntimeError(f"LiteRT conversion of {what} failed: the converter process exited with status "
                       f"{proc.returncode}" + (f" ({' | '.join(tail)})" if tail else ""))


def quantize_model(model: bytes, quantize: str, calibration: list[np.ndarray] | None) -> bytes:
    """Quantize a float .tflite flatbuffer with ai_edge_quantizer (see the module docstring)."""
    import warnings

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
            assert calibration is not None  # only the static recipe calibrates, chosen when there is calibration
            ranges = qt.calibrate({SIGNATURE: [{INPUT: image} for image in calibration]},
                                  num_threads=max(1, min(os.cpu_count() or 1, 16)))
        result = qt.quantize(ranges, enable_progress_bar=False, enable_progress_report=False)
    return bytes(result.quantized_model)


def signature_names(model: bytes) -> dict[str, dict[str, list[str]]]:
    """The file's signatures: {key: {"inputs": [names], "outputs": [names]}}, as LiteRT reads them."""
    from ..inference.runners import litert_interpreter

    return litert_interpreter()(model_content=model).get_signature_list()
