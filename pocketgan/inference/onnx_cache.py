"""The ONNX exports `pocketgan translate` and `pocketgan serve` run: made once per model direction,
cached, and reused while they are up to date. Torch-free on the reuse path, so a translation by a
cached (or bundled, shipped) export never imports PyTorch; only a missing or stale export imports
the exporter (:func:`pocketgan.export.exporter.export_model`, the same verified export as
`pocketgan export`).

The rule (:func:`reusable_export`): a cached file is reused while it is a plain fp32 ONNX export of
this direction and architecture, newer than the weights, and its sha256 still matches its card (a
truncated or edited file is exported again). Cached exports live in ``MODEL/export/``, or in the
model home for bundled and imported models (:func:`export_dir`).

Bundled models ship their verified exports in the package (``pocketgan/pretrained/NAME/``); those
are reused without the "newer than the weights" part (a checkout or an unpacked wheel does not keep
the files' times in order), their hashes and cards still checked, and a test checks they reproduce
the shipped weights.

Each export also gets a *float graph* beside it (``G_A_256.float.onnx``): the same graph with the
generator's float result before any clamp as a second output ``generated`` (a residual generator's
sum ``x + delta``, any other generator's output), derived from the verified export by exposing that
one tensor, so it computes exactly what was verified. Strength and full-resolution results need it
(:mod:`pocketgan.inference.strength`, :mod:`pocketgan.inference.fullres`): the uint8 output alone
cannot give a residual model's change where its clamp cut it off, and blending a rounded output
rounds twice (off by up to 3/255 once upscaled).

Models are resolved and their export folders found by :mod:`pocketgan.models.zoo` itself, which
is torch-free (configs are read by :mod:`pocketgan.models.config`; Hub models by
:mod:`pocketgan.models.hub`), so a model whose export is cached is translated without PyTorch.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..directions import get_direction
from ..errors import PocketganError, first_line
from ..fileio import atomic_write_json, read_json
from ..home import file_digest
from ..models.config import CONFIG_NAME, predicts_change
from ..models.zoo import bundled_name, export_dir

EXPORT_SIZE = 256  # the export's verification size; the ONNX graph itself takes any multiple of the stride
CHANGE_OUTPUT = "generated"
CHANGE_FORMAT = "pocketgan-float-graph"

Exporter = Callable[[Path, str, int, object, str, Path], "tuple[Path, dict]"]


class ChangeGraphError(PocketganError):
    """An export whose generator's pre-clamp sum cannot be found (not a residual pocketgan graph)."""


def reusable_export(path: Path, model: Path, slot: str, direction: str, spec: dict) -> dict | None:
    """The card of an existing export that can be reused, or None. Reusable means: a plain fp32 ONNX
    export of this direction, of the same architecture, newer than the weights, and the file's hash
    still matches its card (so a truncated or edited file is exported again)."""
    weights = model / f"{slot}.safetensors"
    card = _matching_card(path, direction, spec)
    if card is None or not weights.is_file():
        return None
    fresh = path.stat().st_mtime >= weights.stat().st_mtime and card.get("sha256") == file_digest(path)
    return card if fresh else None


def _matching_card(path: Path, direction: str, spec: dict) -> dict | None:
    """``path``'s card when it describes a plain fp32 ONNX export of ``direction`` by ``spec``."""
    card = read_card(path)
    if card is None:
        return None
    ok = (card.get("format") == "onnx" and card.get("quantize") == "fp32" and card.get("direction") == direction
          and card.get("generator") == spec)
    return card if ok else None


def read_card(path: Path) -> dict | None:
    """The ``<file>.json`` card beside an export, or None when either is missing or the card is unreadable."""
    card_path = path.with_name(path.name + ".json")
    if not (path.is_file() and card_path.is_file()):
        return None
    try:
        card = read_json(card_path)
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return card if isinstance(card, dict) else None


def export_name(slot: str) -> str:
    return f"{slot}_{EXPORT_SIZE}.onnx"


def read_config(model: Path) -> dict | None:
    """``MODEL/config.json`` as read, or None when it is unreadable or not a mapping (the PyTorch
    path then reports the problem in its own words)."""
    try:
        config = read_json(model / CONFIG_NAME)
    except (OSError, ValueError, UnicodeDecodeError, RecursionError):
        return None
    return config if isinstance(config, dict) and isinstance(config.get("generators"), dict) else None


def shipped_export(model: Path, slot: str, direction: str, spec: dict) -> tuple[Path, dict] | None:
    """A bundled model's export shipped in the package, when it is there and intact."""
    if bundled_name(model) is None:
        return None
    path = Path(model) / export_name(slot)
    card = _matching_card(path, direction, spec)
    return (path, card) if card is not None and card.get("sha256") == file_digest(path) else None


def _export_in_process(model: Path, fmt: str, size: int, quantize, direction: str, out: Path) -> tuple[Path, dict]:
    from ..export.exporter import export_model

    return export_model(model, fmt, size, quantize, direction, out)


def _writable_dir(folder: Path) -> bool:
    """True if files can be created in ``folder`` (or in the nearest existing parent that would hold it)."""
    probe = folder
    while not probe.exists():
        probe = probe.parent
    return probe.is_dir() and os.access(probe, os.W_OK | os.X_OK)


def cached_export(model: Path, direction: str, spec: dict, cache_dir: Path,
                  exporter: Exporter | None = None) -> tuple[Path, dict]:
    """(file, card) of ``cache_dir``'s export of ``direction``: reused while :func:`reusable_export`
    says so, else exported there anew (with ``exporter``, default: in this process)."""
    slot = get_direction(direction).slot
    path = Path(cache_dir) / export_name(slot)
    card = reusable_export(path, Path(model), slot, direction, spec)
    if card is None:
        path, card = (exporter or _export_in_process)(Path(model), "onnx", EXPORT_SIZE, None, direction, path)
    return path, card


def translation_export(model: Path, direction: str, spec: dict) -> tuple[Path, dict]:
    """The export `translate` runs for ``direction``: the shipped one of a bundled model, else the
    cached one in :func:`export_dir` (exported when missing or stale; a read-only place gets a
    private temporary folder for this process)."""
    slot = get_direction(direction).slot
    shipped = shipped_export(model, slot, direction, spec)
    if shipped is not None:
        return shipped
    cache = export_dir(model)
    if not _writable_dir(cache):
        cache = Path(tempfile.mkdtemp(prefix="pocketgan-translate-"))
    return cached_export(model, direction, spec, cache)


def change_graph_path(export: Path) -> Path:
    return export.with_name(export.name[:-len(".onnx")] + ".float.onnx")


def change_graph(export: Path, card: dict, out_dir: Path | None = None, residual: bool | None = None) -> Path:
    """The change graph derived from ``export`` (see the module docstring): the one beside it (a
    bundled model's shipped one, or a cached one), reused while its card names ``export``'s sha256
    and its own hash matches; else derived anew into ``out_dir`` (default: beside ``export``; the
    model home for a bundled model's, the package folder is left alone). Deriving needs the
    ``onnx`` package, as exporting does."""
    beside = change_graph_path(export)
    if _valid_change_graph(beside, card):
        return beside
    if out_dir is None:
        bundled = bundled_name(export.parent)
        out_dir = export_dir(export.parent) if bundled else export.parent
    path = Path(out_dir) / beside.name
    if path != beside and _valid_change_graph(path, card):
        return path
    if not _writable_dir(path.parent):
        path = Path(tempfile.mkdtemp(prefix="pocketgan-translate-")) / path.name
    if residual is None:
        residual = predicts_change(card.get("generator") or {})
    derive_change_graph(export, path, residual)
    atomic_write_json(path.with_name(path.name + ".json"), {
        "file": path.name, "format": CHANGE_FORMAT, "sha256": file_digest(path), "derived_from": export.name,
        "derived_from_sha256": card.get("sha256"), "output": CHANGE_OUTPUT, "residual": residual,
        "note": "the export with the generator's float result before any clamp (float32 NCHW in [-1, 1] units: "
                "x + delta for a residual generator, else its output) as a second output; made by pocketgan "
                "translate for strength and full-resolution results"})
    return path


def _valid_change_graph(path: Path, card: dict) -> bool:
    own = read_card(path)
    return (own is not None and own.get("format") == CHANGE_FORMAT and own.get("derived_from_sha256") == card.get("sha256")
            and own.get("sha256") == file_digest(path))


def derive_change_graph(export: Path, out: Path, residual: bool = True) -> None:
    """Write ``export`` with the generator's float result before any clamp as the extra output
    :data:`CHANGE_OUTPUT`: a residual generator's sum ``x + delta`` (the input of its clamp), any
    other generator's output. Raises :class:`ChangeGraphError` when the graph has no such tensor."""
    from ..export.onnx import require_onnx
    from ..fileio import atomic_write_bytes

    require_onnx()
    import onnx

    try:
        model = onnx.load(str(export))
    except Exception as e:  # onnx raises protobuf's own errors
        raise ChangeGraphError(f"{export}: not a readable ONNX file ({first_line(e)})") from None
    nodes = model.graph.node
    producer = {o: n for n in nodes for o in n.output}
    ours = {o for n in nodes if n.name.startswith("/generator/") for o in n.output}
    # the generator's result: its tensors that the image I/O around it reads
    results = {i for n in nodes if not n.name.startswith("/generator/") for i in n.input if i in ours}
    if len(results) != 1:
        raise ChangeGraphError(f"{export}: cannot find the generator's output in the graph ({len(results)} candidates)")
    tensor = results.pop()
    if residual:
        clip = producer[tensor]
        if clip.op_type != "Clip":
            raise ChangeGraphError(f"{export}: the generator's output is no clamp ({clip.op_type}), "
                                   "so it is not a residual generator's")
        tensor = clip.input[0]
    # an Identity gives the tensor a stable name; the graph's own outputs are untouched
    nodes.append(onnx.helper.make_node("Identity", [tensor], [CHANGE_OUTPUT], name="/pocketgan/float_output"))
    model.graph.output.append(onnx.helper.make_tensor_value_info(CHANGE_OUTPUT, onnx.TensorProto.FLOAT, None))
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, model.SerializeToString())
