"""A training run's folder and the two entry points, :func:`train` (a new run) and :func:`resume`.

Everything a run produces lives in runs/NAME/ (:class:`RunFolder` names each file):

    train_config.json   the full config of the run
    metrics.jsonl       one JSON line of mean losses every ``log_every`` steps
    samples/            sample grids (the objective's columns, e.g. real_A | fake_B | rec_A | ...)
    checkpoints/last.safetensors   full training state (atomic), for --resume
    config.json, G_*.safetensors   the latest generators as a model folder
    eval.jsonl, best/   with --eval-every: FID/KID per evaluation, and the best generators by KID
    tensorboard/, mlflow_run.json   with --logger (tracking.py)
    .train.lock         the lock of the process training there (run_lock.py; empty of meaning once it ends)

Under torchrun (WORLD_SIZE > 1) each process trains a DDP replica on its slice of every epoch and
rank 0 alone writes the run folder (see distributed.py).
"""
from __future__ import annotations

import contextlib
import itertools
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from ..errors import PocketganError, first_line
from ..fileio import atomic_write_bytes, read_json
from . import distributed
from .checkpoint import CheckpointError, read_checkpoint_meta, validate_checkpoint_meta
from .config import ConfigError, TrainConfig, read_run_config, runtime_fields
from .run_lock import RunFolderBusy, RunLock, is_empty

CHECKPOINT = Path("checkpoints") / "last.safetensors"


class TrainingError(PocketganError):
    """A problem with the run setup, reported in one line."""


@dataclass(frozen=True)
class RunFolder:
    """The paths of one run folder (nothing is created here)."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "train_config.json"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def samples(self) -> Path:
        return self.root / "samples"

    @property
    def checkpoint(self) -> Path:
        return self.root / CHECKPOINT

    @property
    def evals(self) -> Path:
        return self.root / "eval.jsonl"

    @property
    def best(self) -> Path:
        return self.root / "best"

    def remove_partial_writes(self) -> list[Path]:
        """Delete the hidden temp files of atomic writes a killed process left behind (they are
        never a valid file: the rename that would have made them one did not happen)."""
        removed = []
        for folder in (self.root, self.root / CHECKPOINT.parent, self.best, self.samples):
            if folder.is_dir():
                for tmp in folder.glob(".*.tmp"):
                    tmp.unlink(missing_ok=True)
                    removed.append(tmp)
        return removed

    def truncate_logs(self, step: int) -> None:
        """Keep only what was logged up to ``step`` (the checkpoint a run resumes from) in
        metrics.jsonl and eval.jsonl: the steps after it are about to be trained (and logged) again.
        Cut lines (a kill mid-write) go too; sample grids of later steps are removed."""
        for path in (self.metrics, self.evals):
            if not path.is_file():
                continue
            kept = []
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    if json.loads(line)["step"] <= step:
                        kept.append(line)
                except (ValueError, KeyError, TypeError):
                    continue
            atomic_write_bytes(path, "".join(line + "\n" for line in kept).encode())
        if self.samples.is_dir():
            for grid in self.samples.glob("step_*.png"):
                try:
                    if int(grid.stem.split("_")[1]) > step:
                        grid.unlink()
                except ValueError:
                    continue


def default_run_name(cfg: TrainConfig) -> str:
    """The dataset folder's name; A2B for two folders; the one folder's name (single-folder objectives)."""
    if cfg.data:
        return Path(cfg.data).resolve().name
    if cfg.b is None:
        return Path(cfg.a).resolve().name
    return f"{Path(cfg.a).resolve().name}2{Path(cfg.b).resolve().name}"


def claim_run_dir(cfg: TrainConfig, base: str | None = None) -> tuple[Path, RunLock]:
    """The folder of a new run, created and locked (run_lock.py): runs/NAME for ``--name``;
    otherwise runs/<base or dataset name>, with _2, _3... if taken. The emptiness check happens
    after the lock is taken, so two processes started at once cannot both find it empty."""
    runs = Path(cfg.runs_dir)
    if cfg.name:
        run = runs / cfg.name
        lock = RunLock(run).acquire()
        if not is_empty(run):
            lock.release()
            raise TrainingError(f"{run}: run folder already exists; continue it with --resume {run} or pick another --name")
        return run, lock
    base = base or default_run_name(cfg)
    for k in itertools.count(1):
        run = runs / (base if k == 1 else f"{base}_{k}")
        if run.exists() and (not run.is_dir() or not is_empty(run)):
            continue
        try:
            lock = RunLock(run).acquire()
        except RunFolderBusy:  # another run is starting there right now: take the next name
            continue
        if is_empty(run):
            return run, lock
        lock.release()
    raise AssertionError("unreachable")


def train(cfg: TrainConfig) -> dict:
    """Start a new run (in a new folder under ``cfg.runs_dir``) and train it; returns fit()'s summary.
    Rank 0 owns the folder (its lock) for the whole run; a set-up that fails before anything is
    written leaves no folder behind."""
    from .loop import Trainer

    cfg.validate()
    with distributed.process_group(cfg.device) as ctx:
        run, lock, error = None, None, None
        if ctx.main:  # rank 0 picks the folder (a _2 suffix must not differ between ranks)
            try:
                run, lock = claim_run_dir(cfg)
            except (TrainingError, RunFolderBusy) as e:
                error = str(e)
            except OSError as e:  # a read-only or full runs folder, a file where it should be
                error = f"{cfg.runs_dir}: cannot create the run folder there ({e.strerror or e})"
        run, error = distributed.broadcast((run, error), ctx)
        if error:
            raise TrainingError(error)
        try:
            trainer = Trainer(cfg, run)
        except BaseException:
            if lock is not None:
                lock.release(remove=is_empty(run))
            raise
        with lock if lock is not None else contextlib.nullcontext():
            return trainer.fit()


def resume(run_dir: str | Path, overrides: dict | None = None) -> dict:
    """Continue ``run_dir`` from its last checkpoint. Only runtime settings (device, workers,
    max_steps, logging...) may be overridden; changing the maths would not be a continuation.
    A run stopped before its first checkpoint has learnt nothing yet: it starts over, in its folder.
    The folder's lock is taken before anything in it changes."""
    from .loop import Trainer

    folder = RunFolder(Path(run_dir))
    if not folder.root.is_dir():
        raise TrainingError(f"{folder.root}: no such run folder")
    restart = not folder.checkpoint.is_file()
    if restart and not folder.config.is_file():
        raise TrainingError(f"{folder.root}: not a run folder (no {CHECKPOINT} and no {folder.config.name})")
    lock = RunLock(folder.root) if int(os.environ.get("RANK", "0")) == 0 else None  # rank 0 writes, so owns
    with lock if lock is not None else contextlib.nullcontext():
        saved = saved_config(folder, restart)
        overrides = dict(overrides or {})
        runtime = runtime_fields(saved.get("model", TrainConfig.model))
        fixed = {k: v for k, v in overrides.items() if k not in runtime and saved.get(k) != v}
        if fixed:
            changes = ", ".join(f"{k}: {saved.get(k)!r} -> {v!r}" for k, v in fixed.items())
            raise TrainingError(f"{folder.root}: cannot change the model or objective when resuming ({changes}); "
                                "start a new run instead")
        if ("a" in overrides or "b" in overrides) and "data" not in overrides:
            overrides["data"] = None
        if "data" in overrides and overrides["data"] is not None:
            overrides.update(a=None, b=None)
        try:
            cfg = read_run_config({**saved, **overrides}, "the resumed run's options")
        except ConfigError as e:
            raise TrainingError(str(e)) from None
        if not restart:
            for line in edited_fields(folder.config, saved, set(overrides), runtime):
                warnings.warn(line, stacklevel=2)
        if restart:
            warnings.warn(f"{folder.root}: no checkpoint yet (stopped before its first one); starting the run over "
                          "from step 0", stacklevel=2)
            folder.truncate_logs(0)
        with distributed.process_group(cfg.device):
            return Trainer(cfg, folder.root, resume=not restart).fit()


def saved_config(folder: RunFolder, restart: bool) -> dict:
    """The run config a resume continues: the checkpoint's (its maths are what the weights were trained
    with), or train_config.json for a run stopped before its first checkpoint; checked field by field.
    A train_config.json edited by hand beside a checkpoint is not silently overwritten: one warning per
    edited field says that the checkpoint's value is the one used."""
    try:
        if restart:
            saved = read_json(folder.config)
            read_run_config(saved, folder.config)
            return saved
        saved = validate_checkpoint_meta(read_checkpoint_meta(folder.checkpoint), folder.checkpoint)["config"]
    except ConfigError as e:
        raise TrainingError(str(e)) from None
    except CheckpointError as e:
        raise TrainingError(str(e)) from None
    except (OSError, ValueError) as e:  # unreadable train_config.json: not JSON, not UTF-8, a folder...
        raise TrainingError(f"{folder.config}: unreadable ({first_line(e)}); without a checkpoint it is the only "
                            "record of the run's options") from None
    return saved


def edited_fields(path: Path, used: dict, flags: set[str], runtime: set[str]) -> list[str]:
    """One line per field of ``path`` (train_config.json) that differs from ``used`` (the checkpoint's
    config) and is not set by a flag of this resume: a hand edit (or a flag of a resume killed before
    its first checkpoint), saying that the checkpoint's value is the one used; the file is then
    written again with the values the run continues with."""
    try:
        written = read_json(path)
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as e:
        return [f"{path}: unreadable ({first_line(e)}); the checkpoint's copy of the run config is used and the file "
                "is written again from it"]
    if not isinstance(written, dict):
        return [f"{path}: not a mapping; the checkpoint's copy of the run config is used and the file is written again"]
    lines = []
    for key in sorted((k for k in written if k not in flags), key=str):
        if key not in used:
            lines.append(f"{path}: {key!r} is not an option of this run; ignored (the file is written again without it)")
        elif written[key] != used[key]:
            how = (f"to change it on resume, pass --{key.replace('_', '-')}" if key in runtime else
                   "a resumed run keeps the maths it was trained with: start a new run (--init-from) to change it")
            lines.append(f"{path}: {key} is {json.dumps(written[key])[:60]} there, but the checkpoint's value, "
                         f"{json.dumps(used[key])[:60]}, is the one used; {how}")
    return lines
