"""The state of a training run, component by component, and the checkpoint that composes them.

Every stateful part of a run — each net, optimizer and LR schedule, the image pools, the
generators' moving average, the fp16 loss scale, the running loss sums of the logging window,
the RNG states, the progress counters (which also fix the data order: it is a function of seed,
epoch and position) — is a :class:`Stateful`: ``state_dict()`` gives a flat mapping of names to
tensors or JSON-able values, ``load_state_dict()`` takes it back. The trainer lists its
components by name (``Trainer.state_components``); :func:`capture` and :func:`restore` compose
them into one checkpoint and back, knowing nothing of what they are. A new component is one more
entry in that list, not an edit here.

In the file (one safetensors, so one atomic rename covers all of it) a component ``name``'s
tensors are stored as ``name.key`` and its other values under ``meta["components"][name]``;
the progress counters form the header (``epoch``, ``step``, ... at the top of the metadata, what
``pocketgan info`` reads without loading a tensor). Under DDP what differs per rank (pools, RNG)
is gathered into rank 0's file, rank r > 0 under ``rank{r}.`` and ``meta["ranks"][r]``.
Checkpoints of the first format (before components) are read through :func:`upgrade`.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn as nn

from .. import __version__
from ..models.pretrained import load_weights
from . import distributed
from .checkpoint import subset
from .fast_path import set_adam_impl
from .schedule import load_scheduler_state, scheduler_state

FORMAT = 2  # 1: the layout before components (read through upgrade())


@runtime_checkable
class Stateful(Protocol):
    """A part of a run that a checkpoint saves: a flat mapping of tensors and JSON-able values."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@dataclass
class Progress:
    """Where a run is: counters and the best periodic-evaluation score so far (the checkpoint's header)."""

    epoch: int = 0           # current epoch (0-based) = epochs completed
    iter_in_epoch: int = 0   # steps already done in the current epoch
    step: int = 0            # steps done in total
    train_seconds: float = 0.0
    best_kid: float | None = None  # best mean KID x1000 of --eval-every so far

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "iter_in_epoch": self.iter_in_epoch, "step": self.step,
                "train_seconds": self.train_seconds, "best_kid": self.best_kid}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """In place: the loop holds on to this object while a failed compiled step is undone."""
        self.epoch, self.iter_in_epoch, self.step = state["epoch"], state["iter_in_epoch"], state["step"]
        self.train_seconds, self.best_kid = state.get("train_seconds", 0.0), state.get("best_kid")


@dataclass
class LossWindow:
    """Running sums of each loss over the current logging window (on the device: no sync per
    step). Checkpointed, so metrics.jsonl continues exactly after a resume."""

    sums: dict[str, torch.Tensor] = field(default_factory=dict)
    steps: int = 0

    @classmethod
    def of(cls, names, device: torch.device) -> LossWindow:
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

    def state_dict(self) -> dict[str, Any]:
        return {**self.sums, "window_steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps = state["window_steps"]
        for k, v in self.sums.items():
            v.copy_(state[k])


class ModuleState:
    """A net's weights, loaded with a one-line error naming the mismatch (not torch's page of keys)."""

    def __init__(self, net: nn.Module) -> None:
        self.net = net

    def state_dict(self) -> dict[str, Any]:
        return self.net.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        load_weights(self.net, state, "the saved weights")


class OptimizerState:
    """An optimizer's moments as tensors (``idx.key``), its param groups and other per-parameter
    values as JSON; after loading, this run's Adam implementation (foreach / fused) is set again."""

    def __init__(self, opt: torch.optim.Optimizer, impl: str) -> None:
        self.opt, self.impl = opt, impl

    def state_dict(self) -> dict[str, Any]:
        sd = self.opt.state_dict()
        out: dict[str, Any] = {"param_groups": sd["param_groups"], "plain_state": {}}
        for idx, entry in sd["state"].items():
            out["plain_state"][str(idx)] = {k: v for k, v in entry.items() if not torch.is_tensor(v)}
            out.update({f"{idx}.{k}": v for k, v in entry.items() if torch.is_tensor(v)})
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        per_param: dict[int, dict] = {int(i): dict(v) for i, v in state["plain_state"].items()}
        for key, v in state.items():
            if torch.is_tensor(v):
                idx, name = key.split(".", 1)
                per_param.setdefault(int(idx), {})[name] = v
        groups = [dict(g) for g in state["param_groups"]]
        for g in groups:
            if "betas" in g:
                g["betas"] = tuple(g["betas"])
        self.opt.load_state_dict({"state": per_param, "param_groups": groups})
        set_adam_impl(self.opt, self.impl)


class SchedulerState:
    """An LR schedule's counters (its lambda is rebuilt from the config)."""

    def __init__(self, scheduler) -> None:
        self.scheduler = scheduler

    def state_dict(self) -> dict[str, Any]:
        return scheduler_state(self.scheduler)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        load_scheduler_state(self.scheduler, state)


class RNGState:
    """The Python, NumPy, torch (and CUDA) generators of this process."""

    def __init__(self, device: torch.device, dist: distributed.Context) -> None:
        self.device, self.dist = device, dist

    def state_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"python": _jsonable(random.getstate()), "numpy": _jsonable(np.random.get_state()),
                               "torch": torch.get_rng_state()}
        if self.dist.active and self.device.type == "cuda":
            out["cuda"] = torch.cuda.get_rng_state(self.device)
        elif torch.cuda.is_available():
            out.update({f"cuda.{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        torch.set_rng_state(state["torch"])
        if "cuda" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda"], self.device)
        cuda_states = [state[k] for k in sorted(k for k in state if k.startswith("cuda."))]
        if cuda_states and torch.cuda.is_available() and not self.dist.active:
            torch.cuda.set_rng_state_all(cuda_states)
        random.setstate(_python_state(state["python"]))
        np.random.set_state(_numpy_state(state["numpy"]))


class StateError(ValueError):
    """A checkpoint that does not fit the run it should restore (one line naming the component)."""


def _split(components: dict[str, Stateful]) -> tuple[dict[str, torch.Tensor], dict[str, dict]]:
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, dict] = {}
    for name, comp in components.items():
        plain[name] = {}
        for k, v in comp.state_dict().items():
            if torch.is_tensor(v):
                tensors[f"{name}.{k}"] = v
            else:
                plain[name][k] = v
    return tensors, plain


def _join(components: dict[str, Stateful], tensors: dict[str, torch.Tensor], plain: dict, source: str) -> None:
    for name, comp in components.items():
        state = {**plain.get(name, {}), **subset(tensors, name)}
        if name not in plain and not state:
            raise StateError(f"{source}: holds no state for {name}")
        try:
            comp.load_state_dict(state)
        except (KeyError, ValueError, TypeError, RuntimeError) as e:
            raise StateError(f"{source} [{name}]: {e}") from None


def capture(components: dict[str, Stateful], rank_components: dict[str, Stateful], header: dict,
            dist: distributed.Context) -> tuple[dict[str, torch.Tensor], dict]:
    """The run's state as (tensors, JSON meta). ``header``: the config, the progress counters and
    the other values a reader needs without tensors. Every rank must call it (it gathers)."""
    tensors, plain = _split(components)
    own_tensors, own_plain = _split(rank_components)
    parts = distributed.gather(({k: v.cpu() for k, v in own_tensors.items()}, own_plain), dist)
    tensors.update(parts[0][0])
    plain.update(parts[0][1])
    meta = {"pocketgan_version": __version__, "format": FORMAT, **header, "world_size": dist.world,
            "components": plain}
    if dist.active:
        meta["ranks"] = {str(r): p for r, (_, p) in enumerate(parts) if r}
        for r, (t, _) in enumerate(parts[1:], start=1):
            tensors.update({f"rank{r}.{k}": v for k, v in t.items()})
    return tensors, meta


def restore(components: dict[str, Stateful], rank_components: dict[str, Stateful], tensors: dict[str, torch.Tensor],
            meta: dict, dist: distributed.Context, source: str) -> None:
    """Load every component from a checkpoint (:func:`capture`'s inverse; ``source`` names it in
    errors). Each rank takes its own per-rank part; a rank the checkpoint has none for (more
    processes than wrote it) keeps its fresh pools and RNG."""
    meta = upgrade(meta)
    _join(components, tensors, meta["components"], source)
    if dist.rank == 0:
        _join(rank_components, tensors, meta["components"], source)
    elif str(dist.rank) in meta.get("ranks", {}):
        _join(rank_components, subset(tensors, f"rank{dist.rank}"), meta["ranks"][str(dist.rank)], source)


def upgrade(meta: dict) -> dict:
    """A checkpoint's metadata in the current format. Format 1 (pocketgan before components) kept
    each kind of state in its own table; the tensors' names were already those of format 2."""
    if meta.get("format", 1) >= FORMAT:
        return meta

    def per_rank(m: dict) -> dict:
        return {**{f"pool.{n}": p for n, p in m.get("pools", {}).items()}, "rng": m.get("rng", {})}

    components = {**{f"optim.{n}": o for n, o in meta.get("optimizers", {}).items()},
                  **{f"sched.{n}": s for n, s in meta.get("schedulers", {}).items()},
                  "log": {"window_steps": meta.get("log_window", 0)}, "loss_scale": meta.get("loss_scale", {}),
                  **per_rank(meta)}
    old = ("optimizers", "schedulers", "pools", "rng", "log_window", "loss_scale", "ranks")
    out = {k: v for k, v in meta.items() if k not in old}
    out.update(format=FORMAT, components=components)
    if "ranks" in meta:
        out["ranks"] = {r: per_rank(m) for r, m in meta["ranks"].items()}
    return out


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
