"""ResNet generators (Johnson et al. 2016), the CycleGAN default.

Layer order and indices match the reference ``ResnetGenerator`` exactly, so its published
``latest_net_G_A.pth`` files load key-for-key (``model.1.weight`` ... ``model.26.bias``).

Feature taps (CUT's PatchNCE): ``net(x, layers=[...])`` returns the outputs of ``self.model[i]``
for each asked ``i`` (strictly increasing), computing nothing after the last one, exactly as the
CUT reference's ``netG(x, layers, encode_only=True)``. The index is the position in
``self.model``; for ``resnet_9blocks`` (28 layers, no anti-aliasing, so the CUT reference's
``--no_antialias`` numbering):

    0      ReflectionPad2d(3): the padded input image      3 ch at H+6
    1-3    7x7 conv, norm, ReLU                             ngf at H
    4-6    3x3 stride-2 conv, norm, ReLU                    2*ngf at H/2
    7-9    3x3 stride-2 conv, norm, ReLU                    4*ngf at H/4
    10-18  residual blocks 1-9 (one layer each)             4*ngf at H/4
    19-24  2 x (transposed conv, norm, ReLU)                2*ngf at H/2, ngf at H
    25-27  ReflectionPad2d(3), 7x7 conv, Tanh               out at H

so CUT's default ``0,4,8,12,16`` taps the input, the first stride-2 conv, the norm after the
second, and residual blocks 3 and 7 (``resnet_6blocks``: 25 layers, blocks at 10-15, so 16 is the
first transposed conv, as in the reference). A tap is the layer's output tensor itself, so where an
in-place ReLU follows (a norm layer: 8 here) it holds the rectified values, exactly as the
reference's taps do. Gradient checkpointing applies on this path too: the residual blocks
checkpoint themselves whichever way they are called.
"""
from __future__ import annotations

import itertools
import numbers
from collections.abc import Iterable, Sequence

import torch
import torch.nn as nn
from torch.utils.checkpoint import checkpoint

from ..errors import OptionError
from .layers import conv_bias, norm_layer
from .registry import register_generator

PADDINGS = ("reflect", "replicate", "zero")


def _net_name(net: nn.Module) -> str:
    return getattr(net, "config", {}).get("name", type(net).__name__)


def check_nce_layers(net: nn.Module, layers: Sequence[int], count: int) -> list[int]:
    """``layers`` as a list after checking it: at least one index, integers, strictly increasing,
    each in ``0..count-1``; else an OptionError naming ``--nce-layers`` and the count."""
    layers = list(layers)
    name = _net_name(net)
    if not layers:
        raise OptionError(f"--nce-layers: no layer given; {name} has {count} layers (0..{count - 1})")
    for i in layers:
        if isinstance(i, bool) or not isinstance(i, numbers.Integral):
            raise OptionError(f"--nce-layers: layer indices must be integers (got {i!r})")
    layers = [int(i) for i in layers]
    if any(b <= a for a, b in itertools.pairwise(layers)):
        raise OptionError(f"--nce-layers {','.join(map(str, layers))}: indices must be strictly increasing "
                          "(features come back in layer order)")
    bad = [i for i in layers if not 0 <= i < count]
    if bad:
        raise OptionError(f"--nce-layers: layer {bad[0]} does not exist; {name} has {count} layers "
                          f"(0..{count - 1})")
    return layers


def tap_features(modules: Iterable[nn.Module], x: torch.Tensor, layers: list[int]) -> list[torch.Tensor]:
    """Run ``modules`` in sequence on ``x``; return the outputs of those at positions ``layers``
    (checked, increasing), stopping after the last of them."""
    feats: list[torch.Tensor] = []
    last = layers[-1]
    wanted = set(layers)
    for i, module in enumerate(modules):
        x = module(x)
        if i in wanted:
            feats.append(x)
        if i == last:
            break
    return feats


def _pad(padding: str) -> tuple[list[nn.Module], int]:
    if padding == "reflect":
        return [nn.ReflectionPad2d(1)], 0
    if padding == "replicate":
        return [nn.ReplicationPad2d(1)], 0
    if padding == "zero":
        return [], 1
    raise OptionError(f"unknown padding {padding!r}; choose one of: {', '.join(PADDINGS)}")


class ResnetBlock(nn.Module):
    """x + (pad, conv3x3, norm, ReLU, [dropout], pad, conv3x3, norm)(x)."""

    def __init__(self, dim: int, padding: str, norm: str, use_dropout: bool) -> None:
        super().__init__()
        make_norm, bias = norm_layer(norm), conv_bias(norm)
        pad, p = _pad(padding)
        layers: list[nn.Module] = [*pad, nn.Conv2d(dim, dim, 3, padding=p, bias=bias), make_norm(dim), nn.ReLU(True)]
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        pad, p = _pad(padding)
        layers += [*pad, nn.Conv2d(dim, dim, 3, padding=p, bias=bias), make_norm(dim)]
        self.conv_block = nn.Sequential(*layers)
        self.grad_checkpointing = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.grad_checkpointing and self.training and torch.is_grad_enabled():
            # keep only the block's input; recompute the inside during backward (dropout masks are
            # replayed: checkpoint restores the RNG state)
            return x + checkpoint(self.conv_block, x, use_reentrant=False)
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """c7s1-ngf, two stride-2 downsamplings, ``n_blocks`` residual blocks at 4*ngf, two
    transposed-conv upsamplings, c7s1-3 + Tanh. Input sides must be multiples of 4."""

    size_multiple = 4

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, norm: str = "instance",
                 use_dropout: bool = False, n_blocks: int = 9, padding: str = "reflect") -> None:
        super().__init__()
        if n_blocks < 0:
            raise OptionError("n_blocks must be >= 0")
        make_norm, bias = norm_layer(norm), conv_bias(norm)
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7, bias=bias),
                                   make_norm(ngf), nn.ReLU(True)]
        for i in range(2):  # downsample
            c = ngf * 2 ** i
            layers += self._downsample(c, 2 * c, make_norm, bias)
        first_block = len(layers)
        layers += [ResnetBlock(ngf * 4, padding, norm, use_dropout) for _ in range(n_blocks)]
        for i in range(2):  # upsample
            c = ngf * 2 ** (2 - i)
            layers += self._upsample(c, c // 2, make_norm, bias)
            if i == 0:
                up1 = len(layers) - 1
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        self.n_blocks = n_blocks
        self._first_block, self._up1 = first_block, up1

    def _downsample(self, cin: int, cout: int, make_norm, bias: bool) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=bias), make_norm(cout), nn.ReLU(True)]

    def _upsample(self, cin: int, cout: int, make_norm, bias: bool) -> list[nn.Module]:
        return [nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1, bias=bias),
                make_norm(cout), nn.ReLU(True)]

    def feature_points(self) -> dict[str, nn.Module]:
        """Modules whose outputs distillation matches (see :func:`pocketgan.models.feature_points`)."""
        first_block = self._first_block  # after pad, conv, norm, relu and the two downsamplings
        return {"down": self.model[first_block - 1],
                "mid": self.model[first_block + max(self.n_blocks // 2 - 1, 0)] if self.n_blocks else self.model[first_block - 1],
                "blocks": self.model[first_block + self.n_blocks - 1] if self.n_blocks else self.model[first_block - 1],
                "up1": self.model[self._up1]}

    def nce_layer_count(self) -> int:
        """How many layers ``forward(x, layers=...)`` can tap: ``len(self.model)``."""
        return len(self.model)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Trade compute for memory in training: the residual blocks (most of the activations at
        4*ngf channels) are recomputed in the backward pass instead of stored. Same results."""
        if enable and any(isinstance(m, nn.BatchNorm2d) for m in self.modules()):
            raise OptionError("gradient checkpointing would update BatchNorm running statistics twice; "
                             "use it with norm='instance' or 'none'")
        for m in self.modules():
            if isinstance(m, ResnetBlock):
                m.grad_checkpointing = enable

    def forward(self, x: torch.Tensor, layers: Sequence[int] | None = None) -> torch.Tensor | list[torch.Tensor]:
        """The translated image; with ``layers`` (strictly increasing indices into ``self.model``)
        instead the list of those layers' outputs, computing nothing after the last one."""
        if layers is None:
            return self.model(x)
        return tap_features(self.model, x, check_nce_layers(self, layers, len(self.model)))


@register_generator("resnet_9blocks")
def resnet_9blocks(**kwargs) -> ResnetGenerator:
    return ResnetGenerator(n_blocks=9, **kwargs)


@register_generator("resnet_6blocks")
def resnet_6blocks(**kwargs) -> ResnetGenerator:
    return ResnetGenerator(n_blocks=6, **kwargs)
