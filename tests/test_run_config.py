"""Hand-edited run configs: every reader names the field, the value and the type it wants; beside a
checkpoint an edited train_config.json is a warning per field saying which value is used."""
from __future__ import annotations

import json

import pytest

from pocketgan.cli import main
from pocketgan.training.checkpoint import CheckpointError, validate_checkpoint_meta
from pocketgan.training.config import ConfigError, TrainConfig, read_run_config
from pocketgan.training.run import CHECKPOINT

TINY = ["--ngf", "4", "--ndf", "4", "--netG", "resnet_6blocks", "--crop-size", "32", "--load-size", "36",
        "--no-progress", "--workers", "0", "--amp", "off", "--n-epochs", "1", "--n-epochs-decay", "0",
        "--log-every", "1", "--checkpoint-every", "0", "--sample-every", "0"]


@pytest.fixture
def run(toy_data, tmp_path):
    assert main(["train", "--data", str(toy_data), "--runs-dir", str(tmp_path), "--name", "t", *TINY,
                 "--max-steps", "2"]) == 0
    return tmp_path / "t"


def _edit(path, **changes) -> None:
    cfg = json.loads(path.read_text())
    cfg.update(changes)
    path.write_text(json.dumps(cfg))


def test_a_bad_value_without_a_checkpoint_names_field_value_and_type(run, capsys):
    (run / CHECKPOINT).unlink()  # stopped before its first checkpoint: train_config.json is the record
    _edit(run / "train_config.json", lr="fast")
    assert main(["train", "--resume", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "train_config.json" in err and "lr" in err and '"fast"' in err and "a number" in err
    assert "not supported" not in err


@pytest.mark.parametrize("changes, words", [
    ({"ngf": 4.5}, ("ngf", "4.5", "a whole number")),
    ({"flip": "yes"}, ("flip", '"yes"', "true or false")),
    ({"netG": 3}, ("netG", "3", "text")),
    ({"batch_size": True}, ("batch_size", "true", "a whole number")),
    ({"lambda_a": 5.0}, ("unknown option 'lambda_a'", "did you mean 'lambda_A'")),
    ({"crop_size": 0}, ("--crop-size must be >= 1",)),
])
def test_each_kind_of_edit_is_named(run, capsys, changes, words):
    (run / CHECKPOINT).unlink()
    _edit(run / "train_config.json", **changes)
    assert main(["train", "--resume", str(run)]) == 2
    err = capsys.readouterr().err
    for w in words:
        assert w in err
    assert "Traceback" not in err


def test_beside_a_checkpoint_an_edit_is_a_warning_and_the_checkpoint_wins(run):
    _edit(run / "train_config.json", lr="fast", log_every=7, max_steps=1)
    with pytest.warns(UserWarning) as caught:
        assert main(["train", "--resume", str(run), "--max-steps", "3"]) == 0
    lines = {str(w.message).split(": ")[1].split()[0]: str(w.message) for w in caught}
    assert set(lines) == {"lr", "log_every"}  # one warning per edited field; a flag given now is no edit
    assert '"fast" there, but the checkpoint\'s value, 0.0002, is the one used' in lines["lr"]
    assert "start a new run" in lines["lr"]
    assert "pass --log-every" in lines["log_every"]
    saved = json.loads((run / "train_config.json").read_text())
    assert saved["lr"] == 2e-4 and saved["log_every"] == 1 and saved["max_steps"] == 3  # what the run used


def test_a_plain_resume_warns_of_nothing(run, recwarn):
    assert main(["train", "--resume", str(run), "--max-steps", "3"]) == 0
    assert main(["train", "--resume", str(run), "--max-steps", "4", "--log-every", "2"]) == 0
    assert not [w for w in recwarn if "train_config.json" in str(w.message)]


def test_an_unreadable_config_beside_a_checkpoint_is_a_warning(run):
    (run / "train_config.json").write_text("{not json")
    with pytest.warns(UserWarning, match="train_config.json: unreadable"):
        assert main(["train", "--resume", str(run), "--max-steps", "3"]) == 0
    assert json.loads((run / "train_config.json").read_text())["max_steps"] == 3


def test_a_checkpoint_whose_config_was_tampered_with_names_the_field(run):
    meta = {"config": {**json.loads((run / "train_config.json").read_text()), "lr": "fast"},
            "epoch": 0, "iter_in_epoch": 0, "step": 0, "steps_per_epoch": 4}
    with pytest.raises(CheckpointError, match=r'lr: "fast" is not a number'):
        validate_checkpoint_meta(meta, "x.safetensors")


def test_report_names_the_field_too(run, capsys):
    _edit(run / "train_config.json", model=7)
    assert main(["report", str(run)]) == 2
    assert "model: 7 is not an objective" in capsys.readouterr().err


def test_the_python_api_checks_types_too():
    with pytest.raises(ConfigError, match='lr: "fast" is not a number'):
        TrainConfig(data="d", lr="fast").validate()
    with pytest.raises(ConfigError, match="src: unknown option 'nope'"):
        read_run_config({"data": "d", "nope": 1}, "src")
