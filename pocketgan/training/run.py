"""A training run's folder and the two entry points, :func:`train` (a new run) and :func:`resume`.

Everything a run produces lives in runs/NAME/ (:class:`RunFolder` names each file):

    train_config.json   the full config of the run
    metrics.jsonl       one JSON line of mean losses every ``log_every`` steps
    samples/            sample grids (the objective's columns, e.g. real_A | fake_B | rec_A | ...)
    checkpoints/last.safetensors   full training state (atomic), for --resume
    config.json, G_*.safetensors   the latest generators as a model folder
    eval.jsonl, best/   with --eval-every: FID/KID per evaluation, and the best generators by KID

Under torchrun (WORLD_SIZE > 1) each process trains a DDP replica on its slice of every epoch and
rank 0 alone writes the run folder (see distributed.py).
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

from ..errors import PocketganError
from . import distributed
from ..fileio import atomic_write_bytes
from .checkpoint import CheckpointError, read_checkpoint_meta, validate_checkpoint_meta
from .config import TrainConfig, runtime_fields

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


def new_run_dir(cfg: TrainConfig, base: str | None = None) -> Path:
    """runs/NAME for ``--name``; otherwise runs/<base or dataset name>, with _2, _3... if taken."""
    runs = Path(cfg.runs_dir)
    if cfg.name:
        run = runs / cfg.name
        if run.exists() and any(run.iterdir()):
            raise TrainingError(f"{run}: run folder already exists; continue it with --resume {run} or pick another --name")
        return run
    base = base or (Path(cfg.data).resolve().name if cfg.data else f"{Path(cfg.a).resolve().name}2{Path(cfg.b).resolve().name}")
    run, k = runs / base, 1
    while run.exists() and any(run.iterdir()):
        k += 1
        run = runs / f"{base}_{k}"
    return run


def train(cfg: TrainConfig) -> dict:
    """Start a new run (in a new folder under ``cfg.runs_dir``) and train it; returns fit()'s summary."""
    from .loop import Trainer

    cfg.validate()
    with distributed.process_group(cfg.device) as ctx:
        run, error = None, None
        if ctx.main:  # rank 0 picks the folder (a _2 suffix must not differ between ranks)
            try:
                run = new_run_dir(cfg)
            except TrainingError as e:
                error = str(e)
        run, error = distributed.broadcast((run, error), ctx)
        if error:
            raise TrainingError(error)
        return Trainer(cfg, run).fit()


def resume(run_dir: str | Path, overrides: dict | None = None) -> dict:
    """Continue ``run_dir`` from its last checkpoint. Only runtime settings (device, workers,
    max_steps, logging...) may be overridden; changing the maths would not be a continuation.
    A run stopped before its first checkpoint has learnt nothing yet: it starts over, in its folder."""
    from ..fileio import read_json
    from .loop import Trainer

    folder = RunFolder(Path(run_dir))
    if not folder.root.is_dir():
        raise TrainingError(f"{folder.root}: no such run folder")
    restart = not folder.checkpoint.is_file()
    if restart and not folder.config.is_file():
        raise TrainingError(f"{folder.root}: not a run folder (no {CHECKPOINT} and no {folder.config.name})")
    source = folder.config if restart else folder.checkpoint
    try:
        saved = read_json(folder.config) if restart else \
            validate_checkpoint_meta(read_checkpoint_meta(folder.checkpoint), folder.checkpoint)["config"]
    except (CheckpointError, OSError, ValueError, KeyError, TypeError) as e:
        raise TrainingError(f"{source}: unreadable ({e})" if not isinstance(e, CheckpointError) else str(e)) from None
    if not isinstance(saved, dict):
        raise TrainingError(f"{source}: holds no run config; not a pocketgan run")
    overrides = dict(overrides or {})
    fixed = {k: v for k, v in overrides.items() if k not in runtime_fields() and saved.get(k) != v}
    if fixed:
        changes = ", ".join(f"{k}: {saved.get(k)!r} -> {v!r}" for k, v in fixed.items())
        raise TrainingError(f"{folder.root}: cannot change the model or objective when resuming ({changes}); "
                            "start a new run instead")
    if ("a" in overrides or "b" in overrides) and "data" not in overrides:
        overrides["data"] = None
    if "data" in overrides and overrides["data"] is not None:
        overrides.update(a=None, b=None)
    try:
        cfg = TrainConfig.from_dict({**saved, **overrides})
        cfg.validate()
    except (TypeError, ValueError) as e:
        raise TrainingError(f"{source}: unusable run config ({e})") from None
    if restart:
        warnings.warn(f"{folder.root}: no checkpoint yet (stopped before its first one); starting the run over "
                      "from step 0")
        folder.truncate_logs(0)
    with distributed.process_group(cfg.device):
        return Trainer(cfg, folder.root, resume=not restart).fit()
