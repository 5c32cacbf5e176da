"""Run an exported generator file: ``.onnx`` with ONNX Runtime, ``.tflite`` with LiteRT.

Both runners take a uint8 (1, H, W, 3) RGB image and return the same (the graph written by
``pocketgan export`` does its own pre/post-processing, see ``export/prepare.ImageIO``).
:class:`~pocketgan.inference.exported.ExportedGenerator` wraps a runner as a float [-1, 1] NCHW
module so TranslationPipeline can translate with an exported file exactly as with a PyTorch
generator. No torch here: :mod:`pocketgan.inference.onnx_pipeline` runs the runners without it. `pocketgan export`
checks each file it writes with these same runners, so what was verified is what later runs.

Strength: an exported graph is the plain forward pass (strength 1), and a residual model's predicted
change is internal to it, so TranslationPipeline applies a strength S to an exported file as a blend
of its uint8 output against its uint8 input, ``clamp(x + S * (y - x))``. For a residual model
(``y = clamp(x + delta)``) that equals scaling the change, ``clamp(x + S * delta)``, wherever the
model's own clamp did not cut the change off (and up to rounding to uint8).

ONNX Runtime and LiteRT are optional (``pip install 'pocketgan[export]'``) and imported only when
a runner is made.
"""
from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import MissingDependency, PocketganError, first_line

INSTALL_HINT = "pip install 'pocketgan[export]'"

# What LiteRT's native code prints on its own (C stderr, not Python logging, so no setting reaches
# it): once per process, when the first interpreter's tensors are allocated. Not for our users.
NATIVE_NOISE = re.compile(r"INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.")
_stderr_lock = threading.Lock()


@contextlib.contextmanager
def native_stderr_without(noise: re.Pattern = NATIVE_NOISE) -> Iterator[None]:
    """Run the block with file descriptor 2 captured, then write back every captured line except
    whole-line matches of ``noise``: native libraries' chatter goes, anything else (warnings, a
    message of ours) still appears. A no-op where descriptor 2 cannot be duplicated."""
    with _stderr_lock:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError, AttributeError):
            yield
            return
        with tempfile.TemporaryFile() as capture:
            try:
                os.dup2(capture.fileno(), 2)
                yield
            finally:
                with contextlib.suppress(OSError, ValueError, AttributeError):
                    sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                capture.seek(0)
                kept = [line for line in capture.read().splitlines(keepends=True)
                        if not noise.fullmatch(line.decode(errors="replace").strip())]
                if kept:
                    os.write(2, b"".join(kept))


class ModelFileError(PocketganError):
    """An exported model file that cannot be used (missing, of an unknown type, or not loadable);
    one line naming the file."""


def require_onnxruntime() -> None:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise MissingDependency(f"running .onnx files needs onnxruntime: {INSTALL_HINT}") from None


def litert_interpreter():
    """LiteRT's ``Interpreter`` class, or a one-line MissingDependency naming the install command."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as e:
        raise MissingDependency(f"running .tflite files needs ai_edge_litert ({first_line(e)}); "
                                f"install it with: {INSTALL_HINT}") from None
    return Interpreter


class OnnxRunner:
    """Run an exported .onnx file on uint8 NHWC images with ONNX Runtime (CPU)."""

    def __init__(self, path: str | Path, threads: int = 0, spinning: bool = True) -> None:
        """``spinning=False``: ONNX Runtime's threads sleep between runs instead of spinning for the
        next one, leaving the cores to threads that decode and encode beside the model."""
        require_onnxruntime()
        import onnxruntime as ort

        self.path = Path(path)
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        if not spinning:
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types
            raise ModelFileError(f"{self.path}: not a loadable ONNX model ({first_line(e)})") from None
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        h, w = inp.shape[1], inp.shape[2]
        self.input_size = (h, w) if isinstance(h, int) and isinstance(w, int) else None

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: image})[0]


class LiteRTRunner:
    """Runs an exported .tflite generator: uint8 (1, H, W, 3) RGB in, uint8 (1, H, W, 3) RGB out, at
    the fixed size the file was exported for (``input_size``)."""

    def __init__(self, path: str | Path, num_threads: int | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelFileError(f"{self.path}: no such LiteRT model file")
        Interpreter = litert_interpreter()
        try:
            self._interpreter = Interpreter(model_path=str(self.path), num_threads=num_threads)
            with native_stderr_without():
                self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise ModelFileError(f"{self.path}: not a valid LiteRT/TFLite model ({first_line(e)})") from e
        inputs, outputs = self._interpreter.get_input_details(), self._interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelFileError(f"{self.path}: expected one input and one output, found {len(inputs)} and {len(outputs)}")
        self._input, self._output = inputs[0], outputs[0]
        shape = tuple(int(d) for d in self._input["shape"])
        if (self._input["dtype"] != np.uint8 or len(shape) != 4 or shape[0] != 1 or shape[3] != 3
                or self._output["dtype"] != np.uint8 or tuple(int(d) for d in self._output["shape"]) != shape):
            raise ModelFileError(f"{self.path}: not a pocketgan image model (input {self._input['dtype'].__name__} "
                                 f"{shape}, output {self._output['dtype'].__name__} {tuple(self._output['shape'])}; "
                                 "expected uint8 (1, H, W, 3) in and out)")
        self._shape = shape

    @property
    def input_size(self) -> tuple[int, int]:
        """(height, width) the file expects."""
        return self._shape[1], self._shape[2]

    def __call__(self, image: np.ndarray) -> np.ndarray:
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.shape != self._shape:
            raise ValueError(f"{self.path.name} takes uint8 {self._shape} RGB images "
                             f"(got {image.dtype} {image.shape}); it was exported for this fixed size")
        self._interpreter.set_tensor(self._input["index"], np.ascontiguousarray(image))
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._output["index"]).copy()

    def __repr__(self) -> str:
        return f"LiteRTRunner({str(self.path)!r}, input_size={self.input_size})"


def load_runner(path: str | Path):
    """A callable uint8 (1,H,W,3) -> uint8 (1,H,W,3) for an exported file, chosen by suffix."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such exported model file")
    if path.suffix == ".onnx":
        return OnnxRunner(path)
    if path.suffix == ".tflite":
        return LiteRTRunner(path)
    raise ModelFileError(f"{path}: unknown model file type (expected .onnx or .tflite)")


def __getattr__(name: str):
    """``ExportedGenerator`` (a torch module) lives in :mod:`.exported`, so importing the runners
    needs no torch; the old import path keeps working."""
    if name == "ExportedGenerator":
        from .exported import ExportedGenerator
        return ExportedGenerator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
