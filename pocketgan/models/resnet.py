"""ResNet generators (Johnson et al. 2016), the CycleGAN default.

Layer order and indices match the reference ``ResnetGenerator`` exactly, so its published
``latest_net_G_A.pth`` files load key-for-key (``model.1.weight`` ... ``model.26.bias``).
"""
from __future__ import annotations

import torch
import torch.nn as nn
from torch.utils.checkpoint import checkpoint

from ..errors import OptionError
from .layers import conv_bias, norm_layer
from .registry import register_generator

PADDINGS = ("reflect", "replicate", "zero")


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
            layers += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1, bias=bias), make_norm(2 * c), nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4, padding, norm, use_dropout) for _ in range(n_blocks)]
        for i in range(2):  # upsample
            c = ngf * 2 ** (2 - i)
            layers += [nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1, bias=bias),
                       make_norm(c // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        self.n_blocks = n_blocks

    def feature_points(self) -> dict[str, nn.Module]:
        """Modules whose outputs distillation matches (see :func:`pocketgan.models.feature_points`)."""
        first_block = 10  # pad, conv, norm, relu, 2 x (conv, norm, relu)
        return {"down": self.model[first_block - 1],
                "mid": self.model[first_block + max(self.n_blocks // 2 - 1, 0)] if self.n_blocks else self.model[first_block - 1],
                "blocks": self.model[first_block + self.n_blocks - 1] if self.n_blocks else self.model[first_block - 1],
                "up1": self.model[first_block + self.n_blocks + 2]}

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Trade compute for memory in training: the residual blocks (most of the activations at
        4*ngf channels) are recomputed in the backward pass instead of stored. Same results."""
        if enable and any(isinstance(m, nn.BatchNorm2d) for m in self.modules()):
            raise OptionError("gradient checkpointing would update BatchNorm running statistics twice; "
                             "use it with norm='instance' or 'none'")
        for m in self.modules():
            if isinstance(m, ResnetBlock):
                m.grad_checkpointing = enable

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


@register_generator("resnet_9blocks")
def resnet_9blocks(**kwargs) -> ResnetGenerator:
    return ResnetGenerator(n_blocks=9, **kwargs)


@register_generator("resnet_6blocks")
def resnet_6blocks(**kwargs) -> ResnetGenerator:
    return ResnetGenerator(n_blocks=6, **kwargs)
