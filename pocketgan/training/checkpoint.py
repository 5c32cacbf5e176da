"""Training checkpoints: everything needed to continue a run bit-for-bit, in ONE safetensors file
(so the atomic rename covers all of it): network weights, optimizer moments, image pools and RNG
states as tensors; counters, scheduler state and the run config as JSON in the file's metadata."""
from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import torch
from safetensors.torch import save

from ..errors import PocketganError, first_line
from ..fileio import atomic_write_bytes
from ..models.weights import WeightsError, read_safetensors, read_safetensors_metadata

META_KEY = "pocketgan_checkpoint"
CHECKPOINT_ADVICE = "the run cannot continue from it: use a copy, or train again"


class CheckpointError(PocketganError):
    """An unusable checkpoint (one line naming the file)."""


def save_checkpoint(path: str | Path, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    atomic_write_bytes(path, save(tensors, metadata={META_KEY: json.dumps(meta)}))


def load_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors, metadata) of a training checkpoint; CheckpointError, one line naming it, otherwise."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint there")
    with _as_checkpoint_error(path):
        tensors, metadata = read_safetensors(path)
    return tensors, _meta(_pocketgan_meta(metadata, path), path)


def read_checkpoint_meta(path: str | Path) -> dict:
    """Just the JSON part (fast: the header is checked, no tensor is read)."""
    with _as_checkpoint_error(path):
        metadata = read_safetensors_metadata(path)
    return _meta(_pocketgan_meta(metadata, path), path)


@contextlib.contextmanager
def _as_checkpoint_error(path: str | Path) -> Iterator[None]:
    """The weight-file reader's checks (models/weights.py) are a checkpoint's; its one line is said
    as a CheckpointError, the type the training code expects."""
    try:
        yield
    except WeightsError as e:
        raise CheckpointError(f"{path}: unreadable checkpoint ({e.problem}); {CHECKPOINT_ADVICE}") from None


def _pocketgan_meta(metadata: dict[str, str], path: str | Path) -> str:
    if META_KEY not in metadata:
        raise CheckpointError(f"{path}: a safetensors file, but not a pocketgan training checkpoint")
    return metadata[META_KEY]


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
    ``resume=True``: also the component tables restoring a run reads (state.py; a checkpoint of the
    first format is checked as :func:`~pocketgan.training.state.upgrade` reads it). Raises
    :class:`CheckpointError`, one line naming ``path`` and the field."""
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
    from .state import upgrade  # the format of checkpoints written before components (state.py)

    try:
        full = upgrade(meta)
    except (AttributeError, TypeError, ValueError):
        raise bad("(its state tables)", "are not mappings of mappings") from None
    comps = full.get("components")
    if not isinstance(comps, dict) or not all(isinstance(v, dict) for v in comps.values()):
        raise bad("components", "is missing or not a mapping of mappings")
    for name, opt in ((n, c) for n, c in comps.items() if n.startswith("optim.")):
        if not isinstance(opt.get("param_groups"), list) or not all(isinstance(g, dict) for g in opt["param_groups"]):
            raise bad(f"{name}.param_groups", "is missing or not a list of mappings")
        if not isinstance(opt.get("plain_state"), dict):
            raise bad(f"{name}.plain_state", "is missing or not a mapping")
    rng = comps.get("rng")
    if not isinstance(rng, dict) or "python" not in rng or "numpy" not in rng:
        raise bad("rng", "is missing its python or numpy state")
    window = comps.get("log", {}).get("window_steps")
    if type(window) is not int or window < 0:
        raise bad("log window", "is missing or not a whole number >= 0")
    for key, kind in (("world_size", int), ("ranks", dict)):
        if key in full and not isinstance(full[key], kind):
            raise bad(key, f"has the wrong type ({type(full[key]).__name__})")
    return meta
