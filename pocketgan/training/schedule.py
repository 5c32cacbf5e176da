"""The reference's 'linear' policy: constant lr for ``n_epochs``, then linear decay over
``n_epochs_decay`` epochs. Stepped once per epoch; epoch ``e`` (0-based) trains at
lr * (1 - max(0, e + 1 - n_epochs) / (n_epochs_decay + 1))."""
from __future__ import annotations

import torch
from torch.optim.lr_scheduler import LambdaLR


def linear_decay_factor(epoch: int, n_epochs: int, n_epochs_decay: int) -> float:
    return 1.0 - max(0, epoch + 1 - n_epochs) / float(n_epochs_decay + 1)


def linear_decay(optimizer: torch.optim.Optimizer, n_epochs: int, n_epochs_decay: int) -> LambdaLR:
    return LambdaLR(optimizer, lambda e: linear_decay_factor(e, n_epochs, n_epochs_decay))


def scheduler_state(s: LambdaLR) -> dict:
    """JSON-able state (the lambda itself is rebuilt from the config)."""
    return {k: v for k, v in s.state_dict().items() if k != "lr_lambdas"}


def load_scheduler_state(s: LambdaLR, state: dict) -> None:
    s.load_state_dict({**state, "lr_lambdas": [None] * len(s.lr_lambdas)})
