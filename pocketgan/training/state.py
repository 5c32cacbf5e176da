"""The full state of a training run, captured into and restored from one checkpoint, so that a
resumed run is a bit-exact continuation: every net (frozen ones too), optimizer moments, LR
schedules, the fp16 loss scale, image pools, the Python/NumPy/torch (and CUDA) RNG states, the
counters and the running loss sums of the current logging window.

Under DDP every rank's pools and RNG states are gathered into rank 0's file (rank r > 0 under
``rank{r}.``), so each rank resumes exactly too. :func:`capture` and :func:`restore` are exact
inverses; the trainer uses the pair also to undo a failed first compiled step.
"""
from __future__ import annotations

import random
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from .. import __version__
from ..models.pretrained import ModelFolderError, load_weights
from . import distributed
from .checkpoint import optimizer_join, optimizer_split, subset
from .fast_path import set_adam_impl
from .schedule import load_scheduler_state, scheduler_state

if TYPE_CHECKING:
    from .loop import Trainer


@dataclass
class Progress:
    """Where a run is: counters and the best periodic-evaluation score so far."""

    epoch: int = 0           # current epoch (0-based) = epochs completed
    iter_in_epoch: int = 0   # steps already done in the current epoch
    step: int = 0            # steps done in total
    train_seconds: float = 0.0
    best_kid: float | None = None  # best mean KID x1000 of --eval-every so far


@dataclass
class LossWindow:
    """Running sums of each loss over the current logging window (on the device: no sync per
    step). Checkpointed, so metrics.jsonl continues exactly after a resume."""

    sums: dict[str, torch.Tensor] = field(default_factory=dict)
    steps: int = 0

    @classmethod
    def of(cls, names, device: torch.device) -> "LossWindow":
        return cls({k: torch.zeros((), device=device) for k in names})

    def add(self, losses: dict[str, torch.Tensor]) -> None:
        for k, v in losses.items():
            self.sums[k] += v
        self.steps += 1

    def means(self) -> dict[str, float]:
        return {k: round(float(v) / max(self.steps, 1), 5) for k, v in self.sums.items()}

    def reset(self) -> None:
        for v in self.sums.values():
            v.zero_()
        self.steps = 0


def _rank_state(tr: "Trainer") -> tuple[dict[str, torch.Tensor], dict]:
    """What differs between ranks: image pools and RNG states."""
    tensors: dict[str, torch.Tensor] = {}
    meta: dict = {"pools": {}, "rng": {"python": _jsonable(random.getstate()), "numpy": _jsonable(np.random.get_state())}}
    for name, pool in tr.task.pools.items():
        meta["pools"][name] = pool.meta()
        tensors.update({f"pool.{name}.{k}": v for k, v in pool.tensors().items()})
    tensors["rng.torch"] = torch.get_rng_state()
    if tr.dist.active and tr.device.type == "cuda":
        tensors["rng.cuda"] = torch.cuda.get_rng_state(tr.device)
    elif torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    return tensors, meta


def _restore_rank_state(tr: "Trainer", tensors: dict[str, torch.Tensor], meta: dict) -> None:
    for name, pool in tr.task.pools.items():
        pool.load(meta["pools"][name], subset(tensors, f"pool.{name}"))
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and tr.device.type == "cuda":
        torch.cuda.set_rng_state(tensors["rng.cuda"], tr.device)
    cuda_states = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng.cuda."))]
    if cuda_states and torch.cuda.is_available() and not tr.dist.active:
        torch.cuda.set_rng_state_all(cuda_states)
    random.setstate(_python_state(meta["rng"]["python"]))
    np.random.set_state(_numpy_state(meta["rng"]["numpy"]))


def capture(tr: "Trainer") -> tuple[dict[str, torch.Tensor], dict]:
    """The full training state as (tensors, JSON meta). Every rank must call it (it gathers)."""
    p = tr.progress
    tensors: dict[str, torch.Tensor] = {}
    meta = {"pocketgan_version": __version__, "config": tr.cfg.to_dict(), "epoch": p.epoch,
            "iter_in_epoch": p.iter_in_epoch, "step": p.step, "train_seconds": p.train_seconds,
            "steps_per_epoch": tr.steps_per_epoch, "log_window": tr.window.steps, "best_kid": p.best_kid,
            "world_size": tr.dist.world, "optimizers": {}, "schedulers": {}, "loss_scale": tr.precision.state()}
    for name, net in tr.task.nets.items():
        tensors.update({f"net.{name}.{k}": v for k, v in net.state_dict().items()})
    if tr.ema is not None:
        tensors.update({f"ema.{k}": v for k, v in tr.ema.state_tensors().items()})
    for name, opt in tr.task.optimizers.items():
        t, meta["optimizers"][name] = optimizer_split(opt, f"optim.{name}")
        tensors.update(t)
    for name, s in tr.schedulers.items():
        meta["schedulers"][name] = scheduler_state(s)
    tensors.update({f"log.{k}": v for k, v in tr.window.sums.items()})
    own_tensors, own_meta = _rank_state(tr)
    parts = distributed.gather(({k: v.cpu() for k, v in own_tensors.items()}, own_meta), tr.dist)
    tensors.update(parts[0][0])
    meta.update(parts[0][1])
    if tr.dist.active:
        meta["ranks"] = {str(r): m for r, (_, m) in enumerate(parts) if r}
        for r, (t, _) in enumerate(parts[1:], start=1):
            tensors.update({f"rank{r}.{k}": v for k, v in t.items()})
    return tensors, meta


def restore(tr: "Trainer", tensors: dict[str, torch.Tensor], meta: dict, source: str) -> None:
    """Put ``tr`` back into the captured state (``source`` names it in errors)."""
    from .run import TrainingError

    try:
        for name, net in tr.task.nets.items():
            load_weights(net, subset(tensors, f"net.{name}"), f"{source} [{name}]")
        if tr.ema is not None:
            for name, net in tr.ema.nets.items():
                load_weights(net, subset(tensors, f"ema.{name}"), f"{source} [averaged {name}]")
    except ModelFolderError as e:
        raise TrainingError(str(e)) from None
    for name, opt in tr.task.optimizers.items():
        opt.load_state_dict(optimizer_join(meta["optimizers"][name], tensors, f"optim.{name}"))
        set_adam_impl(opt, tr.fast.adam)
    for name, s in tr.schedulers.items():
        load_scheduler_state(s, meta["schedulers"][name])
    tr.precision.load_state(meta.get("loss_scale", {}))
    rank = tr.dist.rank
    if meta.get("world_size", 1) != tr.dist.world:
        warnings.warn(f"the checkpoint was written by {meta.get('world_size', 1)} processes, this run has "
                      f"{tr.dist.world}; the resumed run is not an exact continuation")
    if rank == 0:
        _restore_rank_state(tr, tensors, meta)
    elif str(rank) in meta.get("ranks", {}):
        _restore_rank_state(tr, subset(tensors, f"rank{rank}"), meta["ranks"][str(rank)])
    # in place: the loop holds on to tr.progress while a failed compiled step is undone
    p = tr.progress
    p.epoch, p.iter_in_epoch, p.step = meta["epoch"], meta["iter_in_epoch"], meta["step"]
    p.train_seconds, p.best_kid = meta.get("train_seconds", 0.0), meta.get("best_kid")
    tr.window.steps = meta["log_window"]
    for k, v in subset(tensors, "log").items():
        tr.window.sums[k].copy_(v)
    if meta["steps_per_epoch"] != tr.steps_per_epoch:
        warnings.warn(f"the dataset changed since the checkpoint ({meta['steps_per_epoch']} -> "
                      f"{tr.steps_per_epoch} steps per epoch); the resumed run is not an exact continuation")


def _jsonable(state):
    if isinstance(state, np.ndarray):
        return state.tolist()
    if isinstance(state, (tuple, list)):
        return [_jsonable(s) for s in state]
    return state


def _python_state(s: list) -> tuple:
    return (s[0], tuple(s[1]), s[2])


def _numpy_state(s: list) -> tuple:
    return (s[0], np.array(s[1], dtype=np.uint32), int(s[2]), int(s[3]), float(s[4]))
