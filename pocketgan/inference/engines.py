"""Which engine translates: the one choice `pocketgan translate` makes (and the server can make).

``onnx`` (the default): the model's verified ONNX export in ONNX Runtime, torch-free
(:mod:`pocketgan.inference.onnx_pipeline`; exports cached by :mod:`pocketgan.inference.onnx_cache`).
A bundled model ships its exports; any other model folder is exported once (that run imports torch).
``torch``: :class:`pocketgan.inference.pipeline.TranslationPipeline`, as before.

The ONNX engine runs on the CPU, so a GPU device (``--device cuda``/``mps``) means torch. Engine
left to choose (``None``): ONNX for ``--device auto``/``cpu``, torch for any other device. A model
the ONNX engine cannot serve (a .tflite file, a folder whose export fails or whose export needs the
``onnx`` package that is not installed) is translated with torch, with a one-line note.
"""
from __future__ import annotations

import sys
from collections.abc import Callable

from ..directions import get_direction
from ..errors import MissingDependency, OptionError, PocketganError, first_line
from ..models.config import predicts_change

ENGINES = ("onnx", "torch")
CPU_DEVICES = ("auto", "cpu")


def choose_engine(engine: str | None, device: str = "auto") -> str:
    """"onnx" or "torch" for an ``--engine`` (None: not given) and ``--device``."""
    if engine is not None and engine not in ENGINES:
        raise OptionError(f"--engine: unknown engine {engine!r} (choose {' or '.join(ENGINES)})")
    if engine == "torch" or device not in CPU_DEVICES:
        if engine == "onnx":
            raise OptionError(f"--engine onnx runs on the CPU; use --device cpu, or --engine torch for --device {device}")
        return "torch"
    return "onnx"


def _stderr_note(text: str) -> None:
    print(f"note: {text}", file=sys.stderr, flush=True)


def open_pipeline(model: str | None, direction: str = "AtoB", engine: str | None = None, device: str = "auto",
                  max_side: int | None = 1024, batch_size: int = 4, strength: float = 1.0,
                  note: Callable[[str], None] = _stderr_note):
    """A translation pipeline (``translate_many``, ``translate_to``, ``working_size``) for ``model``
    (a name, folder or exported file; None: the bundled default) on the engine :func:`choose_engine`
    picks; torch is imported only when the torch engine translates or an export has to be made."""
    chosen = choose_engine(engine, device)
    if chosen == "onnx":
        pipe = _onnx_pipeline(model, direction, max_side, strength, note)
        if pipe is not None:  # videos are translated by the torch pipeline still (stabilisation is torch code)
            pipe.torch_fallback = lambda: torch_pipeline(model, direction, device, max_side, batch_size, strength)
            return pipe
    return torch_pipeline(model, direction, device, max_side, batch_size, strength)


def torch_pipeline(model: str | None, direction: str, device: str, max_side: int | None, batch_size: int,
                   strength: float):
    """Today's PyTorch pipeline (device checked here, with its one-line errors)."""
    from ..devices import resolve_device
    from ..models.zoo import resolve_model
    from .pipeline import TranslationPipeline

    resolved = resolve_device(device)
    return TranslationPipeline.from_pretrained(resolve_model(model), direction, device=str(resolved),
                                               max_side=max_side, batch_size=batch_size, strength=strength)


def _onnx_pipeline(model: str | None, direction: str, max_side: int | None, strength: float,
                   note: Callable[[str], None]):
    """The ONNX pipeline for ``model``, or None when the torch engine must serve it (noted)."""
    from ..models.zoo import resolve_model  # torch-free: model configs are read by models/config.py
    from . import onnx_cache

    path = resolve_model(model)
    from .onnx_pipeline import OnnxTranslationPipeline

    if path.suffix.lower() == ".tflite":
        return None
    if path.suffix.lower() == ".onnx":  # its direction is baked in; blended as the torch path blends it
        return OnnxTranslationPipeline(path, max_side=max_side, strength=strength)
    config = onnx_cache.read_config(path)
    slot = get_direction(direction).slot
    spec = (config or {}).get("generators", {}).get(slot)
    if not isinstance(spec, dict):
        return None  # the torch path says what is wrong with the folder
    try:
        export, card = onnx_cache.translation_export(path, get_direction(direction).name, spec)
        residual = predicts_change(spec)
        graph = onnx_cache.change_graph(export, card, residual=residual)
    except (MissingDependency, onnx_cache.ChangeGraphError) as e:
        note(f"{first_line(e)}; translating with PyTorch (--engine torch)")
        return None
    except OSError as e:  # a full disk or lost permissions while the export is written: say which file
        where = getattr(e, "filename", None) or onnx_cache.export_dir(path)
        raise PocketganError(f"{where}: could not write the ONNX export of {path.name} ({e.strerror or e}); nothing "
                             "was translated; free some space, or translate with --engine torch") from None
    except PocketganError as e:  # an export below its quality floor: the weights still run in PyTorch
        exporter = sys.modules.get("pocketgan.export.exporter")
        if exporter is None or not isinstance(e, exporter.ExportError):
            raise
        note(f"{first_line(e)}; translating with PyTorch (--engine torch)")
        return None
    multiple = card.get("input", {}).get("size_multiple", 4) if isinstance(card.get("input"), dict) else 4
    return OnnxTranslationPipeline(export, graph, residual=residual, multiple=int(multiple), max_side=max_side,
                                   strength=strength)
