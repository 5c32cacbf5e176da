"""Model folders, diffusers-style: ``config.json`` + one ``<net>.safetensors`` per generator.

A folder holds the generators a user needs for inference (``G_A``: A->B, ``G_B``: B->A; an
imported published model may hold only one). Discriminators and optimizer state live only in
training checkpoints. Loading never unpickles anything. Reading and checking ``config.json`` is torch-free and lives in
:mod:`.config` (its names are importable from here too).
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
from safetensors.torch import save

from .. import __version__
from ..errors import ModelFolderError, first_line  # ModelFolderError: defined there, imported from here too
from ..fileio import atomic_write_bytes, atomic_write_json
from .config import (  # noqa: F401
    CONFIG_NAME,
    FORMAT,
    MAX_GENERATOR_PARAMS,
    check_generator_spec,
    check_model_config,
    predicts_change,
    read_model_config,
)
from .registry import create_generator
from .weights import read_safetensors


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
