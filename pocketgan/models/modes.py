"""``eval_mode(*nets)``: run nets in eval mode (no dropout, batch-norm running statistics used and
not updated) and put each back in the mode it was in, even if the body raises. Samples, periodic
evaluation and feature probes all need exactly this; hand-written eval()/train() pairs forget a
net or restore the wrong mode."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch.nn as nn


@contextlib.contextmanager
def eval_mode(*nets: nn.Module) -> Iterator[None]:
    modes = [(net, net.training) for net in nets]
    for net in nets:
        net.eval()
    try:
        yield
    finally:
        for net, training in modes:
            net.train(training)
