"""What a training run does besides training, as behaviours that subscribe to the loop's events.

The loop (loop.py ``Trainer.fit``) emits seven events, each with the trainer (its ``cfg``,
``progress``, ``run_dir``, ``spec``...) and at most one payload:

=================  ======================================================  =====================
event              when                                                    payload
=================  ======================================================  =====================
on_train_start     the run folder is ready, before the first step          —
on_step_end        after every optimisation step (counters moved on)       losses (tensors)
on_log             every ``--log-every`` steps and at each epoch's end     the metrics record
on_epoch_end       after an epoch (LR schedules stepped)                   —
on_evaluate        after a periodic evaluation (``--eval-every``)          its eval.jsonl record
on_checkpoint      after a checkpoint and the model folder were written    —
on_train_end       the run stopped (finished, max_steps, Ctrl-C), or       the summary, or None
                   failed with an exception (summary None)                 when it failed
=================  ======================================================  =====================

A new behaviour is one :class:`Callback` subclass overriding the events it needs, passed as
``Trainer(..., callbacks=[...])``. The set is deliberately small (Lightning's Callback has ~30
hooks, Keras's ~14): nothing fires inside a step, and batch-level events are one (on_step_end).
The built-ins below are what every run does on its main process; the trainer's own components
(checkpoints, moving averages) are called by name in the loop, where their order matters.
"""
from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

if TYPE_CHECKING:
    from .loop import Trainer


class Callback:
    """A behaviour of a run; every event is a no-op unless overridden."""

    def on_train_start(self, trainer: Trainer) -> None: ...

    def on_step_end(self, trainer: Trainer, losses: dict) -> None: ...

    def on_log(self, trainer: Trainer, record: dict[str, Any]) -> None: ...

    def on_epoch_end(self, trainer: Trainer) -> None: ...

    def on_evaluate(self, trainer: Trainer, record: dict[str, Any]) -> None: ...

    def on_checkpoint(self, trainer: Trainer) -> None: ...

    def on_train_end(self, trainer: Trainer, summary: dict | None) -> None: ...


EVENTS = tuple(name for name in vars(Callback) if name.startswith("on_"))


class CallbackList:
    """Callbacks called in order for each event (so a later one sees what an earlier one wrote)."""

    def __init__(self, callbacks: list[Callback]) -> None:
        self.callbacks = list(callbacks)

    def emit(self, event: str, trainer: Trainer, *payload) -> None:
        for cb in self.callbacks:
            getattr(cb, event)(trainer, *payload)


class MetricsFile(Callback):
    """metrics.jsonl: one JSON line per log record (appended, flushed: a killed run keeps what it logged)."""

    def __init__(self) -> None:
        self.file = None

    def on_train_start(self, trainer: Trainer) -> None:
        with trainer.writing("metrics.jsonl"):
            self.file = open(trainer.folder.metrics, "a", encoding="utf-8")  # noqa: SIM115 - closed by on_train_end

    def on_log(self, trainer: Trainer, record: dict[str, Any]) -> None:
        with trainer.writing("metrics.jsonl"):
            self.file.write(json.dumps(record) + "\n")
            self.file.flush()

    def on_train_end(self, trainer: Trainer, summary: dict | None) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


class ProgressBar(Callback):
    """The tqdm bar: epoch and iteration, the objective's progress losses at each log."""

    def __init__(self) -> None:
        self.bar = None

    def on_train_start(self, trainer: Trainer) -> None:
        self.bar = tqdm(total=trainer.total_steps, initial=min(trainer.progress.step, trainer.total_steps),
                        disable=not trainer.cfg.progress, unit="it", dynamic_ncols=True, file=sys.stderr,
                        mininterval=0.1 if sys.stderr.isatty() else 30)  # logs get a line per 30 s, not per step

    def on_step_end(self, trainer: Trainer, losses: dict) -> None:
        p = trainer.progress
        self.bar.set_description_str(f"epoch {p.epoch + 1}/{trainer.cfg.total_epochs} iter {p.iter_in_epoch}/"
                                     f"{trainer.steps_per_epoch}", refresh=False)
        self.bar.update(1)

    def on_log(self, trainer: Trainer, record: dict[str, Any]) -> None:
        self.bar.set_postfix({k: f"{record[k]:.3f}" for k in trainer.spec.progress_losses if k in record}, refresh=False)

    def on_train_end(self, trainer: Trainer, summary: dict | None) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class SampleGrids(Callback):
    """samples/step_*.png every ``--sample-every`` steps, at each epoch's end and at the last step."""

    def on_step_end(self, trainer: Trainer, losses: dict) -> None:
        every = trainer.cfg.sample_every
        if every and trainer.progress.step % every == 0:
            trainer.write_samples()

    def on_epoch_end(self, trainer: Trainer) -> None:
        trainer.write_samples()

    def on_train_end(self, trainer: Trainer, summary: dict | None) -> None:
        if summary is not None and trainer.last_sample_step != trainer.progress.step:
            trainer.write_samples()


class PeriodicEvaluation(Callback):
    """FID/KID on the fixed test subset every ``--eval-every`` epochs (eval.jsonl, best/)."""

    def on_epoch_end(self, trainer: Trainer) -> None:
        every = trainer.cfg.eval_every
        if every and trainer.progress.epoch % every == 0:
            trainer.evaluate()


def default_callbacks() -> list[Callback]:
    """What every run's main process does, in this order."""
    return [MetricsFile(), ProgressBar(), SampleGrids(), PeriodicEvaluation()]
