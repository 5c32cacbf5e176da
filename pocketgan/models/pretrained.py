"""Model folders, diffusers-style: ``config.json`` + one ``<net>.safetensors`` per generator.

A folder holds the generators a user needs for inference (``G_A``: A->B, ``G_B``: B->A; an
imported published model may hold only one). Discriminators and optimizer state live only in
training checkpoints. Loading never unpickles anything.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn as nn
from safetensors.torch import save

from .. import __version__
from ..choices import NORMS
from ..directions import SLOTS
from ..errors import ModelFolderError, first_line  # ModelFolderError: defined there, imported from here too
from ..fileio import atomic_write_bytes, atomic_write_json, read_json
from .registry import create_generator, list_generators
from .weights import read_safetensors

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


def save_pretrained(folder: str | Path, generators: dict[str, nn.Module], **info) -> Path:
    """Write ``config.json`` and ``<name>.safetensors`` for each generator. ``info`` (e.g.
    ``training={"steps": ...}``, ``preprocess={...}``) is stored verbatim in the config."""
    folder = Path(folder)
    for name, net in generators.items():
        tensors = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
        atomic_write_bytes(folder / f"{name}.safetensors", save(tensors))
    config = {"format": FORMAT, "pocketgan_version": __version__,
              "generators": {name: net.config for name, net in generators.items()}, **info}
    atomic_write_json(folder / CONFIG_NAME, config)  # last: a folder with a config is complete
    return folder


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
                               f"name: {', '.join(list_generators())})")
    if name not in list_generators():
        raise ModelFolderError(f"{where}.name: unknown generator {name[:60]!r} (known: {', '.join(list_generators())})")
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


def build_generator(spec: dict, source: str = "generator spec") -> nn.Module:
    """The generator ``spec`` (a config.json entry) describes, with initialised weights. A spec the
    constructor refuses, or one that would be unreasonably large (built first without memory, on
    PyTorch's meta device, to count), is one ModelFolderError line naming ``source``."""
    check_generator_spec(spec, source)
    kwargs = {k: v for k, v in spec.items() if k != "name"}
    try:
        with torch.device("meta"):
            probe = create_generator(spec["name"], **kwargs)
        params = sum(t.numel() for t in (*probe.parameters(), *probe.buffers()))
        del probe
    except (TypeError, ValueError, KeyError, IndexError, ZeroDivisionError, RuntimeError) as e:
        raise ModelFolderError(f"{source}: {spec['name']} cannot be built with these arguments ({first_line(e)})") from None
    if params > MAX_GENERATOR_PARAMS:
        raise ModelFolderError(f"{source}: {spec['name']} with these arguments would have {params:,} parameters "
                               f"(limit {MAX_GENERATOR_PARAMS:,}); the config is damaged")
    return create_generator(spec["name"], **kwargs)


def load_weights(net: nn.Module, state: dict, source: str) -> None:
    """``load_state_dict(strict)`` with a one-line error that names the file and the mismatch."""
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or unexpected or wrong:
        arch = ", ".join(f"{k}={v}" for k, v in getattr(net, "config", {}).items())
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (e.g. {unexpected[0]})")
        if wrong:
            k = wrong[0]
            parts.append(f"{len(wrong)} shape mismatches (e.g. {k}: {tuple(state[k].shape)} vs {tuple(own[k].shape)})")
        raise ModelFolderError(f"{source}: weights do not fit architecture [{arch}]: {'; '.join(parts)}")
    net.load_state_dict(state, strict=True)


def load_generator(folder: str | Path, name: str = "G_A") -> nn.Module:
    """Rebuild generator ``name`` from a model folder, in eval mode."""
    folder = Path(folder)
    config = read_model_config(folder)
    if name not in config["generators"]:
        have = ", ".join(config["generators"])
        raise ModelFolderError(f"{folder}: has no {name} (it holds {have})")
    net = build_generator(config["generators"][name], f"{folder / CONFIG_NAME}: generators.{name}")
    path = folder / f"{name}.safetensors"
    state, _ = read_safetensors(path)  # a damaged file is one WeightsError line (a ModelFolderError)
    load_weights(net, state, str(path))
    return net.eval()
