"""Quality floors of `pocketgan export`: a quantized file that agrees with PyTorch less than its floor
(int8: 25 dB PSNR) is not written unless --force, with one line giving the measured PSNR and what to
try; with --force it is written and its card says so. Run with ONNX (LiteRT goes through the same
exporter code)."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pocketgan.cli import main
from pocketgan.data.synthetic import render_scene
from pocketgan.export.exporter import QUALITY_FLOOR_DB
from pocketgan.models import create_generator
from pocketgan.models.pretrained import save_pretrained

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def calibration(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("calib")
    for i in range(4):
        Image.fromarray(np.asarray(render_scene(i, 64, "A"), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


@pytest.fixture(scope="module")
def poor_int8(tmp_path_factory) -> Path:
    """resnet_6blocks (InstanceNorm) with large random weights: int8 lands near 16 dB, like the
    resnet_9blocks export (15 dB) that used to be written anyway."""
    torch.manual_seed(0)
    g = create_generator("resnet_6blocks", ngf=8, init_gain=1.0).eval()
    return save_pretrained(tmp_path_factory.mktemp("poor") / "m", {"G_A": g})


@pytest.fixture(scope="module")
def good_int8(tmp_path_factory) -> Path:
    """A BatchNorm mobile generator with non-trivial statistics: int8 lands near 50 dB."""
    torch.manual_seed(1)
    g = create_generator("mobile_resnet_6blocks", ngf=8, init_gain=0.2)
    for m in g.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    return save_pretrained(tmp_path_factory.mktemp("good") / "m", {"G_A": g.eval()})


def export(model: Path, calibration: Path, out: Path, *extra: str) -> int:
    return main(["export", "--model", str(model), "--format", "onnx", "--quantize", "int8", "--size", "64",
                 "--calibration", str(calibration), "--out", str(out), *extra])


def test_floors_are_stated():
    assert QUALITY_FLOOR_DB == {None: 40.0, "fp16": 35.0, "int8": 25.0}


def test_int8_below_the_floor_is_not_written(poor_int8, calibration, tmp_path, capsys):
    out = tmp_path / "exports" / "g_int8.onnx"
    assert export(poor_int8, calibration, out) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"pocketgan: error: {out} not written: ") and err.count("\n") == 1, err
    psnr = float(err.split("PyTorch at only ")[1].split(" dB")[0])
    assert psnr < 25
    for hint in ("below the int8 floor of 25 dB", "--calibration", "4 used", "--quantize fp16", "per-channel", "--force"):
        assert hint in err, hint
    assert not out.parent.exists() or not list(out.parent.iterdir())  # no file, no card, no hidden leftovers


def test_a_refused_export_leaves_an_earlier_file_alone(poor_int8, calibration, tmp_path):
    out = tmp_path / "g.onnx"
    out.write_bytes(b"an earlier export")
    assert export(poor_int8, calibration, out) == 2
    assert out.read_bytes() == b"an earlier export" and sorted(p.name for p in tmp_path.iterdir()) == ["g.onnx"]


def test_force_writes_it_and_the_card_says_so(poor_int8, calibration, tmp_path, capsys):
    out = tmp_path / "g_int8.onnx"
    assert export(poor_int8, calibration, out, "--force") == 0
    assert "BELOW the int8 floor of 25 dB" in capsys.readouterr().out
    card = json.loads(out.with_name(out.name + ".json").read_text())
    check = card["parity_vs_pytorch"]
    assert check["psnr_db"] < 25 and check["floor_psnr_db"] == 25 and check["meets_floor"] is False
    assert "below the int8 quality floor" in card["warning"] and card["calibration_images"] == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g_int8.onnx", "g_int8.onnx.json"]


def test_a_good_int8_export_passes(good_int8, calibration, tmp_path, capsys):
    out = tmp_path / "g_int8.onnx"
    assert export(good_int8, calibration, out) == 0
    assert "BELOW" not in capsys.readouterr().out
    card = json.loads(out.with_name(out.name + ".json").read_text())
    check = card["parity_vs_pytorch"]
    assert check["psnr_db"] >= 25 and check["meets_floor"] is True and "warning" not in card
    assert card["quantize"] == "int8" and card["calibration_images"] == 4
