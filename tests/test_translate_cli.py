import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pocketgan.cli import main
from pocketgan.inference.translate import output_paths
from pocketgan.models import create_generator
from pocketgan.models.pretrained import save_pretrained


@pytest.fixture
def model(tmp_path) -> Path:
    return save_pretrained(tmp_path / "model", {"G_A": create_generator("resnet_6blocks", ngf=4),
                                                "G_B": create_generator("resnet_6blocks", ngf=4)})


def write(path: Path, size=(40, 30), mode="RGB", color=(10, 200, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color if mode == "RGB" else 128).save(path)
    return path


def test_files_folders_globs_keep_sizes(model, tmp_path):
    write(tmp_path / "in" / "a.png", (40, 30))
    write(tmp_path / "in" / "b.jpg", (33, 17))
    write(tmp_path / "more" / "c.png", (64, 64))
    write(tmp_path / "more" / "d.bmp", (9, 100))
    (tmp_path / "in" / "notes.txt").write_text("hi")
    rc = main(["translate", str(tmp_path / "in"), str(tmp_path / "more" / "*.png"), str(tmp_path / "more" / "d.bmp"),
               "--model", str(model), "--out", str(tmp_path / "out"), "--no-progress", "--batch-size", "2"])
    assert rc == 0
    outs = {p.name: Image.open(p).size for p in (tmp_path / "out").iterdir()}
    assert outs == {"a.png": (40, 30), "b.png": (33, 17), "c.png": (64, 64), "d.png": (9, 100)}


def test_jpeg_output_and_direction(model, tmp_path):
    src = write(tmp_path / "x.png", (32, 32))
    for direction in ("AtoB", "BtoA"):
        assert main(["translate", str(src), "--model", str(model), "--direction", direction, "--format", "jpg",
                     "--out", str(tmp_path / direction), "--no-progress"]) == 0
    a, b = (np.asarray(Image.open(tmp_path / d / "x.jpg")) for d in ("AtoB", "BtoA"))
    assert a.shape == (32, 32, 3) and not np.array_equal(a, b)  # G_A and G_B differ


def test_never_overwrites_inputs(model, tmp_path):
    src = write(tmp_path / "photo.png")
    before = src.read_bytes()
    assert main(["translate", str(src), "--model", str(model), "--out", str(tmp_path), "--no-progress"]) == 2
    assert src.read_bytes() == before
    # same stem from two folders: both kept
    a, b = write(tmp_path / "d1" / "x.png"), write(tmp_path / "d2" / "x.jpg")
    assert [p.name for p in output_paths([a, b], tmp_path / "o", "png")] == ["x.png", "x-2.png"]


def test_bad_inputs_are_skipped_and_counted(model, tmp_path, capsys):
    good = write(tmp_path / "in" / "good.png")
    (tmp_path / "in" / "empty.png").write_bytes(b"")
    data = (tmp_path / "t.jpg")
    Image.new("RGB", (64, 64), (1, 2, 3)).save(data)
    (tmp_path / "in" / "cut.jpg").write_bytes(data.read_bytes()[:200])
    rc = main(["translate", str(tmp_path / "in"), "--model", str(model), "--out", str(tmp_path / "out"), "--no-progress"])
    captured = capsys.readouterr()
    assert rc == 1  # some inputs failed
    assert "cut.jpg" in captured.err
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["good.png"]
    assert "wrote 1 image to" in captured.out and "skipped" in captured.out  # empty.png rejected before, cut.jpg while decoding
    assert good.exists()


def test_missing_input_and_model_errors(model, tmp_path, capsys):
    assert main(["translate", str(tmp_path / "nope.png"), "--model", str(model), "--out", str(tmp_path / "o")]) == 2
    assert "nope.png" in capsys.readouterr().err
    write(tmp_path / "a.png")
    assert main(["translate", str(tmp_path / "a.png"), "--model", str(tmp_path / "a.png"), "--out", str(tmp_path / "o")]) == 2
    assert "not a model folder" in capsys.readouterr().err


@pytest.mark.slow
def test_python_m_and_info(model, tmp_path):
    out = subprocess.run([sys.executable, "-m", "pocketgan", "info", str(model)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "resnet_6blocks" in out.stdout and "G_B" in out.stdout
    js = subprocess.run([sys.executable, "-m", "pocketgan", "info", str(model), "--json"], capture_output=True, text=True)
    info = json.loads(js.stdout)
    assert info["networks"]["G_A"]["params"] == sum(p.numel() for p in create_generator("resnet_6blocks", ngf=4).parameters())
    assert info["networks"]["G_A"]["macs"] > 0
    bad = subprocess.run([sys.executable, "-m", "pocketgan", "info", str(tmp_path)], capture_output=True, text=True)
    assert bad.returncode == 2 and "neither a model" in bad.stderr
