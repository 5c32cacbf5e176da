"""Experiment trackers for ``train --logger tensorboard,mlflow``: callbacks that mirror what a run
logs (losses, LR, images/s, sample grids, evaluations, its config and model card) to TensorBoard
event files or an MLflow tracking store.

metrics.jsonl stays the run's own record; a tracker is a view of it for people who already watch
their runs in one of these tools. So a tracker never stops a run once it has started: a failure
mid-run (a full disk, a tracking server gone) is one warning, and that tracker stops logging. What
can be checked before the first step is an error instead: a missing package when the Trainer is
built (:func:`trackers`), an unreachable store at ``on_train_start``.

Both libraries are optional extras and are imported only when a run asks for them. Only the main
process logs: the Trainer adds these callbacks on rank 0 alone, beside the built-in ones.

Metric names are the same in both: ``loss/<name>`` for the objective's losses, ``train/lr`` and
``train/images_per_s`` at every log step (the record's "step"), and ``eval/<direction>/kid_x1000``,
``.../fid``, ``.../change_mean_abs`` and ``eval/mean_kid_x1000`` at each ``--eval-every``.
"""
from __future__ import annotations

import importlib
import json
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import MissingDependency, first_line
from ..fileio import atomic_write_json, read_json
from ..models.pretrained import CONFIG_NAME
from .callbacks import Callback
from .config import TrainConfig
from .run import TrainingError

if TYPE_CHECKING:
    from .loop import Trainer

FINISHED, FAILED, KILLED = "FINISHED", "FAILED", "KILLED"  # MLflow's run statuses; TensorBoard records them as text


def require(module: str, extra: str, what: str) -> Any:
    """Import ``module`` or raise the one-line MissingDependency naming the extra that installs it:
    at Trainer construction, so a missing package never costs a started run."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingDependency(f"--logger {extra}: {what} needs the {module.split('.')[0]} package "
                                f"({first_line(e)}); install it with: pip install 'pocketgan[{extra}]'") from None


def end_status(summary: dict | None) -> str:
    """How a run ended, in MLflow's words: None is a failure, an interrupted summary was stopped."""
    if summary is None:
        return FAILED
    return KILLED if summary.get("interrupted") else FINISHED


def log_metrics(trainer: Trainer, record: dict[str, Any]) -> dict[str, float]:
    """The scalars of one on_log record: the objective's losses, the LR, the throughput."""
    metrics = {f"loss/{k}": float(record[k]) for k in trainer.spec.loss_names if k in record}
    for key in ("lr", "images_per_s"):
        if key in record:
            metrics[f"train/{key}"] = float(record[key])
    return metrics


def eval_metrics(record: dict[str, Any]) -> dict[str, float]:
    """The scalars of one on_evaluate record (``Trainer.evaluate``: a dict per direction)."""
    metrics = {}
    for name, result in record.items():
        if isinstance(result, dict) and "kid_x1000" in result:
            metrics[f"eval/{name}/kid_x1000"] = float(result["kid_x1000"])
            metrics[f"eval/{name}/fid"] = float(result["fid"])
            if isinstance(result.get("change"), dict) and "mean_abs" in result["change"]:
                metrics[f"eval/{name}/change_mean_abs"] = float(result["change"]["mean_abs"])
    if "mean_kid_x1000" in record:
        metrics["eval/mean_kid_x1000"] = float(record["mean_kid_x1000"])
    return metrics


class Tracker(Callback):
    """Turns the loop's events into a backend's few calls (:meth:`open`, :meth:`metrics`, :meth:`grid`,
    :meth:`config`, :meth:`model_card`, :meth:`flush`, :meth:`close`), so a backend is only its
    library's calls. New sample grids are noticed through ``trainer.last_sample_step`` after the
    events the built-in SampleGrids writes them in (it runs earlier in the callback list)."""

    name = "tracker"

    def __init__(self) -> None:
        self.opened = False
        self.active = False
        self.grid_step = -1  # the step of the last grid logged
        self.where = ""  # " to <store>": named in the error of a failed start

    # --- the backend ---------------------------------------------------------------------------
    def open(self, trainer: Trainer) -> bool:
        """Start or continue the log of ``trainer``'s run; True if it is a new log (then the config is logged)."""
        raise NotImplementedError

    def metrics(self, values: dict[str, float], step: int) -> None:
        raise NotImplementedError

    def grid(self, path: Path, step: int) -> None:
        raise NotImplementedError

    def config(self, config: dict[str, Any]) -> None:
        raise NotImplementedError

    def model_card(self, path: Path, step: int) -> None:
        raise NotImplementedError

    def flush(self) -> None: ...

    def close(self, status: str) -> None:
        raise NotImplementedError

    # --- the events ----------------------------------------------------------------------------
    def on_train_start(self, trainer: Trainer) -> None:
        try:
            new = self.open(trainer)
        except (TrainingError, MissingDependency):
            raise
        except Exception as e:  # noqa: BLE001 - any library or store error: one line, before the first step
            raise TrainingError(f"--logger {self.name}: cannot start logging{self.where} ({first_line(e)}); fix that, then "
                                f"`pocketgan train --resume {trainer.run_dir}` (with --logger '' to go on without it)") from None
        self.opened = self.active = True
        self.grid_step = trainer.last_sample_step
        if new:
            self._safely("logging the config", self.config, trainer.cfg.to_dict())

    def on_log(self, trainer: Trainer, record: dict[str, Any]) -> None:
        self._safely("logging metrics", self.metrics, log_metrics(trainer, record), int(record["step"]))

    def on_step_end(self, trainer: Trainer, losses: dict) -> None:
        self._new_grid(trainer)

    def on_epoch_end(self, trainer: Trainer) -> None:
        self._new_grid(trainer)

    def on_evaluate(self, trainer: Trainer, record: dict[str, Any]) -> None:
        self._safely("logging an evaluation", self.metrics, eval_metrics(record), int(record["step"]))

    def on_checkpoint(self, trainer: Trainer) -> None:
        self._safely("flushing", self.flush)

    def on_train_end(self, trainer: Trainer, summary: dict | None) -> None:
        if not self.opened:
            return
        self._new_grid(trainer)
        card = trainer.run_dir / CONFIG_NAME
        if card.is_file():
            self._safely("logging the model card", self.model_card, card, trainer.progress.step)
        self.active = True  # always try to end the log, even after a failure
        self._safely("ending the log", self.close, end_status(summary))
        self.opened = self.active = False

    def _new_grid(self, trainer: Trainer) -> None:
        step = trainer.last_sample_step
        if step > self.grid_step:
            self.grid_step = step
            path = trainer.folder.samples / f"step_{step:08d}.png"
            if path.is_file():
                self._safely("logging a sample grid", self.grid, path, step)

    def _safely(self, what: str, call: Callable, *args) -> None:
        """Run one backend call; a failure is one warning and the end of this tracker's logging."""
        if not self.active:
            return
        try:
            call(*args)
        except Exception as e:  # noqa: BLE001 - a tracker must not stop the run it watches
            self.active = False
            warnings.warn(f"--logger {self.name}: {what} failed ({first_line(e)}); stopped logging to {self.name} "
                          "(the run goes on; metrics.jsonl has every record)", stacklevel=1)  # the loop calls; no user frame


def indented(text: str) -> str:
    """``text`` as a Markdown code block (TensorBoard's text plugin renders Markdown)."""
    return "\n".join("    " + line for line in text.splitlines())


class TensorBoardLogger(Tracker):
    """Event files in runs/NAME/tensorboard/ (``tensorboard --logdir runs`` shows every run).
    A resumed run appends a new event file that purges the steps after its checkpoint, which the
    old file may hold from before a kill: each step is shown once, with the resumed run's value."""

    name = "tensorboard"
    FOLDER = "tensorboard"

    def __init__(self) -> None:
        super().__init__()
        require("tensorboard", "tensorboard", "TensorBoard logging")
        self.summary_writer = require("torch.utils.tensorboard", "tensorboard", "TensorBoard logging").SummaryWriter
        self.writer = None
        self.loss_tags: list[str] = []

    def open(self, trainer: Trainer) -> bool:
        folder = trainer.run_dir / self.FOLDER
        self.where = f" in {folder}"
        new = not any(folder.glob("events.out.tfevents.*"))
        self.loss_tags = [f"loss/{k}" for k in trainer.spec.loss_names]
        # purge_step hides every event at or after it in the older files: the checkpoint's own step stays
        self.writer = self.summary_writer(log_dir=str(folder), purge_step=None if new else trainer.progress.step + 1,
                                          flush_secs=30)
        return new

    def metrics(self, values: dict[str, float], step: int) -> None:
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, step)

    def grid(self, path: Path, step: int) -> None:
        import numpy as np
        from PIL import Image

        with Image.open(path) as im:
            self.writer.add_image("samples", np.asarray(im.convert("RGB")), step, dataformats="HWC")

    def config(self, config: dict[str, Any]) -> None:
        from torch.utils.tensorboard.summary import hparams

        values = {k: v if isinstance(v, (int, float, str)) else json.dumps(v) for k, v in config.items()}
        # written to this writer's file (SummaryWriter.add_hparams would open a sub-run per call);
        # the HPARAMS tab reads the loss scalars of the same run as its metrics
        for summary in hparams(values, {tag: 0.0 for tag in self.loss_tags}):
            self.writer.file_writer.add_summary(summary)
        self.writer.add_text("config", indented(json.dumps(config, indent=2)), 0)

    def model_card(self, path: Path, step: int) -> None:
        self.writer.add_text("model_card", indented(path.read_text(encoding="utf-8")), step)

    def flush(self) -> None:
        self.writer.flush()

    def close(self, status: str) -> None:
        self.writer.close()


def default_tracking_uri(run_dir: Path) -> str:
    """MLflow's own default is sqlite:///mlflow.db in the working directory; pocketgan's is the same
    kind of store beside the run folders (runs/mlflow.db), so it does not move with the shell's cwd."""
    return f"sqlite:///{(run_dir.parent / 'mlflow.db').resolve()}"


def artifact_root(uri: str) -> str | None:
    """Where a new experiment in a local SQLite store keeps its artifacts: mlartifacts/ beside the
    database (MLflow would use ./mlruns of whatever the cwd is). None: the store decides."""
    if not uri.startswith("sqlite:///"):
        return None
    return (Path(uri[len("sqlite:///"):]).parent / "mlartifacts").resolve().as_uri()


class MLflowLogger(Tracker):
    """One MLflow run per run folder, in ``MLFLOW_TRACKING_URI`` (default: :func:`default_tracking_uri`),
    experiment ``MLFLOW_EXPERIMENT_NAME`` (default "pocketgan"), named after the run folder. Its id
    is kept in runs/NAME/mlflow_run.json so ``--resume`` continues the same MLflow run. The client
    API is used, not ``mlflow.start_run``: no process-wide active run for a library to leak."""

    name = "mlflow"
    RUN_FILE = "mlflow_run.json"
    EXPERIMENT = "pocketgan"

    def __init__(self) -> None:
        super().__init__()
        self.mlflow = require("mlflow", "mlflow", "MLflow logging")
        self.client = None
        self.run_id: str | None = None

    def open(self, trainer: Trainer) -> bool:
        uri = os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri(trainer.run_dir)
        self.where = f" to {uri}"
        self.client = self.mlflow.MlflowClient(tracking_uri=uri)
        self.run_id = self._continued_run(trainer.run_dir / self.RUN_FILE, uri)
        if self.run_id is not None:
            self.client.update_run(self.run_id, status="RUNNING")
            return False
        run = self.client.create_run(self._experiment_id(uri), run_name=trainer.run_dir.name,
                                     tags={"pocketgan.run_dir": str(trainer.run_dir.resolve()),
                                           "pocketgan.objective": trainer.spec.name})
        self.run_id = run.info.run_id
        with trainer.writing(self.RUN_FILE):
            atomic_write_json(trainer.run_dir / self.RUN_FILE, {"run_id": self.run_id, "tracking_uri": uri,
                                                                "experiment_id": run.info.experiment_id})
        return True

    def _continued_run(self, path: Path, uri: str) -> str | None:
        """The MLflow run a resumed run folder continues, or None for a new one (with a warning
        when the folder names one that cannot be continued here)."""
        try:
            saved = read_json(path)
            run_id, saved_uri = saved["run_id"], saved["tracking_uri"]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as e:
            warnings.warn(f"{path}: unreadable ({first_line(e)}); starting a new MLflow run", stacklevel=1)
            return None
        if saved_uri != uri:
            warnings.warn(f"{path}: the run's MLflow run {run_id} is in {saved_uri}, not in {uri} (MLFLOW_TRACKING_URI); "
                          "starting a new MLflow run there", stacklevel=1)
            return None
        try:
            run = self.client.get_run(run_id)
        except self.mlflow.exceptions.MlflowException as e:
            warnings.warn(f"{path}: MLflow run {run_id} not found in {uri} ({first_line(e)}); starting a new one", stacklevel=1)
            return None
        if run.info.lifecycle_stage != "active":
            warnings.warn(f"{path}: MLflow run {run_id} was deleted; starting a new one", stacklevel=1)
            return None
        return run_id

    def _experiment_id(self, uri: str) -> str:
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or self.EXPERIMENT
        experiment = self.client.get_experiment_by_name(name)
        if experiment is None:
            try:
                return self.client.create_experiment(name, artifact_location=artifact_root(uri))
            except self.mlflow.exceptions.MlflowException:  # created meanwhile by another run
                experiment = self.client.get_experiment_by_name(name)
                if experiment is None:
                    raise
        if experiment.lifecycle_stage != "active":
            raise TrainingError(f"--logger mlflow: experiment {name!r} is deleted in {uri}; restore it "
                                "(`mlflow experiments restore`) or set MLFLOW_EXPERIMENT_NAME to another name")
        return experiment.experiment_id

    def metrics(self, values: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, v, now, step) for k, v in values.items()])

    def grid(self, path: Path, step: int) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path="samples")

    def config(self, config: dict[str, Any]) -> None:
        """The config as params: strings, cut to the store's limit, in batches of its maximum."""
        from mlflow.entities import Param

        try:
            from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH, MAX_PARAMS_TAGS_PER_BATCH
        except ImportError:  # moved in some release: the limits of MLflow 2.x
            MAX_PARAM_VAL_LENGTH, MAX_PARAMS_TAGS_PER_BATCH = 500, 100
        params = [Param(k, str(v)[:MAX_PARAM_VAL_LENGTH]) for k, v in config.items()]
        for i in range(0, len(params), MAX_PARAMS_TAGS_PER_BATCH):
            self.client.log_batch(self.run_id, params=params[i:i + MAX_PARAMS_TAGS_PER_BATCH])

    def model_card(self, path: Path, step: int) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path="model")

    def close(self, status: str) -> None:
        self.client.set_terminated(self.run_id, status=status)


TRACKERS: dict[str, type[Tracker]] = {"tensorboard": TensorBoardLogger, "mlflow": MLflowLogger}


def trackers(cfg: TrainConfig) -> list[Callback]:
    """The trackers ``cfg.logger`` names (comma-separated, validated by the config), each once, in
    order; building one checks that its package is installed."""
    names = dict.fromkeys(p.strip() for p in cfg.logger.split(",") if p.strip())
    return [TRACKERS[name]() for name in names]
