"""The loop's events: a small documented set, in a fixed order, to callbacks passed to the Trainer;
a new behaviour is one class. A failed run still tells its callbacks (on_train_end with None)."""
from __future__ import annotations

from pathlib import Path

import pytest

from pocketgan.training.callbacks import EVENTS, Callback
from pocketgan.training.loop import Trainer


class Recorder(Callback):
    def __init__(self) -> None:
        self.events: list[tuple] = []

    def on_train_start(self, trainer):
        self.events.append(("on_train_start", trainer.progress.step))

    def on_step_end(self, trainer, losses):
        assert set(losses) == set(trainer.spec.loss_names)
        self.events.append(("on_step_end", trainer.progress.step))

    def on_log(self, trainer, record):
        self.events.append(("on_log", record["step"]))

    def on_epoch_end(self, trainer):
        self.events.append(("on_epoch_end", trainer.progress.epoch))

    def on_evaluate(self, trainer, record):
        self.events.append(("on_evaluate", record["step"]))

    def on_checkpoint(self, trainer):
        self.events.append(("on_checkpoint", trainer.progress.step))

    def on_train_end(self, trainer, summary):
        self.events.append(("on_train_end", None if summary is None else summary["steps"]))


def test_the_event_set_is_small_and_documented():
    assert EVENTS == ("on_train_start", "on_step_end", "on_log", "on_epoch_end", "on_evaluate", "on_checkpoint",
                      "on_train_end")
    import pocketgan.training.callbacks as module
    assert all(e in module.__doc__ for e in EVENTS)


def test_events_arrive_in_order(toy_data, tmp_path, tiny_config):
    cfg = tiny_config(toy_data, tmp_path, log_every=3, checkpoint_every=2)  # 8 images, batch 2: 4 steps an epoch
    rec = Recorder()
    Trainer(cfg, Path(cfg.runs_dir) / cfg.name, callbacks=[rec]).fit()
    names = [e[0] for e in rec.events]
    assert names[0] == "on_train_start" and rec.events[-1] == ("on_train_end", 8)
    assert [s for e, s in rec.events if e == "on_step_end"] == list(range(1, 9))
    assert [s for e, s in rec.events if e == "on_log"] == [3, 4, 6, 8]  # every 3 steps and each epoch's end
    assert [s for e, s in rec.events if e == "on_epoch_end"] == [1, 2]
    assert [s for e, s in rec.events if e == "on_checkpoint"] == [2, 4, 6, 8]  # every 2 steps, epoch ends, the end
    # a step's log comes before its on_step_end; its checkpoint after; an epoch ends before its checkpoint
    assert rec.events.index(("on_log", 3)) < rec.events.index(("on_step_end", 3))
    assert rec.events.index(("on_step_end", 2)) < rec.events.index(("on_checkpoint", 2))
    assert rec.events.index(("on_epoch_end", 1)) < rec.events.index(("on_checkpoint", 4))


def test_a_failing_run_still_ends_its_callbacks(toy_data, tmp_path, tiny_config):
    class Boom(Callback):
        def on_step_end(self, trainer, losses):
            if trainer.progress.step == 2:
                raise RuntimeError("a behaviour failed")

    cfg = tiny_config(toy_data, tmp_path)
    rec = Recorder()
    with pytest.raises(RuntimeError, match="a behaviour failed"):
        Trainer(cfg, Path(cfg.runs_dir) / cfg.name, callbacks=[rec, Boom()]).fit()
    assert rec.events[-1] == ("on_train_end", None)
