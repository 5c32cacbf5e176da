"""--init-from: a new run that starts from a finished run's (or a model folder's) weights."""
import json
import shutil
from pathlib import Path

import pytest
import torch

from pocketgan.cli import main
from pocketgan.training.checkpoint import load_checkpoint, subset
from pocketgan.training.loop import Trainer
from pocketgan.training.run import CHECKPOINT, TrainingError, resume, train


def net_state(run: Path, name: str) -> dict:
    return subset(load_checkpoint(run / CHECKPOINT)[0], f"net.{name}")


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def source_run(toy_data, tmp_path_factory, tiny_config) -> Path:
    """A finished tiny run (its weights differ from any fresh initialisation)."""
    runs = tmp_path_factory.mktemp("source")
    return Path(train(tiny_config(toy_data, runs, name="src", max_steps=3, seed=7))["run_dir"])


def test_starts_from_every_net_of_a_run_folder(source_run, toy_data, tmp_path, tiny_config):
    cfg = tiny_config(toy_data, tmp_path, init_from=str(source_run))
    trainer = Trainer(cfg, tmp_path / "t")
    for name in ("G_A", "G_B", "D_A", "D_B"):  # discriminators keep what they learnt too
        assert same({k: v for k, v in trainer.task.nets[name].state_dict().items()}, net_state(source_run, name)), name
    # a new run: its own schedule and step count, not the source's
    assert trainer.progress.step == 0
    assert all(o.param_groups[0]["lr"] == cfg.lr for o in trainer.task.optimizers.values())
    assert all(not o.state for o in trainer.task.optimizers.values())  # fresh Adam moments


def test_a_model_folder_gives_the_generators_and_fresh_discriminators(source_run, toy_data, tmp_path, tiny_config):
    warm = Trainer(tiny_config(toy_data, tmp_path, init_from=str(source_run), name="w"), tmp_path / "w")
    cold = Trainer(tiny_config(toy_data, tmp_path, name="c"), tmp_path / "c")
    # the run folder's checkpoint wins over its model files; without it, the folder is a model folder
    model = tmp_path / "model"
    shutil.copytree(source_run, model, ignore=shutil.ignore_patterns("checkpoints"))
    from_model = Trainer(tiny_config(toy_data, tmp_path, init_from=str(model), name="m"), tmp_path / "m")
    for g in ("G_A", "G_B"):
        assert same(from_model.task.nets[g].state_dict(), warm.task.nets[g].state_dict()), g
        assert not same(from_model.task.nets[g].state_dict(), cold.task.nets[g].state_dict()), g
    for d in ("D_A", "D_B"):
        assert same(from_model.task.nets[d].state_dict(), cold.task.nets[d].state_dict()), d


def test_training_from_it_continues_learning_and_resumes_without_the_source(source_run, toy_data, tmp_path,
                                                                           tiny_config):
    source = tmp_path / "copy"
    shutil.copytree(source_run, source)
    first = train(tiny_config(toy_data, tmp_path, init_from=str(source), max_steps=2))
    run = Path(first["run_dir"])
    assert json.loads((run / "train_config.json").read_text())["init_from"] == str(source)
    assert not same(net_state(run, "G_A"), net_state(source, "G_A"))  # it trained on
    shutil.rmtree(source)  # a resumed run needs only its own checkpoint
    done = resume(run, {"max_steps": 0})
    assert done["finished"] and done["steps"] == 8


def test_mismatches_are_one_line_errors(source_run, toy_data, tmp_path, tiny_config):
    with pytest.raises(TrainingError, match=r"weights do not fit.*shape mismatch"):
        Trainer(tiny_config(toy_data, tmp_path, init_from=str(source_run), ngf=8), tmp_path / "a")
    with pytest.raises(TrainingError, match="no such"):
        Trainer(tiny_config(toy_data, tmp_path, init_from=str(tmp_path / "missing")), tmp_path / "b")
    (tmp_path / "plain").mkdir()
    with pytest.raises(TrainingError, match="neither a run folder"):
        Trainer(tiny_config(toy_data, tmp_path, init_from=str(tmp_path / "plain")), tmp_path / "c")
    # another discriminator: the generators still start trained, the discriminators fresh, with a warning
    with pytest.warns(UserWarning, match="D_A starts fresh"):
        t = Trainer(tiny_config(toy_data, tmp_path, init_from=str(source_run), ndf=8), tmp_path / "d")
    assert same(t.task.nets["G_A"].state_dict(), net_state(source_run, "G_A"))


def test_cli_says_what_it_loaded(source_run, toy_data, tmp_path, capsys):
    args = ["train", "--data", str(toy_data), "--runs-dir", str(tmp_path), "--name", "cli", "--netG", "resnet_6blocks",
            "--ngf", "4", "--ndf", "4", "--load-size", "36", "--crop-size", "32", "--batch-size", "2",
            "--max-steps", "1", "--amp", "off", "--no-progress", "--init-from"]
    assert main(args + [str(source_run)]) == 0
    assert f"initialised G_A, G_B, D_A, D_B from {source_run / CHECKPOINT}" in capsys.readouterr().err
    assert main(args[:-1] + ["--name", "cli2", "--init-from", str(source_run), "--ngf", "8"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--init-from" in err and "G_A" in err
