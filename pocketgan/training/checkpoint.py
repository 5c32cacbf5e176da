"""Training checkpoints: everything needed to continue a run bit-for-bit, in ONE safetensors file
(so the atomic rename covers all of it): network weights, optimizer moments, image pools and RNG
states as tensors; counters, scheduler state and the run config as JSON in the file's metadata."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from ..errors import PocketganError
from ..fileio import atomic_write_bytes

META_KEY = "pocketgan_checkpoint"


class CheckpointError(PocketganError):
    """An unusable checkpoint (one line naming the file)."""


def optimizer_split(opt: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer state_dict into tensors and JSON-able metadata."""
    sd = opt.state_dict()
    tensors, plain_state = {}, {}
    for idx, entry in sd["state"].items():
        plain_state[str(idx)] = {}
        for k, v in entry.items():
            if torch.is_tensor(v):
                tensors[f"{prefix}.{idx}.{k}"] = v
            else:
                plain_state[str(idx)][k] = v
    return tensors, {"param_groups": sd["param_groups"], "plain_state": plain_state}


def optimizer_join(meta: dict, tensors: dict[str, torch.Tensor], prefix: str) -> dict:
    state: dict[int, dict] = {int(i): dict(v) for i, v in meta["plain_state"].items()}
    for key, v in tensors.items():
        if key.startswith(prefix + "."):
            idx, name = key[len(prefix) + 1:].split(".", 1)
            state.setdefault(int(idx), {})[name] = v
    groups = [dict(g) for g in meta["param_groups"]]
    for g in groups:
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
    return {"state": state, "param_groups": groups}


def save_checkpoint(path: str | Path, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    atomic_write_bytes(path, save(tensors, metadata={META_KEY: json.dumps(meta)}))


def load_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint there")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            if META_KEY not in metadata:
                raise CheckpointError(f"{path}: a safetensors file, but not a pocketgan training checkpoint")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{path}: unreadable checkpoint ({e})") from None
    return tensors, json.loads(metadata[META_KEY])


def read_checkpoint_meta(path: str | Path) -> dict:
    """Just the JSON part (fast: no tensor is read)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{path}: unreadable checkpoint ({e})") from None
    if META_KEY not in metadata:
        raise CheckpointError(f"{path}: not a pocketgan training checkpoint")
    return json.loads(metadata[META_KEY])


def subset(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Tensors under ``prefix.`` with the prefix removed."""
    n = len(prefix) + 1
    return {k[n:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
