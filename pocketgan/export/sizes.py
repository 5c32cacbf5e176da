"""Export sizes: ``256`` (square) or ``384x512`` (height x width, the order of NHWC tensors and of
`--size`). Torch-free, so the command line can check a size where argparse parses it."""
from __future__ import annotations

import numbers
import re

from ..errors import OptionError

MAX_EXPORT_SIZE = 4096  # per side: larger is a typo, not a phone model
_HXW = re.compile(r"\s*([0-9]+)\s*[xX×]\s*([0-9]+)\s*")  # ASCII digits: int() would take "٣" but no user means it
_N = re.compile(r"\s*([0-9]+)\s*")


def parse_size(size) -> tuple[int, int]:
    """(height, width) of an export size: an int N (N x N), a string "N" or "HxW", or a (H, W) pair.
    Raises OptionError (one line naming the value) for anything else, or a side outside 1..4096."""
    if isinstance(size, str):
        match = _HXW.fullmatch(size) or _N.fullmatch(size)
        if not match or any(len(side) > 5 for side in match.groups()):  # 5 digits: already far past the limit
            raise OptionError(f"export size {size[:40]!r} is not N or HxW (height x width, e.g. 256 or 384x512) "
                              f"with sides up to {MAX_EXPORT_SIZE}")
        hw = (int(match.groups()[0]), int(match.groups()[-1]))
    elif isinstance(size, (tuple, list)) and len(size) == 2:
        hw = tuple(size)
    else:
        hw = (size, size)
    if not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in hw):
        raise OptionError(f"export size must be N or HxW in whole pixels (got {size!r})")
    h, w = (int(s) for s in hw)
    if not (1 <= h <= MAX_EXPORT_SIZE and 1 <= w <= MAX_EXPORT_SIZE):
        raise OptionError(f"export size {size_label((h, w))}: each side must be between 1 and {MAX_EXPORT_SIZE}")
    return h, w


def size_label(size) -> str:
    """``256`` for a square size, ``384x512`` (height x width) otherwise: file names, cards, messages."""
    h, w = size
    return str(h) if h == w else f"{h}x{w}"
