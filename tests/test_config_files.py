"""`train --config FILE|RECIPE` and `--print-config`: a run starts from a file (YAML, JSON, a run's
train_config.json as it is) or a shipped recipe, flags override it, and the printed config
reproduces the run. Mistakes are one line naming the key, exit 2."""
from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

from pocketgan.cli import main
from pocketgan.training.recipes import RECIPES, list_recipes

TINY = ["--netG", "resnet_6blocks", "--ngf", "4", "--ndf", "4", "--crop-size", "32", "--load-size", "36",
        "--n-epochs", "1", "--n-epochs-decay", "0", "--max-steps", "2", "--no-progress", "--workers", "0",
        "--amp", "off", "--log-every", "1", "--sample-every", "0", "--checkpoint-every", "0"]
FIXTURES = Path(__file__).parent / "data" / "resume_fixtures"


def printed(argv: list[str], capsys) -> dict:
    assert main(["train", *argv, "--print-config"]) == 0
    return yaml.safe_load(capsys.readouterr().out)


def test_print_config_then_config_reproduces_the_run(toy_data, tmp_path, capsys):
    argv = ["--data", str(toy_data), "--runs-dir", str(tmp_path / "runs"), "--name", "a", *TINY, "--lambda-A", "3"]
    resolved = printed(argv, capsys)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(resolved))
    assert main(["train", "--config", str(tmp_path / "c.yaml")]) == 0
    assert json.loads((tmp_path / "runs" / "a" / "train_config.json").read_text()) == resolved
    assert resolved["lambda_A"] == 3.0 and "lambda_L1" not in resolved  # its own options only


def test_a_run_folders_train_config_json_is_a_config_file(toy_data, tmp_path, capsys):
    assert main(["train", "--data", str(toy_data), "--runs-dir", str(tmp_path), "--name", "a", *TINY]) == 0
    assert main(["train", "--config", str(tmp_path / "a" / "train_config.json"), "--name", "b"]) == 0
    a, b = (json.loads((tmp_path / n / "train_config.json").read_text()) for n in ("a", "b"))
    assert {**a, "name": "b"} == b
    # and one written before objectives owned their options (every objective's, flat) still reads
    old = FIXTURES / "cut" / "train_config.json"
    assert "lambda_L1" in json.loads(old.read_text())
    cfg = printed(["--config", str(old), "--data", str(toy_data)], capsys)
    assert cfg["model"] == "cut" and cfg["nce_layers"] == "0,2,4" and "lambda_L1" not in cfg


def test_flags_beside_a_config_override_it(toy_data, tmp_path, capsys):
    (tmp_path / "c.json").write_text(json.dumps({"data": str(toy_data), "lr": 0.001, "ngf": 8, "model": "pix2pix"}))
    cfg = printed(["--config", str(tmp_path / "c.json"), "--ngf", "16"], capsys)
    assert (cfg["lr"], cfg["ngf"], cfg["model"], cfg["netG"]) == (0.001, 16, "pix2pix", "unet_256")  # pix2pix's default G
    cfg = printed(["--config", str(tmp_path / "c.json"), "--objective", "cyclegan"], capsys)
    assert cfg["model"] == "cyclegan" and cfg["netG"] == "resnet_9blocks"


@pytest.mark.parametrize("content, words", [
    ("lamda_A: 3\n", ("unknown option 'lamda_A'", "did you mean 'lambda_A'")),
    ("ngf: wide\n", ('ngf: "wide" is not a whole number',)),
    ("flip: 1\n", ("flip: 1 is not true or false",)),
    ("lambda_L1: 50\n", ("lambda_L1: an option of pix2pix, not of cyclegan",)),
    ("model: nope\n", ('model: "nope" is not an objective',)),
    ("- a list\n", ("must be a mapping",)),
    ("lr: [1, 2\n", ("not valid YAML", "line")),
])
def test_a_bad_config_file_is_one_line(tmp_path, capsys, content, words):
    (tmp_path / "c.yaml").write_text(content)
    assert main(["train", "--config", str(tmp_path / "c.yaml"), "--data", "d", "--print-config"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("pocketgan: error: "), err
    for w in words:
        assert w in err


def test_yaml_exponents_are_numbers(tmp_path, capsys):
    (tmp_path / "c.yaml").write_text("lr: 2e-4\nema_decay: 9.99e-1\n")  # YAML 1.1 reads 2e-4 as text
    cfg = printed(["--config", str(tmp_path / "c.yaml"), "--data", "d"], capsys)
    assert cfg["lr"] == 2e-4 and cfg["ema_decay"] == 0.999


def test_config_and_resume_do_not_go_together(tmp_path, capsys):
    (tmp_path / "c.yaml").write_text("lr: 0.001\n")
    with pytest.raises(SystemExit, match="--config starts a new run"):
        main(["train", "--config", str(tmp_path / "c.yaml"), "--resume", str(tmp_path)])
    assert main(["train", "--config", "no_such_recipe", "--print-config"]) == 2
    assert "no recipe of that name (recipes: " in capsys.readouterr().err


def test_recipes_are_listed_and_each_resolves(capsys):
    assert main(["train", "--list-recipes"]) == 0
    out = capsys.readouterr().out
    names = [name for name, _ in list_recipes()]
    assert {"cyclegan_paper", "pix2pix_paper", "cut_paper", "fastcut_paper", "phone_stage1", "phone_stage2"} <= set(names)
    for name, purpose in list_recipes():
        assert re.search(rf"^{name}\s+{re.escape(purpose)}$", out, re.M) and len(purpose) > 20
        cfg = printed(["--config", name, "--data", "d"], capsys)
        declared = yaml.safe_load((RECIPES / f"{name}.yaml").read_text())
        assert {k: cfg[k] for k in declared} == declared  # every value as the recipe says


@pytest.mark.parametrize("stage", [1, 2])
def test_the_bundled_models_stages_are_the_recipes(stage, capsys):
    """The recipes are the commands recorded in the bundled model's card (its two CPU stages)."""
    card = (Path(__file__).resolve().parents[1] / "pocketgan" / "pretrained" / "summer2winter" / "README.md").read_text()
    command = re.search(rf"Stage {stage}:.*?`pocketgan train (.*?)`", card).group(1)
    from_card = printed(shlex.split(command), capsys)
    from_recipe = printed(["--config", f"phone_stage{stage}", "--data", from_card["data"]], capsys)
    assert from_recipe == from_card
