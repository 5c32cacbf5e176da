"""Model cost: parameters, multiply-accumulates and weight bytes — the numbers that decide
whether a generator runs on a phone. MACs are counted with forward hooks on the layers that do
the arithmetic (convolutions, transposed convolutions, linear), as papers report them.

Convention: a transposed convolution is counted per *output* pixel (output elements x in_channels
x k^2), as torchprofile does and as GAN Compression / CAT report; that gives the literature's
56.8 GMACs for resnet_9blocks at 256x256 (49.6 G if the inserted zeros were not counted)."""
from __future__ import annotations

import torch
import torch.nn as nn

from .modes import eval_mode


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def weight_bytes(net: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in net.state_dict().values())


@torch.no_grad()
def count_macs(net: nn.Module, input_shape: tuple[int, ...]) -> int:
    """MACs of one forward pass on a tensor of ``input_shape`` (e.g. (1, 3, 256, 256))."""
    total = 0

    def conv_hook(m: nn.Conv2d, inputs, output) -> None:
        nonlocal total
        total += output.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def convt_hook(m: nn.ConvTranspose2d, inputs, output) -> None:
        nonlocal total
        total += output.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def linear_hook(m: nn.Linear, inputs, output) -> None:
        nonlocal total
        total += output.numel() * m.in_features

    hooks = []
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.ConvTranspose2d):
            hooks.append(m.register_forward_hook(convt_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    try:
        param = next(net.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        with eval_mode(net):
            net(torch.zeros(input_shape, device=device))
    finally:
        for h in hooks:
            h.remove()
    return total


def describe_size(net: nn.Module, image_size: int = 256, in_channels: int = 3) -> dict:
    """Params, MACs at ``image_size``², and fp32 weight megabytes."""
    return {"params": count_parameters(net),
            "macs": count_macs(net, (1, in_channels, image_size, image_size)),
            "megabytes": weight_bytes(net) / 1e6}
