"""PatchGAN discriminators: each output pixel judges one receptive-field patch as real or fake.
``basic`` is the 70x70 PatchGAN of the CycleGAN/pix2pix papers; layer order matches the reference.
``cut_basic`` / ``cut_n_layers`` are the CUT reference's default PatchGAN: every stride-2 conv
becomes a stride-1 conv followed by a fixed binomial blur with stride 2 (anti-aliasing, as in its
generator), with the CUT reference's module order and state_dict keys."""
from __future__ import annotations

import torch
import torch.nn as nn

from ..errors import OptionError
from .layers import conv_bias, norm_layer
from .registry import register_discriminator


class NLayerDiscriminator(nn.Module):
    """C64 (no norm) - C128 - C256 - ... (stride 2) - one stride-1 conv - 1-channel logit map."""

    def __init__(self, in_channels: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "instance") -> None:
        super().__init__()
        if n_layers < 1:
            raise OptionError("n_layers must be >= 1")
        make_norm, bias = norm_layer(norm), conv_bias(norm)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2 ** n, 8)
            stride = 2 if n < n_layers else 1
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=stride, padding=1, bias=bias),
                       make_norm(ndf * mult), nn.LeakyReLU(0.2, True)]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class AntialiasedNLayerDiscriminator(nn.Module):
    """The CUT reference's PatchGAN: C64 - blur - C128 - blur - ... - one stride-1 conv - logit map.
    Each downsampling is conv (stride 1), [norm], LeakyReLU, then a stride-2 blur."""

    def __init__(self, in_channels: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "instance") -> None:
        super().__init__()
        from .cut_resnet import BlurDownsample

        if n_layers < 1:
            raise OptionError("n_layers must be >= 1")
        make_norm, bias = norm_layer(norm), conv_bias(norm)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, stride=1, padding=1), nn.LeakyReLU(0.2, True),
                                   BlurDownsample(ndf)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2 ** n, 8)
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=1, padding=1, bias=bias),
                       make_norm(ndf * mult), nn.LeakyReLU(0.2, True)]
            if n < n_layers:
                layers.append(BlurDownsample(ndf * mult))
        layers.append(nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class PixelDiscriminator(nn.Module):
    """1x1 PatchGAN (judges colour statistics per pixel, no spatial structure)."""

    def __init__(self, in_channels: int = 3, ndf: int = 64, norm: str = "instance") -> None:
        super().__init__()
        make_norm, bias = norm_layer(norm), conv_bias(norm)
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, ndf, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 1, bias=bias), make_norm(ndf * 2), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, 1, bias=bias))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@register_discriminator("basic")
def basic(**kwargs) -> NLayerDiscriminator:
    if "n_layers" in kwargs:
        raise OptionError("'basic' is the 3-layer PatchGAN; use 'n_layers' to choose the depth")
    return NLayerDiscriminator(n_layers=3, **kwargs)


@register_discriminator("n_layers")
def n_layers(**kwargs) -> NLayerDiscriminator:
    return NLayerDiscriminator(**kwargs)


@register_discriminator("cut_basic")
def cut_basic(**kwargs) -> AntialiasedNLayerDiscriminator:
    if "n_layers" in kwargs:
        raise OptionError("'cut_basic' is the 3-layer anti-aliased PatchGAN; use 'cut_n_layers' to choose the depth")
    return AntialiasedNLayerDiscriminator(n_layers=3, **kwargs)


@register_discriminator("cut_n_layers")
def cut_n_layers(**kwargs) -> AntialiasedNLayerDiscriminator:
    return AntialiasedNLayerDiscriminator(**kwargs)


@register_discriminator("pixel")
def pixel(**kwargs) -> PixelDiscriminator:
    return PixelDiscriminator(**kwargs)
