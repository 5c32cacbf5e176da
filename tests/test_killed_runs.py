"""A run killed at any moment leaves a folder that resumes into exactly the run that was never
stopped: logs of steps after the last checkpoint are dropped (they are trained again), temp files
of interrupted writes are cleaned, a run killed before its first checkpoint restarts in one command,
and a full disk is one line that says the last checkpoint is intact."""
from __future__ import annotations

import errno
import json

import pytest

from pocketgan.cli import main
from pocketgan.training import loop
from pocketgan.training.run import CHECKPOINT, TrainingError, resume, train


def _logged(run) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k != "images_per_s"}
            for line in (run / "metrics.jsonl").read_text().splitlines()]


def _killed_after(monkeypatch, last_saved_step: int) -> None:
    """Checkpoints after ``last_saved_step`` never reach the disk, as if the process died first."""
    real = loop.Trainer.save

    def save(self):
        if self.progress.step <= last_saved_step:
            real(self)
    monkeypatch.setattr(loop.Trainer, "save", save)


def test_resume_after_a_kill_logs_each_step_once(toy_data, tmp_path, tiny_config, monkeypatch):
    straight = train(tiny_config(toy_data, tmp_path / "a", log_every=1, checkpoint_every=2))
    with monkeypatch.context() as m:
        _killed_after(m, 2)
        train(tiny_config(toy_data, tmp_path / "b", log_every=1, checkpoint_every=2, max_steps=5))
    run = tmp_path / "b" / "t"
    assert [r["step"] for r in _logged(run)] == [1, 2, 3, 4, 5]  # 3-5 were logged, never checkpointed
    (run / "checkpoints" / ".last.safetensors.0123abcd.tmp").write_bytes(b"half a checkpoint")
    (run / "metrics.jsonl").open("a").write('{"step": 6, "lo')  # a line cut by the kill
    resumed = resume(run, {"max_steps": 0})
    assert resumed["steps"] == straight["steps"]
    assert _logged(run) == _logged(tmp_path / "a" / "t")  # every step once, the same numbers
    assert not list(run.rglob(".*.tmp"))


def test_a_run_killed_before_its_first_checkpoint_restarts(toy_data, tmp_path, tiny_config, monkeypatch, capsys):
    with monkeypatch.context() as m:
        _killed_after(m, -1)
        train(tiny_config(toy_data, tmp_path, log_every=1, max_steps=3))
    run = tmp_path / "t"
    assert not (run / CHECKPOINT).exists() and (run / "metrics.jsonl").is_file()
    # the same command again says how to continue...
    args = ["train", "--data", str(toy_data), "--runs-dir", str(tmp_path), "--name", "t", "--ngf", "4", "--ndf", "4",
            "--netG", "resnet_6blocks", "--crop-size", "32", "--load-size", "36", "--no-progress", "--workers", "0",
            "--amp", "off"]
    assert main(args) == 2
    assert "--resume" in capsys.readouterr().err
    # ...and that one command continues it: from step 0, in the same folder, logs not doubled
    with pytest.warns(UserWarning, match="starting the run over"):
        summary = resume(run, {"max_steps": 0})
    straight = train(tiny_config(toy_data, tmp_path / "s", log_every=1))
    assert summary["finished"] and summary["steps"] == straight["steps"], (summary, straight)
    assert _logged(run) == _logged(tmp_path / "s" / "t")


def test_full_disk_is_one_line_and_the_last_checkpoint_survives(toy_data, tmp_path, tiny_config, monkeypatch, capsys):
    real = loop.save_checkpoint
    calls = []

    def save_checkpoint(path, tensors, meta):
        calls.append(meta["step"])
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, tensors, meta)
    monkeypatch.setattr(loop, "save_checkpoint", save_checkpoint)
    with pytest.raises(TrainingError, match="step 2.*free some space.*--resume"):
        train(tiny_config(toy_data, tmp_path, checkpoint_every=2))
    monkeypatch.setattr(loop, "save_checkpoint", real)
    assert resume(tmp_path / "t", {})["finished"]  # from the intact checkpoint of step 2

    calls.clear()
    monkeypatch.setattr(loop, "save_checkpoint", save_checkpoint)
    assert main(["train", "--data", str(toy_data), "--runs-dir", str(tmp_path / "cli"), "--ngf", "4", "--ndf", "4",
                 "--netG", "resnet_6blocks", "--crop-size", "32", "--load-size", "36", "--checkpoint-every", "2",
                 "--no-progress", "--workers", "0", "--amp", "off"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left on device" in err and "free some space" in err
