"""What `pocketgan serve` hands to the browser: one verified ONNX file per direction, plus a card.

A model folder is exported once per direction with :func:`pocketgan.export.exporter.export_model`
(the same verified export as `pocketgan export`, so the browser runs exactly what was checked
against PyTorch). Exports are cached beside the model in ``MODEL/export/`` and reused while they
are up to date; a read-only model folder gets a private temporary folder instead. An exported
``.onnx`` file is served as it is, described by its ``<file>.json`` card when there is one.

Model files are served under content-addressed names (``AtoB-<sha256 prefix>.onnx``) so the page's
service worker may cache them forever: a changed model gets a new URL.
"""
from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..directions import DIRECTION_NAMES, DIRECTIONS, get_direction
from ..errors import first_line
from ..fileio import read_json
from ..home import file_digest
from ..inference.onnx_cache import (  # noqa: F401  (EXPORT_SIZE: kept importable here)
    EXPORT_SIZE,
    _writable_dir,
    cached_export,
    reusable_export as _up_to_date,  # noqa: F401  (the rule, shared with translate)
)
from ..inference.runners import ModelFileError, OnnxRunner
from ..models.config import predicts_change
from ..models.hub import display_name
from ..models.pretrained import ModelFolderError, read_model_config
from ..models.zoo import export_dir
from ..public import public

# "summer2winter", "horse2zebra_v2", "winter2summer_yosemite": CycleGAN's naming of A -> B datasets and
# models (words of 3+ letters: a run named "s2w" says nothing a person would read)
_X2Y = re.compile(r"^([A-Za-z]{3,})2([A-Za-z]{3,})(?:[_\-.].*)?$")

def domain_names(config: dict, names: list[str]) -> dict[str, str] | None:
    """The everyday names of domains A and B, e.g. {"A": "summer", "B": "winter"}, so the page can
    say "summer → winter" instead of "A → B"; None when nothing tells them.

    From the config's ``domains`` ({"A": ..., "B": ...}) when it has one, else from the first of
    ``names`` (the model's name, the folder an export came from) written as CycleGAN names datasets
    and models, ``<A>2<B>`` (summer2winter, horse2zebra)."""
    given = config.get("domains")
    if isinstance(given, dict) and all(isinstance(given.get(k), str) and given[k].strip() for k in "AB"):
        return {k: given[k].strip() for k in "AB"}
    for name in names:
        match = _X2Y.match(name or "")
        if match and match.group(1).lower() != match.group(2).lower():
            return {"A": match.group(1).lower(), "B": match.group(2).lower()}
    return None


@dataclass
class ServedDirection:
    """One direction the browser can run: the ONNX file, its URL name and its model card."""

    direction: str
    path: Path
    sha256: str
    card: dict

    @property
    def url_name(self) -> str:
        return f"{self.direction}-{self.sha256[:16]}.onnx"


@dataclass
class ServedModel:
    """A model prepared for serving: its directions (with ONNX files) and a description for /api/model."""

    source: Path
    kind: str  # "folder" or "onnx"
    directions: dict[str, ServedDirection]
    config: dict = field(default_factory=dict)
    cache_dir: Path | None = None
    _tmp: tempfile.TemporaryDirectory | None = field(default=None, repr=False)

    def by_url_name(self, name: str) -> ServedDirection | None:
        return next((d for d in self.directions.values() if d.url_name == name), None)

    @property
    def name(self) -> str:
        if self.kind == "onnx":
            return self.source.stem
        return display_name(self.source) or self.source.name  # a Hub snapshot: its repository's name

    def domains(self) -> dict[str, str] | None:
        """Domain names (see :func:`domain_names`), from the config, the model's name or its exports' source."""
        sources = [s.card.get("source") for s in self.directions.values() if isinstance(s.card.get("source"), str)]
        return domain_names(self.config, [self.name, *sources])

    def describe(self) -> dict:
        """The public model card: no server paths, only what a client needs and what explains the model.
        ``direction_names`` words each direction for people ("summer → winter"), or is None;
        ``predicts_change`` says, per direction, whether the generator predicts a change to the photo."""
        generators = self.config.get("generators") or {
            get_direction(d).slot: s.card["generator"] for d, s in self.directions.items() if s.card.get("generator")}
        domains = self.domains()
        names = {d: f"{domains[get_direction(d).source]} → {domains[get_direction(d).target]}"
                 for d in self.directions} if domains else None
        return public({
            "name": self.name,
            "kind": self.kind,
            "directions": list(self.directions),
            # direction -> whether its generator predicts a change (models/config.py: predicts_change):
            # the page then adds the change to the full-size photo instead of upscaling the result
            "predicts_change": {d: predicts_change(generators.get(get_direction(d).slot) or {}) for d in self.directions},
            "domains": domains,
            "direction_names": names,
            "generators": generators,
            "training": self.config.get("training"),
            "description": self.config.get("description"),
            "model_card": self.config.get("model_card"),  # bundled models: data, steps, measured FID/KID
            "models": {d: {"url": f"models/{s.url_name}", "bytes": s.path.stat().st_size, "sha256": s.sha256,
                           "card": {**s.card, "source": display_name(self.source) or self.source.name}}
                       for d, s in self.directions.items()},
        })

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def export_child_main() -> None:
    """The child side of an isolated export: JSON arguments on stdin, JSON result on stdout."""
    import json
    import sys

    from ..errors import PocketganError
    from ..export.exporter import export_model

    model, fmt, size, quantize, direction, out = json.load(sys.stdin)
    try:
        path, card = export_model(model, fmt, size, quantize, direction, out)
        result = {"path": str(path), "card": card}
    except PocketganError as e:
        result = {"error": type(e).__name__, "message": str(e)}
    sys.stdout.write("\n" + json.dumps(result))


def _export(isolate: bool, model: Path, fmt: str, size: int, quantize, direction: str, out: Path) -> tuple[Path, dict]:
    """``export_model(...)``, in a fresh Python process when ``isolate``: a long-running server then
    never holds the exporter's and ONNX Runtime's memory (about 100 MB)."""
    from ..export.exporter import ExportError, export_model

    if not isolate:
        return export_model(model, fmt, size, quantize, direction, out)
    import json
    import subprocess
    import sys

    args = json.dumps([str(model), fmt, size, quantize, direction, str(out)])
    run = subprocess.run([sys.executable, "-c", "from pocketgan.app.model import export_child_main; export_child_main()"],
                         input=args, capture_output=True, text=True)
    try:
        result = json.loads(run.stdout.rsplit("\n", 1)[-1])
    except ValueError:
        detail = (run.stderr.strip().splitlines() or [f"exit status {run.returncode}"])[-1]
        raise ExportError(f"{model}: exporting {direction} to ONNX failed ({detail[:300]})") from None
    if "error" in result:
        raise (ModelFolderError if result["error"] == "ModelFolderError" else ExportError)(result["message"])
    return Path(result["path"]), result["card"]


def _export_folder(model: Path, cache_dir: Path | None, isolate: bool = False) -> ServedModel:
    config = read_model_config(model)
    tmp = None
    if cache_dir is None:
        cache_dir = export_dir(model)
        if not _writable_dir(cache_dir):  # e.g. a model shipped read-only: export privately
            tmp = tempfile.TemporaryDirectory(prefix="pocketgan-serve-")
            cache_dir = Path(tmp.name)
    directions: dict[str, ServedDirection] = {}
    for d in DIRECTIONS.values():
        spec = config["generators"].get(d.slot)
        if spec is None:
            continue
        path, card = cached_export(model, d.name, spec, cache_dir,
                                   exporter=lambda *args: _export(isolate, *args))
        directions[d.name] = ServedDirection(d.name, path, card["sha256"], card)
    if not directions:
        raise ModelFolderError(f"{model}: holds neither G_A nor G_B, nothing to serve")
    return ServedModel(model, "folder", directions, config, cache_dir, tmp)


def _onnx_file(path: Path) -> ServedModel:
    """An exported .onnx: one direction, taken from its card (AtoB when it has none)."""
    card_path = path.with_name(path.name + ".json")
    card: dict = {}
    if card_path.is_file():
        try:
            loaded = read_json(card_path)
        except (OSError, ValueError, UnicodeDecodeError) as e:
            raise ModelFileError(f"{card_path}: unreadable model card ({first_line(e)})") from None
        card = loaded if isinstance(loaded, dict) else {}
    direction = card.get("direction", "AtoB")
    if direction not in DIRECTION_NAMES:
        raise ModelFileError(f"{card_path}: direction {direction!r} is not {' or '.join(DIRECTION_NAMES)}")
    sha = file_digest(path)
    card = {**card, "file": path.name, "format": "onnx", "bytes": path.stat().st_size, "sha256": sha,
            "direction": direction}
    return ServedModel(path, "onnx", {direction: ServedDirection(direction, path, sha, card)})


def prepare_model(model: str | Path, cache_dir: str | Path | None = None, isolate: bool = False) -> ServedModel:
    """Turn ``model`` (a model folder or an exported .onnx file) into what the server serves.

    Raises ModelFolderError / ModelFileError (PocketganErrors) with one line naming the problem.
    """
    model = Path(model)
    if model.suffix == ".onnx":
        if not model.is_file():
            raise ModelFileError(f"{model}: no such .onnx file")
        OnnxRunner(model)  # fail now, with a clear line, on a file ONNX Runtime cannot load
        return _onnx_file(model)
    if model.suffix == ".tflite":
        raise ModelFileError(f"{model}: the web app runs ONNX; serve the model folder or an exported .onnx file")
    return _export_folder(model, Path(cache_dir) if cache_dir is not None else None, isolate)
