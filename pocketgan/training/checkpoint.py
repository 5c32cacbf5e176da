"""Training checkpoints: everything needed to continue a run bit-for-bit, in ONE safetensors file
(so the atomic rename covers all of it): network weights, optimizer moments, image pools and RNG
states as tensors; counters, scheduler state and the run config as JSON in the file's metadata."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from ..errors import PocketganError, first_line
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
    return tensors, _meta(metadata[META_KEY], path)


def read_checkpoint_meta(path: str | Path) -> dict:
    """Just the JSON part (fast: no tensor is read)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{path}: unreadable checkpoint ({e})") from None
    if META_KEY not in metadata:
        raise CheckpointError(f"{path}: not a pocketgan training checkpoint")
    return _meta(metadata[META_KEY], path)


def _meta(text: str, path: str | Path) -> dict:
    try:
        return json.loads(text)
    except ValueError as e:
        raise CheckpointError(f"{path}: damaged checkpoint metadata (not JSON: {e})") from None


def subset(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Tensors under ``prefix.`` with the prefix removed."""
    n = len(prefix) + 1
    return {k[n:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


# --------------------------------------------------------------------------- metadata validation

_COUNTERS = ("epoch", "iter_in_epoch", "step", "steps_per_epoch")


def validate_checkpoint_meta(meta, path: str | Path, *, resume: bool = False) -> dict:
    """Check a checkpoint's JSON metadata before anything indexes into it; returns it.

    Always: a mapping whose ``config`` is a valid training config (known keys, right types, values
    :meth:`TrainConfig.validate` accepts) and whose counters (``epoch``, ``iter_in_epoch``,
    ``step``, ``steps_per_epoch``) are whole numbers >= 0 (what ``pocketgan info`` reads).
    ``resume=True``: also what restoring a run reads (``log_window``, ``optimizers``,
    ``schedulers``, ``rng``, ``pools``). Raises :class:`CheckpointError`, one line naming ``path``
    and the field."""
    from .config import ConfigError, read_run_config

    def bad(field: str, why: str) -> CheckpointError:
        return CheckpointError(f"{path}: damaged checkpoint metadata: {field} {why}")

    if not isinstance(meta, dict):
        raise bad("(the whole)", f"is {type(meta).__name__}, not a mapping")
    cfg = meta.get("config")
    if not isinstance(cfg, dict):
        raise bad("config", "is missing" if cfg is None else f"is {type(cfg).__name__}, not a mapping")
    try:
        read_run_config(cfg, f"{path}: the run config it holds")
    except ConfigError as e:
        raise CheckpointError(first_line(e, limit=1000)) from None
    for key in _COUNTERS:
        value = meta.get(key)
        if type(value) is not int or value < 0:
            raise bad(key, "is missing" if value is None else f"must be a whole number >= 0 (got {str(value)[:40]!r})")
    seconds = meta.get("train_seconds", 0.0)
    if type(seconds) not in (int, float) or not seconds >= 0:
        raise bad("train_seconds", f"must be a number >= 0 (got {str(seconds)[:40]!r})")
    if not resume:
        return meta
    if type(meta.get("log_window")) is not int or meta["log_window"] < 0:
        raise bad("log_window", "is missing or not a whole number >= 0")
    for key in ("optimizers", "schedulers", "pools"):
        table = meta.get(key)
        if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
            raise bad(key, "is missing or not a mapping of mappings")
    for name, opt in meta["optimizers"].items():
        if not isinstance(opt.get("param_groups"), list) or not all(isinstance(g, dict) for g in opt["param_groups"]):
            raise bad(f"optimizers.{name}.param_groups", "is missing or not a list of mappings")
        if not isinstance(opt.get("plain_state"), dict):
            raise bad(f"optimizers.{name}.plain_state", "is missing or not a mapping")
    rng = meta.get("rng")
    if not isinstance(rng, dict) or "python" not in rng or "numpy" not in rng:
        raise bad("rng", "is missing its python or numpy state")
    for key, kind in (("world_size", int), ("ranks", dict), ("loss_scale", dict)):
        if key in meta and not isinstance(meta[key], kind):
            raise bad(key, f"has the wrong type ({type(meta[key]).__name__})")
    return meta
