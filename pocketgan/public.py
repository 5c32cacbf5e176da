"""What may leave this machine: model cards, export cards and error messages name no path of it.

One scrubber for everything that travels: an export's card (to phones, inside the .tflite
metadata), `pocketgan serve`'s card and error messages (to browsers), a Hub model card. Values
under :data:`PATH_KEYS` (a run's data folders, a distilled model's teacher, an export's source)
become their last component; absolute paths inside prose are cut the same way. URLs are public
already and are kept whole.
"""
from __future__ import annotations

import re

# Keys whose values are file or folder locations (a training run's data, a distilled model's
# teacher, an export's source...): a reader sees their last component only.
PATH_KEYS = frozenset({"data", "a", "b", "teacher", "source", "path", "run_dir", "runs_dir", "dataroot", "calibration",
                       "file", "folder", "out", "resume", "checkpoint"})
_ABSOLUTE = re.compile(r"""(?<![\w.:/~])(?:~|[A-Za-z]:)?[\\/](?:[^\s'"\\/,;()\[\]]+[\\/])*([^\s'"\\/,;()\[\]]*)""")
_FRACTION = re.compile(r"[\\/][\d.]+")
_STARTS_AS_PATH = re.compile(r"\s*(?:~|[A-Za-z]:)?[\\/]")  # /x, ~/x, C:\x: a whole value that is a path


def last_component(value: str) -> str:
    """The last component of a path (a URL is kept whole: it is public already)."""
    if "://" in value:
        return value
    return re.split(r"[\\/]", value.rstrip("\\/"))[-1] or value


def scrub_paths(text: str) -> str:
    """``text`` with every absolute path in it (``/home/x/runs/a``, ``C:\\x\\y``, ``~/m``) cut to its
    last component."""
    return _ABSOLUTE.sub(_last_part, text)


def _last_part(match: re.Match) -> str:
    if _FRACTION.fullmatch(match.group(0)):  # "7.2 /255", "1 / 2": a denominator, not a path
        return match.group(0)
    return match.group(1) or "/"


def public(value, key: str | None = None):
    """A copy of a card value (dicts, lists, strings) that is safe to send anywhere: values under
    :data:`PATH_KEYS` become names, absolute paths elsewhere (and in prose under those keys, such
    as a model card's "data: <dataset> (...): trainA/trainB") are cut to their last component."""
    if isinstance(value, dict):
        return {k: public(v, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [public(v, key) for v in value]
    if isinstance(value, str):
        if key in PATH_KEYS and "://" not in value and (_STARTS_AS_PATH.match(value)
                                                         or not any(c.isspace() for c in value.strip())):
            return last_component(value)
        return scrub_paths(value) if "://" not in value else value
    return value
