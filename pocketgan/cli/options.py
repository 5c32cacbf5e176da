"""Argument types and shared options of the subcommands.

Every value is checked where argparse parses it, so a bad one is argparse's one-line usage error
(exit 2) before any work starts. Nothing here imports torch (or numpy, PIL, ...): the CLI builds
and parses its whole command line without them.
"""
from __future__ import annotations

import argparse
import math

from ..devices import DEVICE_HELP

MAX_IMAGE_SIZE = 4096  # export / info sizes: larger is a typo, not a phone model


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def int_at_least(low: int, high: int | None = None, what: str | None = None):
    """An argparse type: a whole number in [low, high]."""
    def parse(text: str) -> int:
        value = _int(text)
        if value < low or (high is not None and value > high):
            rng = f"between {low} and {high}" if high is not None else (
                what or ("positive" if low == 1 else "0 or more" if low == 0 else f"at least {low}"))
            raise argparse.ArgumentTypeError(f"must be {rng} (got {text})")
        return value
    return parse


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)
image_size = int_at_least(1, MAX_IMAGE_SIZE)
port_number = int_at_least(1, 65535)


def finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number (got {text})")
    return value


def positive_float(text: str) -> float:
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number (got {text})")
    return value


MODEL_HELP = ("model name (`pocketgan models`), model or run folder (config.json + G_*.safetensors), or an exported "
              ".onnx/.tflite. An existing model folder or file by that name wins over a name; a folder that is not a "
              "model does not hide a model name")


def add_device(parser: argparse.ArgumentParser, default: str = "auto", what: str = "") -> None:
    parser.add_argument("--device", default=default, help=f"{what}{DEVICE_HELP} (default: {default})")
