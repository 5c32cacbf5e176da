"""Normalisation choice and weight initialisation shared by all networks.

Both follow the CycleGAN/pix2pix reference exactly: InstanceNorm without affine parameters or
running stats (so it adds no state_dict keys), BatchNorm with both, and N(0, 0.02) init.
"""
from __future__ import annotations

import functools
from collections.abc import Callable

import torch.nn as nn
from torch.nn import init

from ..choices import INIT_TYPES, NORMS
from ..errors import OptionError


def norm_layer(norm: str) -> Callable[[int], nn.Module]:
    """Return a factory ``channels -> nn.Module`` for the named normalisation."""
    if norm == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if norm == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    if norm == "none":
        return lambda channels: nn.Identity()
    raise OptionError(f"unknown norm {norm!r}; choose one of: {', '.join(NORMS)}")


def conv_bias(norm: str) -> bool:
    """Convs before BatchNorm need no bias (BN has its own shift); before InstanceNorm the reference
    keeps one (it cancels out, but the published weights contain it, so we keep the keys)."""
    return norm != "batch"


def init_weights(net: nn.Module, init_type: str = "normal", gain: float = 0.02) -> None:
    """Initialise conv/linear weights and BatchNorm scales like the reference (biases to zero)."""
    if init_type not in INIT_TYPES:
        raise OptionError(f"unknown init {init_type!r}; choose one of: {', '.join(INIT_TYPES)}")

    def init_module(m: nn.Module) -> None:
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            if init_type == "normal":
                init.normal_(m.weight, 0.0, gain)
            elif init_type == "xavier":
                init.xavier_normal_(m.weight, gain=gain)
            elif init_type == "kaiming":
                init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            else:
                init.orthogonal_(m.weight, gain=gain)
            if m.bias is not None:
                init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            init.normal_(m.weight, 1.0, gain)
            init.zeros_(m.bias)

    net.apply(init_module)
    for m in net.modules():  # networks that must start as a particular function finish their own init
        reset_output = getattr(m, "reset_output", None)
        if callable(reset_output):
            reset_output()
