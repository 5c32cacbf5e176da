"""The CUT / FastCUT generator (Park et al. 2020): the ResNet generator with anti-aliased resampling.

Same stem, residual blocks and head as ``resnet_9blocks``; what differs is how the image is
shrunk and grown again (Zhang 2019, "Making convolutional networks shift-invariant again"):

  * each downsampling is a stride-1 3x3 conv, norm, ReLU, then :class:`BlurDownsample` (reflect
    pad, a fixed 3x3 binomial blur, stride 2) instead of a stride-2 conv;
  * each upsampling is :class:`BlurUpsample` (replicate pad, a fixed 4x4 binomial filter as a
    stride-2 transposed conv) followed by a stride-1 3x3 conv, norm, ReLU, instead of a learned
    transposed conv.

Module order, indices and state_dict keys are those of the CUT reference's ``ResnetGenerator``
(taesungp/contrastive-unpaired-translation) with its defaults, so its published
``latest_net_G.pth`` files load key-for-key. The fixed filters are persistent buffers there
(``model.7.filt``, ``model.11.filt``, ``model.21.filt``, ``model.25.filt`` for 9 blocks) and so are
they here: published checkpoints hold them, and so do our weights files.

Feature taps for PatchNCE (``net(x, layers=[...])``, see :mod:`pocketgan.models.resnet`) index
``self.model`` exactly as the reference does; ``cut_resnet_9blocks`` has 32 layers:

    0      ReflectionPad2d(3): the padded input image              3 ch at H+6
    1-3    7x7 conv, norm, ReLU                                     ngf at H
    4-7    3x3 conv, norm, ReLU, blur-downsample                    2*ngf at H, then H/2
    8-11   3x3 conv, norm, ReLU, blur-downsample                    4*ngf at H/2, then H/4
    12-20  residual blocks 1-9 (one layer each)                     4*ngf at H/4
    21-28  2 x (blur-upsample, 3x3 conv, norm, ReLU)                2*ngf at H/2, ngf at H
    29-31  ReflectionPad2d(3), 7x7 conv, Tanh                       out at H

CUT's default ``0,4,8,12,16`` is the input, the two downsampling convs (before their norm, at H
and H/2) and residual blocks 1 and 5 (``cut_resnet_6blocks``: 29 layers, blocks at 12-17, so 16 is
block 5 as well).

Export: ONNX takes the generator as it is. :meth:`BlurUpsample.subpixel` is the same upsampling
without a transposed conv (pad, conv, PixelShuffle), for converters that cannot lower one (LiteRT).

``antialias=False`` / ``antialias_up=False`` give the reference's ``--no_antialias`` /
``--no_antialias_up`` layouts (stride-2 conv / learned transposed conv, as in ``resnet_9blocks``).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .registry import register_generator
from .resnet import ResnetGenerator


def binomial_filter(taps: int) -> torch.Tensor:
    """The ``taps`` x ``taps`` binomial blur (outer product of a row of Pascal's triangle), summing
    to 1. Every entry is a dyadic fraction, so it is exact in float32."""
    row = torch.tensor([math.comb(taps - 1, k) for k in range(taps)], dtype=torch.float64)
    kernel = row[:, None] * row[None, :]
    return kernel / kernel.sum()


class BlurDownsample(nn.Module):
    """Reflect-pad by 1, then a depthwise 3x3 binomial blur with stride 2: H -> ceil(H/2)."""

    filt: torch.Tensor  # a buffer (register_buffer)

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.pad = nn.ReflectionPad2d(1)
        self.register_buffer("filt", binomial_filter(3).float().expand(channels, 1, 3, 3).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(self.pad(x), self.filt, stride=2, groups=self.channels)


class BlurUpsample(nn.Module):
    """Replicate-pad by 1, a depthwise stride-2 transposed conv with the 4x4 binomial filter (x4,
    so a flat image stays flat), and a one-pixel crop on every side: H -> 2H."""

    filt: torch.Tensor  # a buffer (register_buffer)

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.pad = nn.ReplicationPad2d(1)
        self.register_buffer("filt", (binomial_filter(4) * 4).float().expand(channels, 1, 4, 4).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.conv_transpose2d(self.pad(x), self.filt, stride=2, padding=2, groups=self.channels)
        return y[:, :, 1:-1, 1:-1]

    def subpixel(self) -> nn.Module:
        """The same map without a transposed conv, for converters that cannot lower one (LiteRT):
        replicate pad, a 3x3 conv giving each channel its 4 output phases, PixelShuffle(2). Equal
        up to float rounding (the sums run in another order).

        Output pixel 2m+a (after the crop) takes padded inputs m+d with filter tap a+3-2d, for the
        d in 0..2 that give a tap in 0..3: d=0,1 for a=0 and d=1,2 for a=1."""
        taps = torch.zeros(2, 3, 4, dtype=self.filt.dtype)  # [phase, offset, filter tap] selector
        for a in range(2):
            for d in range(3):
                if 0 <= a + 3 - 2 * d < 4:
                    taps[a, d, a + 3 - 2 * d] = 1
        weight = torch.einsum("adk,bel,ckl->cabde", taps, taps, self.filt[:, 0])  # (C, 2, 2, 3, 3)
        conv = nn.Conv2d(self.channels, 4 * self.channels, 3, groups=self.channels, bias=False)
        with torch.no_grad():
            conv.weight.copy_(weight.reshape(4 * self.channels, 1, 3, 3))
        conv.weight.requires_grad_(False)
        return nn.Sequential(nn.ReplicationPad2d(1), conv, nn.PixelShuffle(2))


class CutResnetGenerator(ResnetGenerator):
    """:class:`~pocketgan.models.resnet.ResnetGenerator` with anti-aliased down- and upsampling
    (each switchable off, as the reference's ``--no_antialias`` / ``--no_antialias_up``)."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, norm: str = "instance",
                 use_dropout: bool = False, n_blocks: int = 9, padding: str = "reflect",
                 antialias: bool = True, antialias_up: bool = True) -> None:
        # read by _downsample/_upsample, which the parent's __init__ calls (plain attributes may be
        # set on a Module before its __init__)
        self.antialias, self.antialias_up = antialias, antialias_up
        super().__init__(in_channels, out_channels, ngf, norm, use_dropout, n_blocks, padding)

    def _downsample(self, cin: int, cout: int, make_norm, bias: bool) -> list[nn.Module]:
        if not self.antialias:
            return super()._downsample(cin, cout, make_norm, bias)
        return [nn.Conv2d(cin, cout, 3, stride=1, padding=1, bias=bias), make_norm(cout), nn.ReLU(True),
                BlurDownsample(cout)]

    def _upsample(self, cin: int, cout: int, make_norm, bias: bool) -> list[nn.Module]:
        if not self.antialias_up:
            return super()._upsample(cin, cout, make_norm, bias)
        return [BlurUpsample(cin), nn.Conv2d(cin, cout, 3, stride=1, padding=1, bias=bias), make_norm(cout),
                nn.ReLU(True)]


@register_generator("cut_resnet_9blocks")
def cut_resnet_9blocks(**kwargs) -> CutResnetGenerator:
    return CutResnetGenerator(n_blocks=9, **kwargs)


@register_generator("cut_resnet_6blocks")
def cut_resnet_6blocks(**kwargs) -> CutResnetGenerator:
    return CutResnetGenerator(n_blocks=6, **kwargs)
