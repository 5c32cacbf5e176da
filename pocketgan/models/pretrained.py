"""Model folders, diffusers-style: ``config.json`` + one ``<net>.safetensors`` per generator.

A folder holds the generators a user needs for inference (``G_A``: A->B, ``G_B``: B->A; an
imported published model may hold only one). Discriminators and optimizer state live only in
training checkpoints. Loading never unpickles anything.
"""
from __future__ import annotations

from pathlib import Path

import torch.nn as nn
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from .. import __version__
from ..errors import PocketganError, first_line
from ..fileio import atomic_write_bytes, atomic_write_json, read_json
from .registry import create_generator

CONFIG_NAME = "config.json"
FORMAT = "pocketgan-model"


class ModelFolderError(PocketganError):
    """A path that is not a usable pocketgan model folder (one line, naming the path)."""


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
    except (ValueError, UnicodeDecodeError) as e:
        raise ModelFolderError(f"{path}: unreadable config ({first_line(e)})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT or not config.get("generators"):
        raise ModelFolderError(f"{path}: not a pocketgan model config")
    return config


def build_generator(spec: dict) -> nn.Module:
    kwargs = {k: v for k, v in spec.items() if k != "name"}
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
    net = build_generator(config["generators"][name])
    path = folder / f"{name}.safetensors"
    try:
        state = load_file(path)
    except FileNotFoundError:
        raise ModelFolderError(f"{path}: missing weights file") from None
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelFolderError(f"{path}: unreadable weights ({first_line(e)})") from None
    load_weights(net, state, str(path))
    return net.eval()
