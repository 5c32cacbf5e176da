"""The one base class of the errors a user can fix, and the one way to quote an exception.

The CLI prints a :class:`PocketganError` as one line (``pocketgan: error: ...``, exit 2). Anything
else that escapes is a bug and keeps its traceback (exit 1), so a bug is never dressed up as a
user error. It subclasses ``ValueError`` because every such error is a bad value: an option, a
file's content, a folder's layout.
"""
from __future__ import annotations


class PocketganError(ValueError):
    """A problem the user can fix, stated in one line that names the file or option."""


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first non-empty line of ``exc``'s message (its type name if it has none), cut to ``limit``
    characters: third-party errors (compilers, converters, decoders) can run to pages."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if len(line) <= limit else line[: limit - 1] + "…"


class OptionError(PocketganError):
    """An option value pocketgan cannot work with: an unknown choice, a number out of range, or two
    options that do not go together (outside the training config, which has its own ConfigError)."""


class ModelFolderError(PocketganError):
    """A path that is not a usable pocketgan model folder, or a file in it that cannot be used (one
    line, naming the path). It lives here, not beside the model-folder code, because the weight-file
    reader (:mod:`pocketgan.models.weights`) subclasses it and the model-folder code imports that
    reader; :mod:`pocketgan.models.pretrained` re-exports it."""


class MissingDependency(PocketganError):
    """An optional extra is not installed; the message names what is missing and the pip command
    that installs it (e.g. ``pip install 'pocketgan[export]'``)."""
