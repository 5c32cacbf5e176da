"""Make a generator converter-friendly without changing what it computes.

* ``fold_batchnorm``: Conv2d followed by BatchNorm2d (eval statistics) becomes one Conv2d.
* ``litert_transposed_convs``: what LiteRT's converter (litert-torch 0.10) needs of transposed
  convs. It lowers a ConvTranspose2d to TFLite's TRANSPOSE_CONV only without ``output_padding``
  (``mhlo.convolution`` with lhs_dilation otherwise fails to legalise), so a ConvTranspose2d(K,
  output_padding=op) becomes the equal ConvTranspose2d(K + op, output_padding=0) whose extra kernel
  taps are zero (resnet_9blocks' 3x3 ones: 4x4); CUT's depthwise blur upsampling, which
  TRANSPOSE_CONV cannot take (groups), gets its sub-pixel form.
* ``subpixel_transposed_convs``: every stride-s ConvTranspose2d becomes zero-pad -> Conv2d ->
  PixelShuffle(s) (the sub-pixel form), for converters without transposed convs. It was LiteRT's
  path before litert-torch lowered TRANSPOSE_CONV; its merged kernel holds every phase's taps, so a
  4x4 stride-2 transposed conv stores 2.25x its weights (unet_256's .tflite was 1.8x its weights).
  The output is the same up to float rounding.
* ``ImageIO``: the graph takes uint8 NHWC RGB [0, 255] and returns the same, so an app passes
  camera pixels straight in and draws the output straight out (no float pre/post-processing).
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.fusion import fuse_conv_bn_eval


def fold_batchnorm(net: nn.Module) -> nn.Module:
    """Fold each BatchNorm2d into the Conv2d or transposed conv (plain or rewritten) right before it
    in the same Sequential (in place)."""
    for module in net.modules():
        if isinstance(module, nn.Sequential):
            for i in range(len(module) - 1):
                conv, bn = module[i], module[i + 1]
                if not (isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats):
                    continue
                if isinstance(conv, nn.Conv2d):
                    module[i] = fuse_conv_bn_eval(conv.eval(), bn.eval())
                elif isinstance(conv, nn.ConvTranspose2d):
                    module[i] = fuse_conv_bn_eval(conv.eval(), bn.eval(), transpose=True)
                elif isinstance(conv, SubpixelConvTranspose):
                    conv.fold(bn)
                else:
                    continue
                module[i + 1] = nn.Identity()
    return net


class SubpixelConvTranspose(nn.Module):
    """ConvTranspose2d(k, stride=s, padding=p, output_padding=op) as pad -> Conv2d -> PixelShuffle(s).

    Output pixel o = s*m + a (phase a) receives input i = m + d through kernel tap k = a + p - s*d,
    for every offset d with 0 <= k < K. Collecting the taps of all s*s phases gives one ordinary
    convolution over offsets [d_min, d_max] with s*s*C_out channels, whose channels PixelShuffle
    interleaves back into the s-times larger image.
    """

    def __init__(self, convt: nn.ConvTranspose2d) -> None:
        super().__init__()
        if convt.groups != 1 or convt.dilation != (1, 1) or convt.stride[0] != convt.stride[1]:
            raise ValueError("only square-stride, ungrouped, undilated ConvTranspose2d can be rewritten")
        padding = convt.padding
        assert not isinstance(padding, str)  # a ConvTranspose2d's padding is always a pair of ints
        s, K, p = convt.stride[0], convt.kernel_size[0], padding[0]
        if convt.kernel_size[1] != K or padding[1] != p or convt.output_padding[0] != convt.output_padding[1]:
            raise ValueError("only square ConvTranspose2d kernels can be rewritten")
        if (K - 2 * p + convt.output_padding[0]) != s:
            raise ValueError("only ConvTranspose2d whose output is exactly stride x input can be rewritten")
        d_min = min(math.ceil((a + p - K + 1) / s) for a in range(s))
        d_max = max((a + p) // s for a in range(s))
        taps = d_max - d_min + 1
        w = convt.weight.detach()  # (C_in, C_out, K, K)
        c_in, c_out = w.shape[0], w.shape[1]
        weight = torch.zeros(c_out, s, s, c_in, taps, taps, dtype=w.dtype)
        for a in range(s):
            for b in range(s):
                for di in range(taps):
                    for dj in range(taps):
                        ki, kj = a + p - s * (di + d_min), b + p - s * (dj + d_min)
                        if 0 <= ki < K and 0 <= kj < K:
                            weight[:, a, b, :, di, dj] = w[:, :, ki, kj].T
        self.conv = nn.Conv2d(c_in, c_out * s * s, taps, bias=convt.bias is not None)
        self.conv.weight.data.copy_(weight.reshape(c_out * s * s, c_in, taps, taps))
        if convt.bias is not None:
            assert self.conv.bias is not None  # made with a bias just above
            self.conv.bias.data.copy_(convt.bias.detach().repeat_interleave(s * s))
        self.pad = (-d_min, d_max, -d_min, d_max)  # left, right, top, bottom (zeros, as ConvT implies)
        self.shuffle = nn.PixelShuffle(s)

    @torch.no_grad()
    def fold(self, bn: nn.BatchNorm2d) -> None:
        """Absorb a following BatchNorm2d: each of its channels owns s*s consecutive conv channels."""
        r = self.shuffle.upscale_factor ** 2
        assert bn.running_var is not None and bn.running_mean is not None  # fold_batchnorm: track_running_stats
        scale = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).repeat_interleave(r)
        shift = (bn.bias - bn.running_mean * bn.weight / torch.sqrt(bn.running_var + bn.eps)).repeat_interleave(r)
        bias = self.conv.bias if self.conv.bias is not None else torch.zeros_like(scale)
        self.conv.weight.mul_(scale[:, None, None, None])
        self.conv.bias = nn.Parameter(bias * scale + shift)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.conv(F.pad(x, self.pad)))


def _replace_upsampling(net: nn.Module, transposed: Callable[[nn.ConvTranspose2d], nn.Module]) -> nn.Module:
    """Replace (in place) every ConvTranspose2d by ``transposed(conv)`` and the CUT generator's
    fixed-filter blur upsampling (a functional transposed conv) by its sub-pixel form."""
    from ..models.cut_resnet import BlurUpsample

    for name, child in list(net.named_children()):
        if isinstance(child, nn.ConvTranspose2d):
            setattr(net, name, transposed(child))
        elif isinstance(child, BlurUpsample):
            setattr(net, name, child.subpixel())
        else:
            _replace_upsampling(child, transposed)
    return net


def subpixel_transposed_convs(net: nn.Module) -> nn.Module:
    """Replace every ConvTranspose2d by its sub-pixel equivalent (in place), and the CUT
    generator's fixed-filter blur upsampling (a functional transposed conv) by its own."""
    return _replace_upsampling(net, SubpixelConvTranspose)


def without_output_padding(convt: nn.ConvTranspose2d) -> nn.ConvTranspose2d:
    """The ConvTranspose2d equal to ``convt`` with output_padding 0: the kernel grows by the output
    padding, the new taps zero. Output pixel o = s*i - p + k, so the extra taps k >= K only reach the
    last output_padding rows/columns, which output_padding had added (and which the original fills
    from taps < K at the same positions); the output size (H-1)s - 2p + K + op is unchanged."""
    op_h, op_w = convt.output_padding
    if (op_h, op_w) == (0, 0):
        return convt
    if convt.groups != 1 or convt.dilation != (1, 1):
        raise ValueError("only ungrouped, undilated ConvTranspose2d can drop output_padding")
    kh, kw = convt.kernel_size
    (sh, sw), padding = convt.stride, convt.padding
    assert not isinstance(padding, str)  # a ConvTranspose2d's padding is always a pair of ints
    ph, pw = padding
    wide = nn.ConvTranspose2d(convt.in_channels, convt.out_channels, (kh + op_h, kw + op_w), (sh, sw),
                              (ph, pw), bias=convt.bias is not None)
    with torch.no_grad():
        wide.weight.zero_()
        wide.weight[:, :, :kh, :kw] = convt.weight
        if convt.bias is not None:
            assert wide.bias is not None  # made with a bias just above
            wide.bias.copy_(convt.bias)
    return wide.to(convt.weight.dtype)


def litert_transposed_convs(net: nn.Module) -> nn.Module:
    """Make every transposed conv lowerable to TFLite's TRANSPOSE_CONV (in place): output_padding
    dropped (:func:`without_output_padding`); CUT's depthwise blur upsampling in its sub-pixel form."""
    return _replace_upsampling(net, without_output_padding)


class ImageIO(nn.Module):
    """uint8 NHWC RGB in, uint8 NHWC RGB out, the generator's [-1, 1] float maths in between."""

    def __init__(self, generator: nn.Module, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.generator = generator
        self.dtype = dtype  # float16 for half-precision exports

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = image.permute(0, 3, 1, 2).to(self.dtype) / 127.5 - 1.0
        y = self.generator(x).float()
        return torch.clamp(torch.round((y + 1.0) * 127.5), 0, 255).to(torch.uint8).permute(0, 2, 3, 1)


def prepare(generator: nn.Module, image_io: bool = True, subpixel: bool = False, litert: bool = False) -> nn.Module:
    """A deep copy of ``generator`` in eval mode, BatchNorm folded, uint8 image I/O wrapped around it,
    and optionally its transposed convs rewritten: ``litert`` for LiteRT's converter (what
    ``export_litert`` converts), ``subpixel`` for converters without transposed convs at all."""
    net = copy.deepcopy(generator).eval()
    if subpixel:
        subpixel_transposed_convs(net)
    elif litert:
        litert_transposed_convs(net)
    fold_batchnorm(net)
    return (ImageIO(net) if image_io else net).eval()
