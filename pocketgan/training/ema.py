"""An exponential moving average (EMA) of the generators' weights: what a run saves and evaluates
when ``--ema-decay`` is set.

Why: a GAN generator's weights keep moving with its discriminator, so the last step's weights
carry that step's noise. Averaging the weights over the last ~1/(1 - decay) steps (Polyak
averaging; Yazici et al. 2019, "The Unusual Effectiveness of Averaging in GAN Training") removes
much of it at no training cost. Measured on summer2winter with the bundled model's second stage
(benchmarks/README.md, fifth sitting): decay 0.999 moved winter -> summer KID x1000 from 6.73 to
6.35 and summer -> winter from 3.97 to 4.27, with a slightly smaller change of the photo — a
smoother, milder translator, not a free win in every direction. The average
covers every floating-point entry of the state dict, batch-norm running statistics included, so
the averaged net is self-consistent; integer entries (batch counters) are copied.

The training nets are untouched: the trainer hands the averaged copies (:meth:`GeneratorEMA.shown`)
to whatever writes the model folder, draws sample grids or evaluates.
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn


class GeneratorEMA:
    """Averaged copies of some of an objective's nets (its generators), by their name in
    ``task.nets``."""

    def __init__(self, nets: dict[str, nn.Module], names: list[str], decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1) (got {decay})")
        self.decay = decay
        self.nets: dict[str, nn.Module] = {}
        for name in names:
            shadow = copy.deepcopy(nets[name]).eval()
            shadow.requires_grad_(False)
            self.nets[name] = shadow

    @classmethod
    def of_generators(cls, task, decay: float) -> GeneratorEMA:
        """The average of ``task.generators`` (whatever their names in ``task.nets``)."""
        names = [k for k, net in task.nets.items() if any(net is g for g in task.generators.values())]
        return cls(task.nets, names, decay)

    @torch.no_grad()
    def update(self, nets: dict[str, nn.Module]) -> None:
        """One step of the average towards the current weights of ``nets[name]``."""
        for name, shadow in self.nets.items():
            mine, theirs = shadow.state_dict(), nets[name].state_dict()
            floats = [k for k, v in mine.items() if v.is_floating_point()]
            torch._foreach_lerp_([mine[k] for k in floats], [theirs[k].detach() for k in floats], 1.0 - self.decay)
            for k, v in mine.items():
                if not v.is_floating_point():
                    v.copy_(theirs[k])

    def shown(self, nets: dict[str, nn.Module]) -> dict[str, nn.Module]:
        """``nets`` with the averaged copies in place of the nets they average: what a run saves,
        samples and evaluates (a new mapping; the objective's own nets are never replaced)."""
        return {**nets, **self.nets}

    # --- checkpointing (a Stateful: state.py) -----------------------------------------------
    def state_dict(self) -> dict[str, torch.Tensor]:
        """``name.key`` -> tensor, for every averaged net."""
        return {f"{name}.{k}": v for name, net in self.nets.items() for k, v in net.state_dict().items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        from ..models.pretrained import load_weights

        for name, net in self.nets.items():
            load_weights(net, {k[len(name) + 1:]: v for k, v in state.items() if k.startswith(name + ".")},
                         f"the averaged {name}")
