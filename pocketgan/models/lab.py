"""CIE Lab colour in pure torch, and the colorization generators built on it (``colorize_unet_*``).

Colorization (the reference's third model) works in Lab: the lightness L
is the grey photo, the two colour channels a, b are what a network must guess. The reference
converts with scikit-image's ``rgb2lab`` (sRGB, D65 white, 2° observer); the CIE formulas are
written here with its matrix and white point, in torch, because the conversion is part of the *model*: a
``colorize_unet_*`` generator takes an RGB image in [-1, 1], keeps its L, predicts a and b from L
alone with an inner U-Net (1 channel in, 2 out) and returns RGB in [-1, 1]. To every other part
of pocketgan (translate, export to ONNX / LiteRT, the web app) it is an ordinary RGB -> RGB
generator; inference builds it from a model folder without the training package.

Everything is element-wise (``where``, ``pow``, ``clamp``, weighted channel sums, no in-place ops
on views, no matmul), so it exports to ONNX and stays in float32 under autocast.

The predicted colour is brought into the sRGB gamut by *reducing its chroma* (per pixel, by
bisection towards the grey of the same L) instead of clipping R, G and B as ``lab2rgb`` does:
clipping changes the lightness of a saturated guess, and a colorizer must keep the photo's
lightness. Inside the gamut nothing changes.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .registry import register_generator
from .unet import UnetGenerator

# sRGB (linear) -> XYZ, the matrix scikit-image uses (the reference's targets), and its inverse
RGB_TO_XYZ = ((0.412453, 0.357580, 0.180423),
              (0.212671, 0.715160, 0.072169),
              (0.019334, 0.119193, 0.950227))
XYZ_TO_RGB = ((3.2404813432005266, -1.5371515162713185, -0.4985363261688878),
              (-0.9692549499965682, 1.8759900014898907, 0.04155592655829284),
              (0.05564663913517716, -0.20404133836651123, 1.0573110696453443))
WHITE_D65 = (0.95047, 1.0, 1.08883)  # reference white, 2° observer
_DELTA = 6.0 / 29.0  # CIE: the cube-root part of f(t) starts at t = delta**3
_F_EPS = _DELTA ** 3

L_SCALE, AB_SCALE = 50.0, 110.0
"""The reference's normalisation: the network sees L / 50 - 1 and predicts ab / 110, both in [-1, 1]."""

GAMUT_STEPS = 12
"""Bisection steps of the chroma reduction: the kept chroma is within 2**-12 of the largest in gamut."""
GAMUT_TOL = 1e-5


def _mix(m: tuple, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The 3x3 matrix ``m`` applied to the channels of ``x`` (N, 3, H, W) as weighted sums."""
    c0, c1, c2 = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return tuple(row[0] * c0 + row[1] * c1 + row[2] * c2 for row in m)


def _f(t: torch.Tensor) -> torch.Tensor:
    """CIE's f: the cube root, linear near black (clamped inside pow: no infinite gradient at 0)."""
    return torch.where(t > _F_EPS, torch.pow(t.clamp(min=_F_EPS), 1.0 / 3.0), t / (3 * _DELTA ** 2) + 4.0 / 29.0)


def _f_inv(f: torch.Tensor) -> torch.Tensor:
    return torch.where(f > _DELTA, f * f * f, 3 * _DELTA ** 2 * (f - 4.0 / 29.0))


def srgb_to_linear(c: torch.Tensor) -> torch.Tensor:
    c = c.clamp(0.0, 1.0)
    return torch.where(c > 0.04045, torch.pow((c.clamp(min=0.04045) + 0.055) / 1.055, 2.4), c / 12.92)


def linear_to_srgb(c: torch.Tensor) -> torch.Tensor:
    c = c.clamp(0.0, 1.0)
    return torch.where(c > 0.0031308, 1.055 * torch.pow(c.clamp(min=0.0031308), 1.0 / 2.4) - 0.055, c * 12.92)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1] (N, 3, H, W) -> Lab (L in [0, 100], a and b roughly in [-110, 110]), float32."""
    x, y, z = _mix(RGB_TO_XYZ, srgb_to_linear(rgb.float()))
    fx, fy, fz = _f(x / WHITE_D65[0]), _f(y / WHITE_D65[1]), _f(z / WHITE_D65[2])
    return torch.cat((116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)), 1)


def lab_to_linear(lab: torch.Tensor) -> torch.Tensor:
    """Lab -> linear RGB, *not* clamped: a component outside [0, 1] is a colour outside the sRGB gamut."""
    lab = lab.float()
    fy = (lab[:, 0:1] + 16.0) / 116.0
    fx, fz = fy + lab[:, 1:2] / 500.0, fy - lab[:, 2:3] / 200.0
    xyz = torch.cat((_f_inv(fx) * WHITE_D65[0], _f_inv(fy) * WHITE_D65[1], _f_inv(fz) * WHITE_D65[2]), 1)
    return torch.cat(_mix(XYZ_TO_RGB, xyz), 1)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """Lab -> sRGB in [0, 1], out-of-gamut components clipped (as scikit-image's ``lab2rgb``);
    :func:`fit_gamut` first to keep the lightness of a colour outside the gamut."""
    return linear_to_srgb(lab_to_linear(lab))


def _in_gamut(lab: torch.Tensor) -> torch.Tensor:
    lin = lab_to_linear(lab)
    return ((lin >= -GAMUT_TOL) & (lin <= 1.0 + GAMUT_TOL)).all(dim=1, keepdim=True)


def fit_gamut(L: torch.Tensor, ab: torch.Tensor, steps: int = GAMUT_STEPS) -> torch.Tensor:
    """``ab`` (N, 2, H, W), each pixel's chroma scaled down just enough that (L, ab) is an sRGB colour:
    bisection on the scale in [0, 1], where 0 (the grey of that L) is always in gamut. Hue and
    lightness are kept; colours already inside are returned unchanged."""
    inside = _in_gamut(torch.cat((L, ab), 1))
    low, high = torch.zeros_like(L), torch.ones_like(L)
    for _ in range(steps):  # unrolled in an exported graph: a fixed, small number of element-wise passes
        mid = (low + high) * 0.5
        ok = _in_gamut(torch.cat((L, ab * mid), 1))
        low, high = torch.where(ok, mid, low), torch.where(ok, high, mid)
    return ab * torch.where(inside, torch.ones_like(low), low)


def lightness(rgb: torch.Tensor) -> torch.Tensor:
    """The network input of RGB in [-1, 1]: L / 50 - 1 (N, 1, H, W)."""
    return rgb_to_lab((rgb.float() + 1.0) * 0.5)[:, 0:1] / L_SCALE - 1.0


def split_lab(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """RGB in [-1, 1] -> (L / 50 - 1, ab / 110): the reference's (input, target) of colorization."""
    lab = rgb_to_lab((rgb.float() + 1.0) * 0.5)
    return lab[:, 0:1] / L_SCALE - 1.0, lab[:, 1:3] / AB_SCALE


def join_lab(L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """(L / 50 - 1, ab / 110) -> RGB in [-1, 1], the colour fitted into the gamut (lightness kept)."""
    L, ab = (L.float() + 1.0) * L_SCALE, ab.float() * AB_SCALE
    return lab_to_rgb(torch.cat((L, fit_gamut(L, ab)), 1)) * 2.0 - 1.0


def grey(rgb: torch.Tensor) -> torch.Tensor:
    """RGB in [-1, 1] -> the grey photo of the same lightness (a = b = 0), RGB in [-1, 1]:
    what a colorizer is given, and its "do nothing" baseline. (A grey is inside the gamut: no fitting.)"""
    L = rgb_to_lab((rgb.float() + 1.0) * 0.5)[:, 0:1]
    return lab_to_rgb(torch.cat((L, torch.zeros_like(L), torch.zeros_like(L)), 1)) * 2.0 - 1.0


class ColorizationUnet(nn.Module):
    """RGB [-1, 1] -> RGB [-1, 1] that keeps the input's lightness and predicts its colour from the
    lightness alone: Lab, then an inner U-Net (``self.unet``: L / 50 - 1 in, ab / 110 out, its tanh
    bounding them), then back to RGB. A colour photo and its grey version give the same output."""

    def __init__(self, ngf: int = 64, norm: str = "batch", use_dropout: bool = False, num_downs: int = 8) -> None:
        super().__init__()
        self.unet = UnetGenerator(in_channels=1, out_channels=2, ngf=ngf, norm=norm, use_dropout=use_dropout,
                                  num_downs=num_downs)
        self.size_multiple = self.unet.size_multiple

    def forward(self, x: torch.Tensor, predict_ab: bool = False) -> torch.Tensor:
        """The colourised photo of ``x`` (RGB). ``predict_ab=True``: ``x`` is the normalised L
        (N, 1, H, W) and the result the predicted normalised ab (N, 2, H, W), what training calls:
        through ``forward`` so a compiled or DDP-wrapped net runs it, on the Lab it computed once."""
        if predict_ab:
            return self.unet(x)
        L = lightness(x)
        return join_lab(L, self.unet(L.to(x.dtype)))


def _colorize(num_downs: int):
    def build(**kwargs) -> ColorizationUnet:
        return ColorizationUnet(num_downs=num_downs, **kwargs)
    return build


# the reference's colorization G is unet_256 (1 in, 2 out); 128 and 64 for smaller images and tests
register_generator("colorize_unet_256")(_colorize(8))
register_generator("colorize_unet_128")(_colorize(7))
register_generator("colorize_unet_64")(_colorize(6))
