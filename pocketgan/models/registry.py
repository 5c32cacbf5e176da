"""Name -> constructor registries for generators and discriminators (timm-style).

One registry per role keeps the public API tiny: ``create_generator("resnet_9blocks", ngf=32)``.
Every created network remembers the exact arguments it was built with in ``net.config`` so a
model folder can rebuild it from ``config.json`` without pickles or import-by-string.
"""
from __future__ import annotations

from collections.abc import Callable

import torch.nn as nn

from ..choices import GENERATORS
from ..errors import OptionError
from .layers import init_weights

_GENERATORS: dict[str, Callable[..., nn.Module]] = {}
_DISCRIMINATORS: dict[str, Callable[..., nn.Module]] = {}


def _architectures() -> None:
    """Import the modules that register the architectures (a no-op after the first call): every
    lookup below sees all of them, whichever module was imported first."""
    from . import cut_resnet, discriminators, lab, mobile, resnet, unet  # noqa: F401


def register_generator(name: str) -> Callable:
    if name not in GENERATORS:  # config.json is checked against that list without importing torch
        raise ValueError(f"generator {name!r} is not listed in pocketgan.choices.GENERATORS; add it there")

    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _GENERATORS:
            raise ValueError(f"generator {name!r} is already registered")
        _GENERATORS[name] = fn
        return fn
    return deco


def register_discriminator(name: str) -> Callable:
    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _DISCRIMINATORS:
            raise ValueError(f"discriminator {name!r} is already registered")
        _DISCRIMINATORS[name] = fn
        return fn
    return deco


def list_generators() -> list[str]:
    _architectures()
    return sorted(_GENERATORS)


def list_discriminators() -> list[str]:
    _architectures()
    return sorted(_DISCRIMINATORS)


def _create(table: dict, kind: str, name: str, init_type: str, init_gain: float, kwargs: dict) -> nn.Module:
    _architectures()
    if name not in table:
        raise OptionError(f"unknown {kind} {name!r}; choose one of: {', '.join(sorted(table))}")
    net = table[name](**kwargs)
    init_weights(net, init_type, init_gain)
    net.config = {"name": name, **kwargs}
    return net


def create_generator(name: str, *, init_type: str = "normal", init_gain: float = 0.02, **kwargs) -> nn.Module:
    """Build a registered generator with initialised weights. ``kwargs`` go to its constructor
    (``in_channels``, ``out_channels``, ``ngf``, ``norm``, ``use_dropout``, ...)."""
    return _create(_GENERATORS, "generator", name, init_type, init_gain, kwargs)


def create_discriminator(name: str, *, init_type: str = "normal", init_gain: float = 0.02, **kwargs) -> nn.Module:
    """Build a registered discriminator with initialised weights (``in_channels``, ``ndf``, ``norm``, ...)."""
    return _create(_DISCRIMINATORS, "discriminator", name, init_type, init_gain, kwargs)
