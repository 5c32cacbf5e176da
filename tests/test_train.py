import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from pocketgan.cli import main
from pocketgan.inference.pipeline import TranslationPipeline
from pocketgan.models import create_generator
from pocketgan.training.checkpoint import load_checkpoint, save_checkpoint
from pocketgan.training.run import CHECKPOINT, TrainingError, resume, train


def checkpoint_tensors(run: Path) -> dict:
    return load_checkpoint(run / CHECKPOINT)[0]


def test_run_folder_has_everything(toy_data, tmp_path, tiny_config):
    summary = train(tiny_config(toy_data, tmp_path))
    run = Path(summary["run_dir"])
    assert summary["finished"] and summary["steps"] == 8  # 2 epochs x ceil(8 / 2)
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in lines] == [2, 4, 6, 8]
    assert {"D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B", "lr", "epoch", "iter"} <= set(lines[0])
    assert lines[-1]["lr"] == pytest.approx(2e-4 / 2)  # second epoch decays to 1/2
    assert json.loads((run / "train_config.json").read_text())["ngf"] == 4
    grids = sorted((run / "samples").glob("step_*.png"))
    assert [g.name for g in grids] == ["step_00000003.png", "step_00000004.png", "step_00000006.png", "step_00000008.png"]
    assert Image.open(grids[-1]).size == (6 * 32, 14 + 4 * 32)
    assert set(load_file(run / "G_A.safetensors")) == set(create_generator("resnet_6blocks", ngf=4).state_dict())
    assert not list(run.rglob("*.tmp"))


@pytest.mark.slow
def test_losses_go_down_on_toy_data(toy_data, tmp_path, tiny_config):
    summary = train(tiny_config(toy_data, tmp_path, n_epochs=6, n_epochs_decay=0, log_every=4))
    lines = [json.loads(line) for line in (Path(summary["run_dir"]) / "metrics.jsonl").read_text().splitlines()]
    first, last = lines[0], lines[-1]
    assert last["cycle_A"] < first["cycle_A"] and last["cycle_B"] < first["cycle_B"]


@pytest.mark.slow
@pytest.mark.parametrize("stop_at", [3, 4])  # mid-epoch, and exactly at an epoch boundary
def test_resume_continues_exactly(toy_data, tmp_path, stop_at, tiny_config):
    straight = train(tiny_config(toy_data, tmp_path / "a"))
    first = train(tiny_config(toy_data, tmp_path / "b", max_steps=stop_at))
    assert first["steps"] == stop_at and not first["finished"]
    resumed = resume(first["run_dir"], {"max_steps": 0})
    assert resumed["finished"] and resumed["steps"] == 8
    a, b = checkpoint_tensors(Path(straight["run_dir"])), checkpoint_tensors(Path(resumed["run_dir"]))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k  # weights, Adam moments, pools, RNG: bit-identical
    la = (Path(straight["run_dir"]) / "metrics.jsonl").read_text().splitlines()
    lb = (Path(resumed["run_dir"]) / "metrics.jsonl").read_text().splitlines()
    def strip(ls):
        return [{k: v for k, v in json.loads(line).items() if k != "images_per_s"} for line in ls]
    assert strip(la) == strip(lb)


def test_resume_then_translate_any_size(toy_data, tmp_path, tiny_config):
    run = Path(train(tiny_config(toy_data, tmp_path, max_steps=2))["run_dir"])
    pipe = TranslationPipeline.from_pretrained(run, "BtoA", device="cpu")
    for size in [(32, 32), (37, 21), (5, 3), (300, 90)]:
        out = pipe(Image.new("RGB", size, (200, 30, 30)))
        assert out.size == size and out.mode == "RGB"


def test_resume_errors(toy_data, tmp_path, tiny_config):
    with pytest.raises(TrainingError, match="no such run folder"):
        resume(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TrainingError, match="no checkpoint"):
        resume(tmp_path / "empty")
    run = Path(train(tiny_config(toy_data, tmp_path, max_steps=1))["run_dir"])
    with pytest.raises(TrainingError, match="netG"):
        resume(run, {"netG": "resnet_9blocks"})
    # a checkpoint whose weights come from another architecture
    tensors, meta = load_checkpoint(run / CHECKPOINT)
    other = Path(train(tiny_config(toy_data, tmp_path, name="wide", ngf=8, max_steps=1))["run_dir"])
    other_tensors, _ = load_checkpoint(other / CHECKPOINT)
    save_checkpoint(run / CHECKPOINT, other_tensors, meta)
    with pytest.raises(TrainingError, match=r"do not fit architecture.*shape mismatch"):
        resume(run)
    # a truncated checkpoint
    data = (other / CHECKPOINT).read_bytes()
    (other / CHECKPOINT).write_bytes(data[: len(data) // 2])
    with pytest.raises(TrainingError, match="unreadable checkpoint"):
        resume(other)


def test_existing_run_name_is_not_overwritten(toy_data, tmp_path, tiny_config):
    train(tiny_config(toy_data, tmp_path, max_steps=1))
    with pytest.raises(TrainingError, match="already exists"):
        train(tiny_config(toy_data, tmp_path, max_steps=1))
    auto = train(tiny_config(toy_data, tmp_path, name=None, max_steps=1))["run_dir"]
    auto2 = train(tiny_config(toy_data, tmp_path, name=None, max_steps=1))["run_dir"]
    assert Path(auto).name == "toy" and Path(auto2).name == "toy_2"


def test_cli_train_errors_are_one_line(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "missing"), "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "missing" in err
    (tmp_path / "d" / "trainA").mkdir(parents=True)
    (tmp_path / "d" / "trainB").mkdir(parents=True)
    assert main(["train", "--data", str(tmp_path / "d"), "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "trainA" in err
    assert main(["train", "--runs-dir", str(tmp_path)]) == 2
    assert "--data" in capsys.readouterr().err


@pytest.mark.slow
def test_ctrl_c_checkpoints_and_resumes(toy_data, tmp_path):
    cmd = [sys.executable, "-m", "pocketgan", "train", "--data", str(toy_data), "--runs-dir", str(tmp_path),
           "--name", "sig", "--netG", "resnet_6blocks", "--ngf", "4", "--ndf", "4", "--load-size", "36",
           "--crop-size", "32", "--n-epochs", "500", "--n-epochs-decay", "0", "--log-every", "1", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = tmp_path / "sig" / "metrics.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and (not metrics.exists() or len(metrics.read_text().splitlines()) < 5):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "--resume" in out
    _, meta = load_checkpoint(tmp_path / "sig" / CHECKPOINT)
    logged = len(metrics.read_text().splitlines())
    assert meta["step"] == logged >= 5  # the checkpoint is at the last completed step
    again = subprocess.run([sys.executable, "-m", "pocketgan", "train", "--resume", str(tmp_path / "sig"),
                            "--max-steps", str(meta["step"] + 3), "--no-progress"],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert load_checkpoint(tmp_path / "sig" / CHECKPOINT)[1]["step"] == meta["step"] + 3


@pytest.mark.slow
def test_loader_workers_do_not_change_the_result(toy_data, tmp_path, tiny_config):
    # the data order is a function of (seed, epoch, position), so worker processes change nothing
    a = train(tiny_config(toy_data, tmp_path / "w0", max_steps=5, workers=0))
    b = train(tiny_config(toy_data, tmp_path / "w2", max_steps=5, workers=2))
    ta, tb = checkpoint_tensors(Path(a["run_dir"])), checkpoint_tensors(Path(b["run_dir"]))
    for k in ta:
        assert torch.equal(ta[k], tb[k]), k


def test_mobile_generator_trains_with_auto_norm(toy_data, tmp_path, tiny_config):
    run = Path(train(tiny_config(toy_data, tmp_path, netG="mobile_resnet_6blocks", ngf=4, max_steps=2))["run_dir"])
    config = json.loads((run / "config.json").read_text())
    assert config["generators"]["G_A"] == {"name": "mobile_resnet_6blocks", "ngf": 4, "norm": "batch", "use_dropout": False}
    pipe = TranslationPipeline.from_pretrained(run, device="cpu")
    assert pipe(Image.new("RGB", (30, 22))).size == (30, 22)
