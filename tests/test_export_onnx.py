"""ONNX export: exact sub-pixel rewrite, parity of every export, model card, bad input, and
`translate` running the exported file."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pocketgan.cli import main
from pocketgan.export.prepare import SubpixelConvTranspose, prepare
from pocketgan.models import create_generator
from pocketgan.models.pretrained import ModelFolderError, save_pretrained

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


def lively(g: torch.nn.Module) -> torch.nn.Module:
    """Random but non-trivial BatchNorm statistics, so parity checks see real signal."""
    torch.manual_seed(1)
    for m in g.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    return g.eval()


@pytest.mark.parametrize("k,s,p,op", [(3, 2, 1, 1), (4, 2, 1, 0), (2, 2, 0, 0)])
def test_subpixel_rewrite_equals_conv_transpose(k, s, p, op):
    convt = torch.nn.ConvTranspose2d(6, 5, k, s, p, op)
    x = torch.randn(2, 6, 7, 9)
    y, z = convt(x), SubpixelConvTranspose(convt)(x)
    assert y.shape == z.shape
    assert 10 * torch.log10(y.pow(2).mean() / (y - z).pow(2).mean()) > 100  # ~float epsilon; the bar is 40 dB


@pytest.mark.parametrize("name,kw", [("resnet_9blocks", {}), ("unet_128", {"norm": "batch"}), ("mobile_resnet_6blocks", {}),
                                     ("mobile_resnet_6blocks", {"residual": True}), ("cut_resnet_6blocks", {})])
def test_prepared_generators_compute_the_same(name, kw):
    g = lively(create_generator(name, ngf=4, init_gain=0.2, **kw))
    x = torch.rand(1, 3, 128, 128) * 2 - 1
    with torch.no_grad():
        y, z = g(x), prepare(g, image_io=False, subpixel=True)(x)
        assert 10 * torch.log10(4 / (y - z).pow(2).mean()) > 60  # PSNR on [-1, 1]; the bar is 40 dB
        kinds = {type(m) for m in prepare(g, image_io=False, subpixel=True).modules()}
    assert torch.nn.ConvTranspose2d not in kinds and torch.nn.BatchNorm2d not in kinds
    assert not any(k.__name__ == "BlurUpsample" for k in kinds)  # CUT's functional transposed conv, too


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    g = lively(create_generator("mobile_resnet_6blocks", ngf=8, init_gain=0.2))
    return save_pretrained(tmp_path_factory.mktemp("m") / "m", {"G_A": g})


def test_onnx_export_cli_writes_verified_file_and_card(model, tmp_path, capsys):
    assert main(["export", "--model", str(model), "--format", "onnx", "--size", "64"]) == 0
    path = model / "export" / "G_A_64.onnx"
    onnx.checker.check_model(str(path))
    card = json.loads(path.with_name(path.name + ".json").read_text())
    assert card["input"]["dtype"] == "uint8" and card["input"]["layout"] == "NHWC" and card["direction"] == "AtoB"
    assert card["parity_vs_pytorch"]["psnr_db"] >= 40 and card["opset"] >= 17
    assert "PSNR" in capsys.readouterr().out
    # dynamic height/width: translate an odd-sized photo with the .onnx file == with the model folder
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (44, 60, 3), dtype=np.uint8)).save(tmp_path / "p.png")
    assert main(["translate", str(tmp_path / "p.png"), "--model", str(path), "--out", str(tmp_path / "onnx"), "--no-progress"]) == 0
    assert main(["translate", str(tmp_path / "p.png"), "--model", str(model), "--out", str(tmp_path / "torch"), "--no-progress"]) == 0
    a = np.asarray(Image.open(tmp_path / "onnx" / "p.png"), dtype=int)
    b = np.asarray(Image.open(tmp_path / "torch" / "p.png"), dtype=int)
    assert a.shape == (44, 60, 3) and np.abs(a - b).max() <= 1


def test_fp16_and_int8(model, tmp_path):
    from pocketgan.export.exporter import export_model

    calib = tmp_path / "calib"
    calib.mkdir()
    for i in range(4):
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(calib / f"{i}.png")
    fp32, card32 = export_model(model, "onnx", 64, out=tmp_path / "a.onnx")
    fp16, card16 = export_model(model, "onnx", 64, "fp16", out=tmp_path / "b.onnx")
    int8, card8 = export_model(model, "onnx", 64, "int8", calibration=calib, out=tmp_path / "c.onnx")
    assert card16["parity_vs_pytorch"]["psnr_db"] >= 35 and fp16.stat().st_size < fp32.stat().st_size
    assert card8["quantize"] == "int8" and card8["parity_vs_pytorch"]["psnr_db"] >= 25  # the int8 floor
    with pytest.raises(ValueError, match="calibration"):
        export_model(model, "onnx", 64, "int8")


def test_export_bad_input(model, tmp_path, capsys):
    from pocketgan.export.exporter import export_model

    with pytest.raises(ModelFolderError, match="has no G_B"):
        export_model(model, "onnx", 64, direction="BtoA")
    with pytest.raises(ValueError, match="not a multiple of 4"):
        export_model(model, "onnx", 66)
    with pytest.raises(ValueError, match="unknown format"):
        export_model(model, "coreml", 64)
    assert main(["export", "--model", str(model), "--format", "onnx", "--size", "30"]) == 2
    assert "multiple of 4" in capsys.readouterr().err
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage")
    Image.new("RGB", (8, 8)).save(tmp_path / "x.png")
    assert main(["translate", str(tmp_path / "x.png"), "--model", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "bad.onnx: not a loadable ONNX model" in err and err.count("\n") == 1


@pytest.mark.parametrize("module", ["litert_torch", "ai_edge_litert.interpreter"])
def test_missing_litert_is_a_one_line_install_hint(model, tmp_path, capsys, monkeypatch, module):
    """Runs whether or not the [export] extra is installed: the import is made to fail."""
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now raises ImportError
    assert main(["export", "--model", str(model), "--format", "tflite", "--size", "64"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pocketgan: error: LiteRT export needs") and "pip install 'pocketgan[export]'" in err
    assert err.count("\n") == 1 and not list(model.rglob("*.tflite"))
    if module != "litert_torch":  # running a .tflite needs only the interpreter
        fake = tmp_path / "m.tflite"
        fake.write_bytes(b"TFL3" + bytes(60))
        Image.new("RGB", (8, 8)).save(tmp_path / "x.png")
        assert main(["translate", str(tmp_path / "x.png"), "--model", str(fake), "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err
        assert "needs ai_edge_litert" in err and "pip install 'pocketgan[export]'" in err and err.count("\n") == 1


def test_missing_onnx_is_a_one_line_install_hint(model, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert main(["export", "--model", str(model), "--format", "onnx", "--size", "64"]) == 2
    err = capsys.readouterr().err
    assert "ONNX export needs onnx and onnxruntime" in err and "pip install 'pocketgan[export]'" in err
