"""One trainer per run folder: a second `train --name X` (or `--resume`) while one runs is one line
naming the folder and the process, exit 2, and writes nothing; the lock dies with its process
(kill -9 included); readers never need it."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from pocketgan.cli import main
from pocketgan.training.run import claim_run_dir, train
from pocketgan.training.run_lock import LOCK_NAME, RunFolderBusy, RunLock

TINY = ["--ngf", "4", "--ndf", "4", "--netG", "resnet_6blocks", "--crop-size", "32", "--load-size", "36",
        "--no-progress", "--workers", "0", "--amp", "off", "--n-epochs", "1", "--n-epochs-decay", "0",
        "--log-every", "1", "--checkpoint-every", "0", "--sample-every", "0"]


def _train_args(data, runs, name="t", *extra) -> list[str]:
    return ["train", "--data", str(data), "--runs-dir", str(runs), "--name", name, *TINY, *extra]


def _contents(folder) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_second_training_into_a_held_folder_is_one_line_and_writes_nothing(toy_data, tmp_path, capsys):
    with RunLock(tmp_path / "t"):
        assert main(_train_args(toy_data, tmp_path)) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1
        assert str(tmp_path / "t") in err and f"process {os.getpid()}" in err and "training in this run folder" in err
        assert sorted(_contents(tmp_path / "t")) == [LOCK_NAME]  # no config, no metrics


def test_resume_takes_the_lock_too_and_changes_nothing(toy_data, tmp_path, capsys):
    assert main(_train_args(toy_data, tmp_path, "t", "--max-steps", "2")) == 0
    run = tmp_path / "t"
    before = _contents(run)
    with RunLock(run):
        assert main(["train", "--resume", str(run), "--max-steps", "4"]) == 2
        assert "training in this run folder" in capsys.readouterr().err
        assert _contents(run) == before
    assert main(["train", "--resume", str(run), "--max-steps", "4"]) == 0  # released: it continues
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]


def test_readers_do_not_need_the_lock(toy_data, tmp_path, capsys):
    assert main(_train_args(toy_data, tmp_path, "t", "--max-steps", "2")) == 0
    capsys.readouterr()
    with RunLock(tmp_path / "t"):  # as if it were still training
        assert main(["info", str(tmp_path / "t")]) == 0
        assert "steps" in capsys.readouterr().out


def test_without_a_name_a_held_folder_is_skipped(toy_data, tmp_path, tiny_config):
    cfg = tiny_config(toy_data, tmp_path, name=None)
    with RunLock(tmp_path / toy_data.name):  # another run is starting in runs/<dataset> right now
        run, lock = claim_run_dir(cfg)
        with lock:
            assert run.name == f"{toy_data.name}_2"


def test_a_failed_set_up_leaves_no_folder(tmp_path, tiny_config):
    with pytest.raises(Exception, match="does not exist"):
        train(tiny_config(tmp_path / "no_such_data", tmp_path / "runs"))
    assert not (tmp_path / "runs" / "t").exists()


def _holder_process(folder) -> subprocess.Popen:
    """Another Python process that takes the folder's lock and sleeps (prints 'locked' when it has it)."""
    code = ("import sys, time; from pocketgan.training.run_lock import RunLock; RunLock(sys.argv[1]).acquire(); "
            "print('locked', flush=True); time.sleep(600)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_the_lock_names_another_process_and_dies_with_it(tmp_path):
    folder = tmp_path / "run"
    holder = _holder_process(folder)
    try:
        with pytest.raises(RunFolderBusy, match=f"process {holder.pid} is training"):
            RunLock(folder).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    RunLock(folder).acquire().release()  # kill -9 released it: no stale lock to clean up


@pytest.mark.slow
def test_two_trainings_started_at_once_one_trains(toy_data, tmp_path):
    """The bug report: a double Enter. Exactly one process trains; the other exits 2 with one line;
    metrics.jsonl holds each step once."""
    args = [sys.executable, "-m", "pocketgan", *_train_args(toy_data, tmp_path)]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    refused = next(err for code, err in results if code == 2)
    assert "training in this run folder" in refused or "already exists" in refused
    assert "Traceback" not in refused
    steps = [json.loads(line)["step"] for line in (tmp_path / "t" / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == len(steps)


@pytest.mark.slow
def test_a_killed_training_leaves_a_folder_that_resumes(toy_data, tmp_path):
    """kill -9 mid-run: the kernel drops the lock, so --resume needs no clean-up."""
    args = [sys.executable, "-m", "pocketgan", *_train_args(toy_data, tmp_path, "t", "--n-epochs", "50",
                                                            "--checkpoint-every", "2")]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = tmp_path / "t" / "checkpoints" / "last.safetensors"
    deadline = time.time() + 120
    while not ckpt.is_file() and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert ckpt.is_file()
    assert main(["train", "--resume", str(tmp_path / "t"), "--max-steps", "40"]) == 0
