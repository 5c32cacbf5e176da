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

Feature taps for CUT's PatchNCE: ``net(x, layers=[...])`` returns the outputs of the asked layers
(strictly increasing indices), computing nothing after the last one. The layers are numbered by
walking stem, down, blocks, up and head in order, one index per module: every conv, norm and ReLU
of stem/down/head, each inverted residual block as one layer, and for each up block its nearest
x2 upsample then its six conv/norm/ReLU modules. ``mobile_resnet_9blocks`` (35 layers; 34 with
``residual=True``, which has no Tanh):

    0-2    stem: 3x3 conv, BN, ReLU                          ngf at H
    3-5    down: 3x3 stride-2 conv, BN, ReLU                 2*ngf at H/2
    6-8    down: 3x3 stride-2 conv, BN, ReLU                 4*ngf at H/4
    9-17   inverted residual blocks 1-9 (one layer each)     4*ngf at H/4
    18-24  up 1: nearest x2, dw 3x3, BN, ReLU, 1x1, BN, ReLU 4*ngf then 2*ngf at H/2
    25-31  up 2: nearest x2, dw 3x3, BN, ReLU, 1x1, BN, ReLU 2*ngf then ngf at H
    32-34  head: ReflectionPad2d(1), 3x3 conv, Tanh           out at H

so CUT's default ``0,4,8,12,16`` taps the stem conv (input-resolution features), the BN after the
first stride-2 conv (rectified in place by the ReLU after it: a tap is the layer's output tensor
itself, as in the CUT reference), the ReLU after the second, and inverted residual blocks 4 and 8.
With 6 blocks (32 layers, blocks at 9-14) index 16 is the first up block's depthwise conv;
``0,4,8,11,14`` keeps every tap in the encoder there. A ``residual=True`` generator is tapped on its own features: the
last head index is the predicted change, never the clamped ``x + change``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from ..errors import OptionError
from .layers import norm_layer
from .registry import register_generator
from .resnet import check_nce_layers, tap_features


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
            conv = self.head[1]  # after the pad
            assert isinstance(conv, nn.Conv2d) and conv.bias is not None
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)

    def feature_points(self) -> dict[str, nn.Module]:
        """Modules whose outputs distillation matches (see :func:`pocketgan.models.feature_points`)."""
        n = len(self.blocks)
        return {"down": self.down, "mid": self.blocks[max(n // 2 - 1, 0)] if n else self.down,
                "blocks": self.blocks, "up1": self.up[0]}

    def nce_layers(self) -> list[nn.Module]:
        """The modules ``forward(x, layers=...)`` numbers, in order (see the module docstring);
        running them one after the other is the generator before its residual sum."""
        flat: list[nn.Module] = [*self.stem, *self.down, *self.blocks]
        for block in self.up:
            assert isinstance(block, UpBlock)
            flat += [block.up, *block.conv]
        return flat + list(self.head)

    def nce_layer_count(self) -> int:
        """How many layers ``forward(x, layers=...)`` can tap."""
        return len(self.nce_layers())

    def forward(self, x: torch.Tensor, layers: Sequence[int] | None = None,
                strength: float = 1.0) -> torch.Tensor | list[torch.Tensor]:
        """The translated image; with ``layers`` (strictly increasing indices, see the module
        docstring) instead the list of those layers' outputs, computing nothing after the last one.

        ``strength`` (residual generators only) scales the predicted change before it is added and
        clamped, ``clamp(x + strength * delta)``: 0 gives the input, 1 (the default, and what
        export traces) is the plain forward pass, bit for bit."""
        if layers is not None:
            flat = self.nce_layers()
            return tap_features(flat, x, check_nce_layers(self, layers, len(flat)))
        y = self.head(self.up(self.blocks(self.down(self.stem(x)))))
        if not self.residual:
            if strength != 1.0:
                raise OptionError("only a residual generator scales its change by a strength; blend the output "
                                  "of this one with its input instead (TranslationPipeline does)")
            return y
        if strength != 1.0:
            y = y * strength
        return torch.clamp(x + y, -1.0, 1.0)


@register_generator("mobile_resnet_9blocks")
def mobile_resnet_9blocks(**kwargs) -> MobileResnetGenerator:
    return MobileResnetGenerator(n_blocks=9, **kwargs)


@register_generator("mobile_resnet_6blocks")
def mobile_resnet_6blocks(**kwargs) -> MobileResnetGenerator:
    return MobileResnetGenerator(n_blocks=6, **kwargs)
