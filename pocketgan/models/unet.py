"""U-Net generators (pix2pix). Built recursively from the innermost block outwards, exactly as
the reference ``UnetGenerator`` so state_dict keys match its published pix2pix weights."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from ..errors import OptionError
from .layers import conv_bias, norm_layer
from .registry import register_generator


class UnetSkipBlock(nn.Module):
    """down -> submodule -> up, concatenated with the input (except the outermost block)."""

    def __init__(self, outer_nc: int, inner_nc: int, in_channels: int | None = None,
                 submodule: nn.Module | None = None, outermost: bool = False, innermost: bool = False,
                 norm: str = "batch", use_dropout: bool = False) -> None:
        super().__init__()
        self.outermost = outermost
        make_norm, bias = norm_layer(norm), conv_bias(norm)
        in_channels = outer_nc if in_channels is None else in_channels
        downconv = nn.Conv2d(in_channels, inner_nc, 4, stride=2, padding=1, bias=bias)
        layers: list[nn.Module]
        if outermost:
            assert submodule is not None, "every block but the innermost wraps a submodule"
            up = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1)
            layers = [downconv, submodule, nn.ReLU(True), up, nn.Tanh()]
        elif innermost:
            up = nn.ConvTranspose2d(inner_nc, outer_nc, 4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), downconv, nn.ReLU(True), up, make_norm(outer_nc)]
        else:
            assert submodule is not None, "every block but the innermost wraps a submodule"
            up = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), downconv, make_norm(inner_nc), submodule,
                      nn.ReLU(True), up, make_norm(outer_nc)]
            if use_dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """``num_downs`` stride-2 levels; a 2**num_downs image reaches 1x1 at the bottleneck, so
    input sides must be multiples of 2**num_downs."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, norm: str = "batch",
                 use_dropout: bool = False, num_downs: int = 8) -> None:
        super().__init__()
        if num_downs < 5:
            raise OptionError("num_downs must be >= 5")
        self.size_multiple = 2 ** num_downs
        block = UnetSkipBlock(ngf * 8, ngf * 8, norm=norm, innermost=True)
        for _ in range(num_downs - 5):
            block = UnetSkipBlock(ngf * 8, ngf * 8, submodule=block, norm=norm, use_dropout=use_dropout)
        block = UnetSkipBlock(ngf * 4, ngf * 8, submodule=block, norm=norm)
        block = UnetSkipBlock(ngf * 2, ngf * 4, submodule=block, norm=norm)
        block = UnetSkipBlock(ngf, ngf * 2, submodule=block, norm=norm)
        self.model = UnetSkipBlock(out_channels, ngf, in_channels=in_channels, submodule=block,
                                   outermost=True, norm=norm)

    def nce_layer_count(self) -> int:
        """U-Nets have no feature taps: raises OptionError (see :meth:`forward`)."""
        raise self._no_taps()

    def _no_taps(self) -> OptionError:
        name = getattr(self, "config", {}).get("name", type(self).__name__)
        return OptionError(f"CUT (--nce-layers) needs a resnet or mobile generator; {name} is a U-Net, whose skip "
                           "connections leave no encoder-only features to tap")

    def forward(self, x: torch.Tensor, layers: Sequence[int] | None = None) -> torch.Tensor:
        """The translated image. ``layers`` (CUT's feature taps) is refused: OptionError."""
        if layers is not None:
            raise self._no_taps()
        return self.model(x)


@register_generator("unet_128")
def unet_128(**kwargs) -> UnetGenerator:
    return UnetGenerator(num_downs=7, **kwargs)


@register_generator("unet_256")
def unet_256(**kwargs) -> UnetGenerator:
    return UnetGenerator(num_downs=8, **kwargs)
