"""The child process of :func:`pocketgan.export.litert.export_litert`: ``python -m
pocketgan.export._litert_worker JOB_DIR``.

JOB_DIR holds ``net.pt2`` (the prepared graph as a ``torch.export`` program), ``job.json`` (size,
quantize, metadata) and, for calibrated int8, ``calibration.npy``. The child converts, quantizes,
embeds the metadata, checks that the LiteRT runtime prepares the result and that its signature
is ``serving_default(image) -> translated``, and writes ``model.tflite`` and ``result.json``
(``{"ok": true}`` or ``{"error": one line, "kind": exception class}``). Its stderr is the parent's
to keep or drop (see the litert module's docstring)."""
from __future__ import annotations

import json
import sys
from pathlib import Path


def convert(job: Path) -> bytes:
    """The finished .tflite bytes for the job in ``job``."""
    import numpy as np
    import torch

    from ..inference.runners import litert_interpreter
    from .litert import INPUT, OUTPUT, SIGNATURE, quantize_model, require_litert
    from .tflite_metadata import add_metadata

    require_litert()
    import litert_torch

    spec = json.loads((job / "job.json").read_text())
    h, w = spec["size"]
    module = torch.export.load(job / "net.pt2").module()
    sample = torch.zeros((1, h, w, 3), dtype=torch.uint8)
    model = bytes(litert_torch.convert(module, sample_kwargs={INPUT: sample}).model_content())
    if spec["quantize"] is not None:
        calibration = job / "calibration.npy"
        batches = [b[None] for b in np.load(calibration)] if calibration.is_file() else None
        model = quantize_model(model, spec["quantize"], batches)
    if spec.get("metadata"):
        model = add_metadata(model, spec["metadata"])
    interpreter = litert_interpreter()(model_content=model)
    interpreter.allocate_tensors()  # a file the runtime cannot prepare is never written
    signatures = interpreter.get_signature_list()
    expected = {SIGNATURE: {"inputs": [INPUT], "outputs": [OUTPUT]}}
    if signatures != expected:
        raise RuntimeError(f"the converted model's signatures are {signatures}, not {expected}")
    return model


def main(argv: list[str]) -> int:
    from ..errors import PocketganError, first_line

    job = Path(argv[0])
    try:
        (job / "model.tflite").write_bytes(convert(job))
        result: dict[str, object] = {"ok": True}
    except Exception as e:  # reported to the parent, which raises it as one line
        kind = type(e).__name__ if isinstance(e, PocketganError) else None
        result = {"error": f"{type(e).__name__}: {first_line(e)}" if kind is None else str(e), "kind": kind}
    (job / "result.json").write_text(json.dumps(result))
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
