"""One owner per run folder: an OS advisory lock on ``runs/NAME/.train.lock``.

Two trainings in one folder (a double Enter, a scheduler's retry) would both append to
metrics.jsonl and overwrite each other's checkpoints. So a training process (a new run and
``--resume`` alike) takes an exclusive lock on a file in the folder *before it writes anything*
and holds it until it exits. The lock is the kernel's (``flock`` on POSIX, ``msvcrt.locking`` on
Windows): it dies with its process, ``kill -9`` included, so there is never a stale lock to clean
up. The file itself stays (it is hidden, and an empty folder with only it counts as empty); what
it holds, the owner's process id, is only there to name the owner in the refusal.

Readers (``translate``, ``report``, ``info`` on a live run) never take it: every file a run writes
is replaced atomically, so reading while it trains is safe.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

from ..errors import PocketganError

LOCK_NAME = ".train.lock"


class RunFolderBusy(PocketganError):
    """Another process holds the run folder's lock (one line naming the folder and the process)."""


def _try_lock(fd: int) -> bool:
    """Take the exclusive lock on ``fd`` without waiting; False if another process holds it."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _holder(path: Path) -> str:
    """"process 1234" from the lock file, or a vaguer phrase while the owner has not written it yet."""
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        text = ""
    return f"process {text}" if text.isdigit() else "another process"


class RunLock:
    """The exclusive lock of one run folder, held from :meth:`acquire` until :meth:`release` (or the
    process's end). Creates the folder (and its parents) if needed."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> RunLock:
        """Take the lock or raise :class:`RunFolderBusy`; OSError (read-only place, full disk) as is."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            if not _try_lock(fd):
                os.close(fd)
                raise RunFolderBusy(f"{self.run_dir}: {_holder(self.path)} is training in this run folder; wait for "
                                    "it to finish (or stop it), or pick another --name")
            # the file we locked must still be the one at that path: a previous owner that removed it
            # (release(remove=True)) between our open and our lock leaves us holding an orphan
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self, remove: bool = False) -> None:
        """Let go of the lock; ``remove`` also deletes the lock file (and the folder if that leaves it
        empty): for a run that failed before writing anything, so no empty folder is left behind."""
        if self._fd is None:
            return
        if remove:
            self.path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                self.run_dir.rmdir()
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> RunLock:
        return self if self.held else self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def is_empty(run_dir: Path) -> bool:
    """No file of a run in ``run_dir`` (its lock file does not count)."""
    return not any(p.name != LOCK_NAME for p in run_dir.iterdir())
