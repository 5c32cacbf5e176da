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


def shown(text: str, limit: int = 40) -> str:
    """A typed value as an error line quotes it: as typed when plain, else Python's quoting (so a
    newline or control character cannot break the one-line message), cut to ``limit``."""
    plain = text.isprintable() and text == text.strip() and text != ""
    out = text if plain else repr(text)
    return out if len(out) <= limit else out[: limit - 1] + "…"


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {shown(text)}") from None


def int_at_least(low: int, high: int | None = None, what: str | None = None):
    """An argparse type: a whole number in [low, high]."""
    def parse(text: str) -> int:
        value = _int(text)
        if value < low or (high is not None and value > high):
            rng = f"between {low} and {high}" if high is not None else (
                what or ("positive" if low == 1 else "0 or more" if low == 0 else f"at least {low}"))
            raise argparse.ArgumentTypeError(f"must be {rng} (got {shown(text)})")
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
        raise argparse.ArgumentTypeError(f"not a number: {shown(text)}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number (got {shown(text)})")
    return value


def positive_float(text: str) -> float:
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number (got {shown(text)})")
    return value


def float_up_to(high: float):
    """An argparse type: a number > 0 and <= ``high``."""
    def parse(text: str) -> float:
        value = positive_float(text)
        if value > high:
            raise argparse.ArgumentTypeError(f"must be a positive number up to {high:g} (got {shown(text)})")
        return value
    return parse


def strength_value(text: str) -> float:
    """An argparse type: a translation strength, a number from 0 (the input unchanged) to 1.5."""
    from ..inference.strength import MAX_STRENGTH, MIN_STRENGTH, STRENGTH_RANGE

    value = finite_float(text)
    if not MIN_STRENGTH <= value <= MAX_STRENGTH:
        raise argparse.ArgumentTypeError(f"must be {STRENGTH_RANGE} (got {shown(text)})")
    return value


STRENGTH_HELP = ("how strongly to apply the model: 0 = the input unchanged, 1 = the model as trained, up to 1.5 to "
                 "exaggerate it (a residual model's predicted change is scaled, other models' output is blended "
                 "with the input)")


def output_file(suffixes: tuple[str, ...]):
    """An argparse type for a file to write: one of ``suffixes``, and not an existing folder or
    device (writing replaces the file at that path)."""
    import os
    import stat

    def parse(text: str) -> str:
        if not text.lower().endswith(suffixes):
            raise argparse.ArgumentTypeError(f"must end with {' or '.join(suffixes)} (got {text!r})")
        try:
            mode = os.stat(text).st_mode
        except OSError:
            _check_parents(text)
            return text
        if not stat.S_ISREG(mode):
            raise argparse.ArgumentTypeError(f"{text!r} exists and is not a regular file (a folder or device)")
        return text
    return parse


def _check_parents(text: str) -> None:
    """The nearest existing folder above ``text`` must be a folder (not a file in the way)."""
    import os

    parent = os.path.dirname(os.path.abspath(text))
    while parent and not os.path.lexists(parent):
        parent = os.path.dirname(parent)
    if parent and not os.path.isdir(parent):
        raise argparse.ArgumentTypeError(f"{text!r}: {parent} is a file, so nothing can be written below it")


def write_error(where: str, err: OSError, written: str = "nothing was written") -> str:
    """One line for an OSError while writing ``where``: what failed, what was written, what to do."""
    from ..fileio import write_advice

    advice = write_advice(err, elsewhere="choose a place you can write with --out")
    return f"{where}: cannot write ({err.strerror or err}); {written}{advice}"


def output_folder(text: str) -> str:
    """An argparse type for a folder to write into: anything but an existing non-folder."""
    import os

    if os.path.exists(text) and not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text!r} is a file, not a folder")
    _check_parents(text)
    return text


MODEL_HELP = ("model name (`pocketgan models`), model or run folder (config.json + G_*.safetensors), an exported "
              ".onnx/.tflite, or a model on the Hugging Face Hub, hf://ORG/NAME[@REVISION] (downloaded once into its "
              "cache; works offline from there). An existing model folder or file by that name wins over a name; a "
              "folder that is not a model does not hide a model name")


def add_device(parser: argparse.ArgumentParser, default: str = "auto", what: str = "") -> None:
    parser.add_argument("--device", default=default, help=f"{what}{DEVICE_HELP} (default: {default})")
