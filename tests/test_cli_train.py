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


def help_of(command: str, capsys) -> str:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    return capsys.readouterr().out


def test_train_help_shows_every_objective_and_its_options(capsys):
    out = help_of("train", capsys)
    squeezed = "".join(out.split())  # argparse wraps lines (also at hyphens)
    for spec in OBJECTIVES.values():
        assert "".join(f"{spec.name}: {spec.summary}".split()) in squeezed  # --model's help lists each summary
        owners = ", ".join(s.name for s in OBJECTIVES.values() if s.option_group == spec.option_group)
        assert f"{spec.option_group} options (--model {owners})" in out
    assert "--teacher TEACHER" in out and "--lambda-L1" in out and "--lambda-A" in out
    assert "objective options (every objective)" in out and "run options (may change on --resume)" in out
    # an objective's own defaults are named beside the common one
    assert "--model pix2pix: unet_256" in " ".join(out.split())


def test_distill_help_shows_only_what_distillation_uses(capsys):
    out = help_of("distill", capsys)
    assert "distillation options" in out and "--student NETG, --netG NETG" in out
    assert "cyclegan options" not in out and "pix2pix options" not in out
    assert "--lambda-A" not in out and "--lambda-L1" not in out and "--model {" not in out
    assert "(default: mobile_resnet_9blocks)" in " ".join(out.split())  # the objective's defaults are shown
    args = build_parser().parse_args(["distill", "--teacher", "t", "--data", "d", "--student", "mobile_resnet_6blocks"])
    assert args.netG == "mobile_resnet_6blocks" and not hasattr(args, "ngf")  # only typed flags reach the config


def test_model_choices_follow_the_registry():
    spec = ObjectiveSpec(name="toy_objective", summary="a toy objective for this test", load=lambda: object,
                         loss_names=("L",), progress_losses=("L",), health_losses=("L",), loss_groups=(),
                         visual_names=("input",), discriminators={}, option_group=None)
    objectives.register(spec)
    try:
        args = build_parser().parse_args(["train", "--model", "toy_objective", "--data", "d"])
        assert args.model == "toy_objective"
        train_help = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
        assert "toy_objective: a toy objective for this test" in " ".join(train_help.split())
    finally:
        objectives.unregister("toy_objective")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--model", "toy_objective", "--data", "d"])


def test_train_model_distill_runs_from_train(tmp_path, capsys):
    """`train --model distill --teacher X` used to be refused (train hid the distillation options)."""
    data = make_synthetic_dataset(tmp_path / "toy", size=32, n_train=4, n_test=2)
    teacher = save_pretrained(tmp_path / "teacher", {"G_A": create_generator("resnet_6blocks", ngf=4),
                                                     "G_B": create_generator("resnet_6blocks", ngf=4)})
    runs = tmp_path / "runs"
    student = ["--model", "distill", "--teacher", str(teacher), "--direction", "BtoA", "--netG", "mobile_resnet_6blocks",
               "--ngf", "4", "--lambda-distill", "0.5"]
    rc = main(["train", "--data", str(data), "--runs-dir", str(runs), "--name", "student",
               *TINY[2:], *student])  # TINY without its --netG
    assert rc == 0, capsys.readouterr().err
    assert "run folder:" in capsys.readouterr().out
    config = json.loads((runs / "student" / "train_config.json").read_text())
    assert config["model"] == "distill" and config["teacher"] == str(teacher) and config["lambda_distill"] == 0.5
    model = json.loads((runs / "student" / "config.json").read_text())
    assert set(model["generators"]) == {"G_B"} and model["generators"]["G_B"]["name"] == "mobile_resnet_6blocks"
