"""A model folder's ``config.json``: read, checked against its schema, and what it says — torch-free.

`pocketgan translate` on ONNX Runtime, `pocketgan serve`'s card and the model listings read model
configs without importing torch; :mod:`.pretrained` builds the networks a config describes.
"""
from __future__ import annotations

import math
from pathlib import Path

from ..choices import CHANGE_PREDICTING, GENERATORS, NORMS
from ..directions import SLOTS
from ..errors import ModelFolderError, first_line
from ..fileio import read_json

CONFIG_NAME = "config.json"
FORMAT = "pocketgan-model"

# What a generator's entry in config.json may hold besides its "name": field -> (kind, low, high)
# for numbers, (kind, choices) for strings, (kind,) for true/false. A field not listed here (a new
# architecture's) may be a number, string, true/false or null, and is checked by the constructor.
SPEC_FIELDS: dict[str, tuple] = {
    "in_channels": (int, 1, 64), "out_channels": (int, 1, 64), "ngf": (int, 1, 1024), "n_blocks": (int, 0, 256),
    "expansion": (int, 1, 64), "norm": (str, NORMS), "padding": (str, None), "use_dropout": (bool,),
    "residual": (bool,), "antialias": (bool,), "antialias_up": (bool,),
}
OTHER_INT_RANGE = (-4096, 4096)
# a generator over this many parameters (1 GB of float32) is a broken or hostile config, not a model
MAX_GENERATOR_PARAMS = 250_000_000
# optional top-level fields and the JSON type each must have when present
CONFIG_FIELDS: dict[str, type] = {
    "pocketgan_version": str, "model_type": str, "description": str, "training": dict, "model_card": dict,
    "preprocess": dict, "published": dict, "source": dict, "distilled_from": dict,
}
_JSON_TYPE = {dict: "a mapping ({...})", list: "a list", str: "a string", int: "a whole number", bool: "true or false"}


def read_model_config(folder: str | Path) -> dict:
    folder = Path(folder)
    if not folder.exists():
        raise ModelFolderError(f"{folder}: no such model folder")
    if not folder.is_dir():
        raise ModelFolderError(f"{folder}: is a file, not a model folder (expected a folder with {CONFIG_NAME})")
    path = folder / CONFIG_NAME
    if not path.is_file():
        raise ModelFolderError(f"{folder}: not a pocketgan model folder (no {CONFIG_NAME}); "
                               "train one with `pocketgan train` or convert a .pth with `pocketgan import`")
    try:
        config = read_json(path)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise ModelFolderError(f"{path}: unreadable config ({first_line(e)})") from None
    except OSError as e:
        raise ModelFolderError(f"{path}: cannot read the config ({e.strerror or e})") from None
    if not isinstance(config, dict):
        raise ModelFolderError(f"{path}: {_kind(config)}, expected a mapping: not a pocketgan model config")
    if config.get("format") != FORMAT:
        raise ModelFolderError(f"{path}: not a pocketgan model config (no \"format\": \"{FORMAT}\")")
    check_model_config(config, str(path))
    return config


def _kind(value) -> str:
    for t, name in _JSON_TYPE.items():
        if type(value) is t:
            return name
    return "null" if value is None else "a number" if isinstance(value, float) else type(value).__name__


def check_model_config(config: dict, where: str) -> None:
    """Check a parsed config.json against the schema; one ModelFolderError line naming ``where``
    (the file) and the field otherwise."""
    gens = config.get("generators")
    if not isinstance(gens, dict):
        got = "missing" if gens is None else f"{_kind(gens)}, not a mapping"
        raise ModelFolderError(f"{where}: generators: {got} (expected e.g. {{\"G_A\": {{\"name\": "
                               "\"resnet_9blocks\", ...}})")
    if not gens:
        raise ModelFolderError(f"{where}: generators: empty (a model holds G_A, G_B or both)")
    for slot, spec in gens.items():
        if slot not in SLOTS:
            raise ModelFolderError(f"{where}: generators: unknown slot {slot!r} (expected {' or '.join(SLOTS)})")
        check_generator_spec(spec, f"{where}: generators.{slot}")
    for key, kind in CONFIG_FIELDS.items():
        if key in config and config[key] is not None and type(config[key]) is not kind:
            raise ModelFolderError(f"{where}: {key}: {_kind(config[key])}, expected {_JSON_TYPE[kind]}")
    distilled = config.get("distilled_from")
    if distilled:
        for key in ("teacher", "direction"):
            if not isinstance(distilled.get(key), str):
                raise ModelFolderError(f"{where}: distilled_from.{key}: {_kind(distilled.get(key))}, expected a string")
        check_generator_spec(distilled.get("teacher_generator"), f"{where}: distilled_from.teacher_generator")


def check_generator_spec(spec, where: str) -> None:
    """One generator entry: a mapping with a registered ``name`` and fields of the right types and
    ranges (:data:`SPEC_FIELDS`); ModelFolderError naming ``where`` and the field otherwise."""
    if not isinstance(spec, dict):
        raise ModelFolderError(f"{where}: {_kind(spec)}, expected a mapping with the generator's \"name\" and arguments")
    name = spec.get("name")
    if not isinstance(name, str):
        raise ModelFolderError(f"{where}.name: {'missing' if name is None else _kind(name)} (expected a generator "
                               f"name: {', '.join(sorted(GENERATORS))})")
    if name not in GENERATORS:
        raise ModelFolderError(f"{where}.name: unknown generator {name[:60]!r} (known: {', '.join(sorted(GENERATORS))})")
    for key, value in spec.items():
        if key == "name":
            continue
        if not isinstance(key, str) or not key.isidentifier():
            raise ModelFolderError(f"{where}: {str(key)[:40]!r} is not an argument name")
        rule = SPEC_FIELDS.get(key)
        if rule is None:
            if isinstance(value, bool) or value is None:
                continue
            if isinstance(value, int) and OTHER_INT_RANGE[0] <= value <= OTHER_INT_RANGE[1]:
                continue
            if isinstance(value, float) and math.isfinite(value) and abs(value) <= OTHER_INT_RANGE[1]:
                continue
            if isinstance(value, str) and len(value) <= 100:
                continue
            raise ModelFolderError(f"{where}.{key}: {_kind(value)} {str(value)[:40]!r} is not a usable argument value")
        kind = rule[0]
        if kind is bool and type(value) is not bool:
            raise ModelFolderError(f"{where}.{key}: {_kind(value)}, expected true or false")
        if kind is int:
            low, high = rule[1], rule[2]
            if type(value) is not int or not low <= value <= high:
                shown = value if type(value) is int else _kind(value)
                raise ModelFolderError(f"{where}.{key}: must be a whole number from {low} to {high} (got {shown})")
        if kind is str:
            choices = rule[1]
            if type(value) is not str or (choices is not None and value not in choices) or len(value) > 100:
                want = f"one of {', '.join(choices)}" if choices else "a string"
                raise ModelFolderError(f"{where}.{key}: must be {want} (got {str(value)[:40]!r})")


def predicts_change(spec: dict) -> bool:
    """True when the generator ``spec`` (a config.json entry) predicts a change to its input,
    ``clamp(x + delta)``: a residual mobile generator. Its strength scales that change, and a result
    larger than the working size adds the upsampled change to the full-size photo; any other
    generator's output is blended with the input and upscaled. The one rule: the pipelines, the
    ONNX change graph and the web page (through ``/api/model``) all ask it."""
    return spec.get("residual") is True and spec.get("name") in CHANGE_PREDICTING
