"""Mobile generators: the ResNet generator's layout rebuilt for phones and converters.

What changes versus ``resnet_9blocks`` and why (GAN Compression / CAT lessons, converter bugs):
  * residual blocks are inverted residuals (1x1 expand, depthwise 3x3, 1x1 project), ~8x fewer MACs;
  * upsampling is nearest-neighbour x2 + depthwise-separable conv instead of ConvTranspose2d (no
    checkerboard, and LiteRT/ONNX-web/CoreML convert it without the transposed-conv bugs);
  * BatchNorm instead of InstanceNorm: it folds into the preceding conv at export (InstanceNorm is
    slow in TFLite and breaks int8), ``norm="none"`` is also allowed;
  * 3x3 stem and head instead of 7x7 (the 7x7 pair alone costs 0.3 GMACs at 256² for ngf=16).
Reflection padding is kept at the borders (MirrorPad in TFLite, Pad(reflect) in ONNX).

``residual=True`` makes the generator predict a *change* to its input (``clamp(x + delta)``) and
starts it as the identity (the head's conv is zero). A translation such as summer->winter keeps
most of the photo, so a short training run then starts from "do nothing" (which already scores
well on FID/KID) instead of from noise; used for the bundled CPU-trained model.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..errors import OptionError
from .layers import norm_layer
from .registry import register_generator


def _conv_bn_relu(cin: int, cout: int, k: int, stride: int, norm: str, groups: int = 1, relu: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, groups=groups, bias=norm == "none"),
                               norm_layer(norm)(cout)]
    if relu:
        layers.append(nn.ReLU(True))
    return layers


class InvertedResidual(nn.Module):
    """x + project(depthwise(expand(x))), MobileNetV2-style with ReLU."""

    def __init__(self, dim: int, expansion: int, norm: str) -> None:
        super().__init__()
        hidden = dim * expansion
        self.block = nn.Sequential(*_conv_bn_relu(dim, hidden, 1, 1, norm),
                                   *_conv_bn_relu(hidden, hidden, 3, 1, norm, groups=hidden),
                                   *_conv_bn_relu(hidden, dim, 1, 1, norm, relu=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class UpBlock(nn.Module):
    """Nearest x2 upsample, depthwise 3x3, pointwise 1x1 to ``cout``."""

    def __init__(self, cin: int, cout: int, norm: str) -> None:
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.conv = nn.Sequential(*_conv_bn_relu(cin, cin, 3, 1, norm, groups=cin), *_conv_bn_relu(cin, cout, 1, 1, norm))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.up(x))


class MobileResnetGenerator(nn.Module):
    size_multiple = 4

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 16, norm: str = "batch",
                 n_blocks: int = 9, expansion: int = 2, use_dropout: bool = False, residual: bool = False) -> None:
        super().__init__()
        if norm == "instance":
            raise OptionError("mobile generators use norm='batch' (folds into convs at export) or 'none'")
        if use_dropout:
            raise OptionError("mobile generators have no dropout")
        if residual and in_channels != out_channels:
            raise OptionError("a residual generator needs as many output channels as input channels")
        self.residual = residual
        c = ngf * 4
        self.stem = nn.Sequential(*_conv_bn_relu(in_channels, ngf, 3, 1, norm))
        self.down = nn.Sequential(*_conv_bn_relu(ngf, ngf * 2, 3, 2, norm), *_conv_bn_relu(ngf * 2, c, 3, 2, norm))
        self.blocks = nn.Sequential(*[InvertedResidual(c, expansion, norm) for _ in range(n_blocks)])
        self.up = nn.Sequential(UpBlock(c, ngf * 2, norm), UpBlock(ngf * 2, ngf, norm))
        self.head = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(ngf, out_channels, 3),
                                  *(() if residual else (nn.Tanh(),)))

    def reset_output(self) -> None:
        """Called after weight initialisation: a residual generator starts as the identity."""
        if self.residual:
            nn.init.zeros_(self.head[1].weight)
            nn.init.zeros_(self.head[1].bias)

    def feature_points(self) -> dict[str, nn.Module]:
        """Modules whose outputs distillation matches (see :func:`pocketgan.models.feature_points`)."""
        n = len(self.blocks)
        return {"down": self.down, "mid": self.blocks[max(n // 2 - 1, 0)] if n else self.down,
                "blocks": self.blocks, "up1": self.up[0]}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.head(self.up(self.blocks(self.down(self.stem(x)))))
        return torch.clamp(x + y, -1.0, 1.0) if self.residual else y


@register_generator("mobile_resnet_9blocks")
def mobile_resnet_9blocks(**kwargs) -> MobileResnetGenerator:
    return MobileResnetGenerator(n_blocks=9, **kwargs)


@register_generator("mobile_resnet_6blocks")
def mobile_resnet_6blocks(**kwargs) -> MobileResnetGenerator:
    return MobileResnetGenerator(n_blocks=6, **kwargs)
