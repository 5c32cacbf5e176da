"""`pocketgan train` / `distill`: flags generated from TrainConfig and the objective registry."""
import json

import pytest

from pocketgan.cli import build_parser, main
from pocketgan.data.synthetic import make_synthetic_dataset
from pocketgan.models import create_generator
from pocketgan.models.pretrained import save_pretrained
from pocketgan.training import objectives
from pocketgan.training.objectives import OBJECTIVES, ObjectiveSpec

TINY = ["--netG", "resnet_6blocks", "--ngf", "4", "--ndf", "4", "--crop-size", "32", "--load-size", "36",
        "--n-epochs", "1", "--n-epochs-decay", "0", "--max-steps", "2", "--no-progress", "--workers", "0",
        "--amp", "off"]


def help_of(argv: list[str], capsys) -> str:
    assert main(argv) == 0
    return capsys.readouterr().out


def test_train_help_shows_the_shared_options_and_names_each_objective(capsys):
    out = help_of(["train", "--help"], capsys)
    squeezed = "".join(out.split())  # argparse wraps lines
    for spec in OBJECTIVES.values():
        assert "".join(f"{spec.name}: {spec.summary}".split()) in squeezed  # each objective, one line
    assert "objective options (every objective)" in out and "run options (may change on --resume)" in out
    assert "--lambda-A" not in out and "--lambda-L1" not in out and "--teacher" not in out  # their own groups
    assert "--objective NAME --help" in " ".join(out.split())
    assert len(out.splitlines()) < 220  # was 272 with every objective's options


def test_train_objective_help_adds_its_own_group(capsys):
    out = help_of(["train", "--objective", "cut", "--help"], capsys)
    assert "cut options (--objective cut, fastcut)" in out and "--nce-layers" in out
    assert "--lambda-A" not in out and "cyclegan options" not in out
    out = help_of(["train", "--objective", "pix2pix", "--help"], capsys)
    assert "--lambda-L1" in out and "(default: unet_256)" in " ".join(out.split())  # pix2pix's own defaults


def test_distill_help_shows_only_what_distillation_uses(capsys):
    out = help_of(["distill", "--help"], capsys)
    assert "distillation options" in out and "--student NETG, --netG NETG" in out
    assert "cyclegan options" not in out and "pix2pix options" not in out
    assert "--lambda-A" not in out and "--lambda-L1" not in out and "--objective NAME" not in out
    assert "(default: mobile_resnet_9blocks)" in " ".join(out.split())  # the objective's defaults are shown
    args, extra = build_parser().parse_known_args(["distill", "--teacher", "t", "--data", "d", "--student",
                                                   "mobile_resnet_6blocks"])
    assert extra == ["--teacher", "t"]  # distillation's own flag: parsed once the objective's module is loaded
    assert args.netG == "mobile_resnet_6blocks" and not hasattr(args, "ngf")  # only typed flags reach the config


def test_the_old_model_flag_still_names_the_objective(tmp_path, capsys):
    data = make_synthetic_dataset(tmp_path / "toy", size=32, n_train=4, n_test=2)
    base = ["train", "--data", str(data), "--runs-dir", str(tmp_path / "runs"), "--print-config", *TINY]
    assert main([*base, "--model", "pix2pix", "--lambda-L1", "5"]) == 0
    out = capsys.readouterr()
    assert "model: pix2pix" in out.out and "lambda_L1: 5.0" in out.out
    assert out.err.count("\n") == 1 and "`train --model` is now `--objective`" in out.err  # one line of deprecation
    with pytest.raises(SystemExit):
        main([*base, "--model", "pix2pix", "--objective", "cut"])


def test_an_objectives_flag_elsewhere_is_a_usage_error_naming_it(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--data", "d", "--lambda-L1", "5"])  # pix2pix's, not cyclegan's
    err = capsys.readouterr().err
    assert e.value.code == 2 and "--lambda-L1" in err and "--objective cyclegan" in err
    with pytest.raises(SystemExit):
        main(["train", "--data", "d", "--lamda-A", "5"])
    assert "did you mean --lambda-A?" in capsys.readouterr().err


def test_objective_choices_follow_the_registry(capsys):
    spec = ObjectiveSpec(name="toy_objective", summary="a toy objective for this test", load=lambda: object,
                         loss_names=("L",), progress_losses=("L",), health_losses=("L",), loss_groups=(),
                         visual_names=("input",), discriminators={}, option_group=None)
    objectives.register(spec)
    try:
        args = build_parser().parse_args(["train", "--objective", "toy_objective", "--data", "d"])
        assert args.objective == "toy_objective"
        assert "toy_objective: a toy objective for this test" in " ".join(help_of(["train", "--help"], capsys).split())
    finally:
        objectives.unregister("toy_objective")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--objective", "toy_objective", "--data", "d"])


def test_train_model_distill_runs_from_train(tmp_path, capsys):
    """`train --objective distill --teacher X` trains what `distill` does."""
    data = make_synthetic_dataset(tmp_path / "toy", size=32, n_train=4, n_test=2)
    teacher = save_pretrained(tmp_path / "teacher", {"G_A": create_generator("resnet_6blocks", ngf=4),
                                                     "G_B": create_generator("resnet_6blocks", ngf=4)})
    runs = tmp_path / "runs"
    student = ["--objective", "distill", "--teacher", str(teacher), "--direction", "BtoA", "--netG", "mobile_resnet_6blocks",
               "--ngf", "4", "--lambda-distill", "0.5"]
    rc = main(["train", "--data", str(data), "--runs-dir", str(runs), "--name", "student",
               *TINY[2:], *student])  # TINY without its --netG
    assert rc == 0, capsys.readouterr().err
    assert "run folder:" in capsys.readouterr().out
    config = json.loads((runs / "student" / "train_config.json").read_text())
    assert config["model"] == "distill" and config["teacher"] == str(teacher) and config["lambda_distill"] == 0.5
    model = json.loads((runs / "student" / "config.json").read_text())
    assert set(model["generators"]) == {"G_B"} and model["generators"]["G_B"]["name"] == "mobile_resnet_6blocks"
