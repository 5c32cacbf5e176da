import json
from pathlib import Path

import pytest
import torch

from pocketgan.cli import main
from pocketgan.inference.pipeline import TranslationPipeline
from pocketgan.models import create_generator, feature_points
from pocketgan.models.pretrained import read_model_config, save_pretrained
from pocketgan.training.checkpoint import load_checkpoint, subset
from pocketgan.training.distill import Distillation
from pocketgan.training.run import CHECKPOINT, TrainingError, resume, train


@pytest.fixture(scope="module")
def teacher(toy_data, tmp_path_factory, tiny_config) -> Path:
    """A (barely) trained tiny CycleGAN run folder: model folder + checkpoint with D_A/D_B."""
    runs = tmp_path_factory.mktemp("teacher")
    return Path(train(tiny_config(toy_data, runs, name="T", max_steps=4))["run_dir"])


@pytest.fixture(scope="module")
def distill_config(tiny_config):
    """The factory ``distill_config(toy_data, runs, teacher, **overrides)``: a tiny mobile student of ``teacher``."""
    def make(toy_data, runs, teacher, **kw):
        base = dict(model="distill", teacher=str(teacher), netG="mobile_resnet_6blocks", ngf=4)
        base.update(kw)
        return tiny_config(toy_data, runs, **base)
    return make


@pytest.mark.parametrize("name,ngf", [("resnet_6blocks", 8), ("resnet_9blocks", 4), ("mobile_resnet_9blocks", 8)])
def test_feature_points_are_the_stages(name, ngf):
    net = create_generator(name, ngf=ngf).eval()
    seen = {}
    points = feature_points(net)
    _hooks = [m.register_forward_hook(lambda m, i, o, k=k: seen.__setitem__(k, o.shape)) for k, m in points.items()]
    net(torch.zeros(1, 3, 32, 32))
    assert list(points) == ["down", "mid", "blocks", "up1"]
    assert seen["down"] == seen["mid"] == seen["blocks"] == (1, 4 * ngf, 8, 8)
    assert seen["up1"] == (1, 2 * ngf, 16, 16)


def test_unet_has_no_feature_points():
    with pytest.raises(ValueError, match="unet_128 has no feature-matching points"):
        feature_points(create_generator("unet_128", ngf=4))


def test_distill_run_folder(toy_data, tmp_path, teacher, distill_config):
    summary = train(distill_config(toy_data, tmp_path, teacher))
    run = Path(summary["run_dir"])
    assert summary["finished"] and summary["steps"] == 8
    config = read_model_config(run)
    assert list(config["generators"]) == ["G_A"] and config["generators"]["G_A"]["name"] == "mobile_resnet_6blocks"
    assert config["model_type"] == "distilled"
    assert config["distilled_from"]["teacher"] == str(teacher)
    assert config["distilled_from"]["teacher_generator"]["name"] == "resnet_6blocks"
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert {"G_gan", "recon", "distill", "D"} <= set(lines[0])
    assert all(row["distill"] > 0 for row in lines)
    pipe = TranslationPipeline.from_pretrained(run, "AtoB", device="cpu")
    assert pipe(toy_image()).size == (40, 24)
    with pytest.raises(Exception, match="has no G_B"):
        TranslationPipeline.from_pretrained(run, "BtoA", device="cpu")


def toy_image():
    from PIL import Image
    return Image.new("RGB", (40, 24), (30, 160, 40))


@pytest.mark.parametrize("direction,d_slot,g_slot", [("AtoB", "D_A", "G_A"), ("BtoA", "D_B", "G_B")])
def test_starts_from_the_teachers_discriminator(toy_data, tmp_path, teacher, direction, d_slot, g_slot, distill_config):
    task = Distillation(distill_config(toy_data, tmp_path, teacher, direction=direction), torch.device("cpu"))
    teacher_d = subset(load_checkpoint(teacher / CHECKPOINT)[0], f"net.{d_slot}")
    for k, v in task.nets["D"].state_dict().items():
        assert torch.equal(v, teacher_d[k]), k
    teacher_g = subset(load_checkpoint(teacher / CHECKPOINT)[0], f"net.{g_slot}")
    for k, v in task.nets["teacher"].state_dict().items():
        assert torch.equal(v, teacher_g[k]), k
    assert list(task.generators) == [g_slot]


def test_other_discriminator_architecture_starts_fresh(toy_data, tmp_path, teacher, distill_config):
    task = Distillation(distill_config(toy_data, tmp_path, teacher, ndf=8), torch.device("cpu"))
    assert task.d_source is None


def test_student_learns_to_imitate(toy_data, tmp_path, teacher, distill_config):
    # the adversarial term is off: a 4-step toy teacher is far from real B images, so it would fight the imitation
    summary = train(distill_config(toy_data, tmp_path, teacher, n_epochs=8, n_epochs_decay=0, log_every=4,
                                   sample_every=0, lr=1e-3, lambda_gan=0.0))
    lines = [json.loads(line) for line in (Path(summary["run_dir"]) / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["recon"] < 0.9 * lines[0]["recon"]
    assert lines[-1]["distill"] < 0.9 * lines[0]["distill"]


def test_distill_resumes_exactly(toy_data, tmp_path, teacher, distill_config):
    straight = train(distill_config(toy_data, tmp_path / "a", teacher))
    first = train(distill_config(toy_data, tmp_path / "b", teacher, max_steps=3))
    resumed = resume(first["run_dir"], {"max_steps": 0})
    a = load_checkpoint(Path(straight["run_dir"]) / CHECKPOINT)[0]
    b = load_checkpoint(Path(resumed["run_dir"]) / CHECKPOINT)[0]
    assert a.keys() == b.keys() and any(k.startswith("net.adapters.") for k in a)
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_distill_errors(toy_data, tmp_path, teacher, tiny_config, distill_config):
    with pytest.raises(ValueError, match="needs --teacher"):
        train(tiny_config(toy_data, tmp_path, model="distill"))
    with pytest.raises(TrainingError, match="no such model folder"):
        train(distill_config(toy_data, tmp_path, tmp_path / "nope", name="x1"))
    one_way = save_pretrained(tmp_path / "one_way", {"G_A": create_generator("resnet_6blocks", ngf=4)})
    with pytest.raises(TrainingError, match="has no G_B"):
        train(distill_config(toy_data, tmp_path, one_way, direction="BtoA", name="x2"))
    unet = save_pretrained(tmp_path / "unet", {"G_A": create_generator("unet_128", ngf=4)})
    with pytest.raises(ValueError, match="--lambda-distill 0"):
        train(distill_config(toy_data, tmp_path, unet, name="x3"))


def test_without_feature_matching(toy_data, tmp_path, teacher, distill_config):
    summary = train(distill_config(toy_data, tmp_path, teacher, lambda_distill=0.0, max_steps=2))
    lines = [json.loads(line) for line in (Path(summary["run_dir"]) / "metrics.jsonl").read_text().splitlines()]
    assert lines[0]["distill"] == 0 and lines[0]["recon"] > 0
    assert not any(k.startswith("net.adapters.") for k in load_checkpoint(Path(summary["run_dir"]) / CHECKPOINT)[0])


def test_cli_distill(toy_data, tmp_path, teacher, capsys):
    code = main(["distill", "--teacher", str(teacher), "--data", str(toy_data), "--student", "mobile_resnet_6blocks",
                 "--ngf", "4", "--ndf", "4", "--load-size", "36", "--crop-size", "32", "--n-epochs", "1",
                 "--n-epochs-decay", "0", "--runs-dir", str(tmp_path), "--name", "s", "--no-progress", "--workers", "0"])
    assert code == 0
    assert "finished after 8 steps" in capsys.readouterr().out
    saved = json.loads((tmp_path / "s" / "train_config.json").read_text())
    assert saved["model"] == "distill" and saved["netG"] == "mobile_resnet_6blocks" and saved["ndf"] == 4
    assert main(["info", str(tmp_path / "s")]) == 0
    out = capsys.readouterr().out
    assert "(distilled)" in out and f"distilled from {teacher} (AtoB: resnet_6blocks(ngf=4" in out
    assert "G_B" not in out and "\nD " in out
    assert main(["distill", "--data", str(toy_data), "--runs-dir", str(tmp_path)]) == 2
    assert "needs --teacher" in capsys.readouterr().err


def test_report_of_a_distill_run(toy_data, tmp_path, teacher, distill_config):
    from pocketgan.report import build_report

    run = Path(train(distill_config(toy_data, tmp_path, teacher))["run_dir"])
    page = build_report(run).read_text()
    assert "recon loss" in page and "D loss" in page
    assert "cycle_A" not in page
