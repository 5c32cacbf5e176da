"""Atomic writes: a crash or Ctrl-C mid-write must never leave a half-written checkpoint, config
or image where a good one was. Write a hidden temp file in the same folder (``os.replace`` is
atomic only within one filesystem; folder scans skip dotfiles if a crash leaves one behind),
fsync it, rename it over the target, then fsync the folder so the rename itself persists.

The temp file is ``.{name}.{8 hex}.tmp``, hidden and ending in ``.tmp`` (run folders delete
``.*.tmp`` left by a killed process), and never longer than the folder's file-name limit: a legal
246-byte name must not fail because its temp name would be 260 bytes, so the copy of ``name`` in it
is cut, in bytes (UTF-8 names count bytes) and at a character boundary."""
from __future__ import annotations

import errno
import json
import os
import secrets
from pathlib import Path

# the limit where the folder does not say (Windows, or an unknown file system): ext4, XFS, APFS
# and NTFS all allow 255 (bytes or UTF-16 units, and UTF-8 bytes are never fewer)
DEFAULT_NAME_MAX = 255
TEMP_SUFFIX = ".tmp"

NO_SPACE = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


def write_advice(err: OSError, then: str = "run the command again",
                 elsewhere: str = "choose a folder you can write with --out") -> str:
    """What to do about a write that failed with ``err``, as ``"; ..."`` to end a one-line error
    (empty when nothing general helps): free space, then ``then``; or, for a folder that may not be
    written, ``elsewhere``. Every command that writes says it the same way."""
    if err.errno in NO_SPACE:
        return f"; free some space and {then}"
    if err.errno in NOT_WRITABLE:
        return f"; {elsewhere}"
    return ""


def name_max(folder: str | Path) -> int:
    """The longest file name, in bytes, ``folder``'s file system allows."""
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (AttributeError, ValueError, OSError):  # no pathconf (Windows), or no answer
        return DEFAULT_NAME_MAX
    return limit if limit > 0 else DEFAULT_NAME_MAX


def _cut_to_bytes(name: str, budget: int) -> str:
    """The longest start of ``name`` whose file-system encoding fits in ``budget`` bytes, never
    ending inside a multi-byte character."""
    used = 0
    for i, ch in enumerate(name):
        used += len(os.fsencode(ch))
        if used > budget:
            return name[:i]
    return name


def temp_path(path: Path, suffix: str = TEMP_SUFFIX) -> Path:
    """A hidden ``.{name}.{8 hex}{suffix}`` beside ``path``, within the folder's file-name limit
    (the copy of ``name`` is cut to fit, whatever its length)."""
    token = secrets.token_hex(4)
    budget = name_max(path.parent) - len(os.fsencode(f"..{token}{suffix}"))
    return path.with_name(f".{_cut_to_bytes(path.name, max(budget, 0))}.{token}{suffix}")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    # os.open (not mkstemp) so the final file gets the usual umask permissions, not 0600
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Persist the rename (POSIX); a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_json(path: str | Path, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2) + "\n").encode())


def read_json(path: str | Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)
