"""ONNX export: exact sub-pixel rewrite, parity of every export, model card, bad input, and
`translate` running the exported file."""
import importlib.util
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pocketgan.cli import main
from pocketgan.data.synthetic import render_scene
from pocketgan.export.prepare import SubpixelConvTranspose, prepare, without_output_padding
from pocketgan.models import create_generator
from pocketgan.models.pretrained import ModelFolderError, load_generator, save_pretrained

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
# fp16 export needs onnxconverter-common, from the export extra (`make test` installs it; CI must have it)
needs_fp16 = pytest.mark.skipif(importlib.util.find_spec("onnxconverter_common") is None and not os.environ.get("CI"),
                                reason="fp16 ONNX export needs onnxconverter-common (pip install -e '.[export]')")


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


@pytest.mark.parametrize("k,s,p,op", [(3, 2, 1, 1), (4, 2, 1, 0), (3, 2, 0, 1), (5, 3, 1, 2)])
def test_dropping_output_padding_is_exact(k, s, p, op):
    """LiteRT's TRANSPOSE_CONV path: ConvTranspose2d(K, output_padding=op) == ConvTranspose2d(K + op)
    with zero taps added."""
    convt = torch.nn.ConvTranspose2d(6, 5, k, s, p, op)
    wide = without_output_padding(convt)
    assert wide.output_padding == (0, 0) and wide.kernel_size == (k + op, k + op)
    x = torch.randn(2, 6, 7, 9)
    with torch.no_grad():
        assert torch.allclose(convt(x), wide(x), rtol=0, atol=1e-6)


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
    with torch.no_grad():  # LiteRT's form: transposed convs kept, without output_padding
        lite = prepare(g, image_io=False, litert=True)
        assert 10 * torch.log10(4 / (y - lite(x)).pow(2).mean()) > 60
    convts = [m for m in lite.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert all(m.output_padding == (0, 0) and m.groups == 1 for m in convts)
    assert not any(type(m).__name__ in ("BlurUpsample", "BatchNorm2d") for m in lite.modules())


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
    for engine, out in ((path, "onnx"), (model, "torch")):
        assert main(["translate", str(tmp_path / "p.png"), "--model", str(engine), "--out", str(tmp_path / out),
                     "--no-progress"]) == 0
    a = np.asarray(Image.open(tmp_path / "onnx" / "p.png"), dtype=int)
    b = np.asarray(Image.open(tmp_path / "torch" / "p.png"), dtype=int)
    assert a.shape == (44, 60, 3) and np.abs(a - b).max() <= 1


def test_card_names_what_an_app_calls_and_no_local_paths(model, tmp_path):
    from pocketgan.export.exporter import export_model

    path, card = export_model(model, "onnx", 64, out=tmp_path / "g.onnx")
    tensor = {"shape": [1, "height", "width", 3], "dtype": "uint8"}
    assert card["signature"] == {"key": None, "inputs": {"image": tensor}, "outputs": {"translated": tensor}}
    assert card["input"]["name"] == "image" and card["output"]["name"] == "translated" and card["input"]["dynamic_size"]
    session_names = [i.name for i in __import__("onnxruntime").InferenceSession(str(path)).get_inputs()]
    assert session_names == ["image"]
    assert set(card["model"]) >= {"name", "description", "author", "license", "version", "data", "scores"}
    text = path.with_name(path.name + ".json").read_text()
    assert str(tmp_path) not in text and str(model.parent) not in text and str(Path.home()) not in text


def test_bundled_model_card_has_its_training_data_scores_and_licence(tmp_path):
    from pocketgan.export.exporter import export_model
    from pocketgan.models.zoo import resolve_model

    _, card = export_model(resolve_model("summer2winter"), "onnx", 64, out=tmp_path / "s2w.onnx")
    assert card["source"] == "summer2winter" and card["model"]["name"] == "summer2winter"
    assert card["training"]["steps"] > 0 and "objective" in card["training"]  # was null
    assert "summer2winter_yosemite" in card["model"]["data"]
    scores = card["model"]["scores"]  # this direction's (at strength 1, and any other strength measured)
    assert "AtoB/clean" in scores and all(k.startswith("AtoB/") for k in scores)
    assert card["model"]["scores"]["AtoB/clean"]["translated"]["kid_x1000"] > 0
    assert card["model"]["license"].startswith("BSD-3-Clause") and card["model"]["author"] == "pocketgan"
    text = json.dumps(card)
    assert str(Path(__file__).resolve().parents[1]) not in text and str(Path.home()) not in text and str(tmp_path) not in text


def test_non_square_export_matches_pytorch(model, tmp_path, capsys):
    """--size HxW (height x width): the file is traced and checked at 64x48 and named so; ONNX Runtime
    runs it at that size (and, the axes being dynamic, at its transpose too)."""
    import onnxruntime as ort

    assert main(["export", "--model", str(model), "--format", "onnx", "--size", "64x48"]) == 0
    path = model / "export" / "G_A_64x48.onnx"
    card = json.loads(path.with_name(path.name + ".json").read_text())
    assert card["parity_vs_pytorch"]["input"] == "toy scene 64x48" and card["parity_vs_pytorch"]["psnr_db"] >= 40
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    g = load_generator(model, "G_A")
    for h, w in ((64, 48), (48, 64)):
        image = np.random.default_rng(h).integers(0, 255, (1, h, w, 3), dtype=np.uint8)
        got = session.run(["translated"], {"image": image})[0]
        with torch.no_grad():
            expected = prepare(g, image_io=True)(torch.from_numpy(image)).numpy()
        assert got.shape == (1, h, w, 3) and np.abs(got.astype(int) - expected).max() <= 1


@pytest.mark.parametrize("bad", ["0x5", "64x", "x64", "64x48x3", "5000", "-4", "abc"])
def test_bad_sizes_are_one_line_usage_errors(model, bad, capsys):
    with pytest.raises(SystemExit) as e:
        main(["export", "--model", str(model), "--format", "onnx", f"--size={bad}"])
    assert e.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("pocketgan export: error: argument --size: ") and bad.lstrip("-") in last


@needs_fp16
def test_fp16_is_a_conversion_of_the_fp32_graph(tmp_path):
    """fp16 = the verified fp32 graph converted (onnxconverter-common), not a second trace in half
    precision: the generator's weights are float16, the uint8 image I/O stays fp32, the output is
    close to fp32's, and it takes well under a second for a small net."""
    import time

    import onnxruntime as ort

    from pocketgan.export.onnx import _to_onnx_bytes, image_io_nodes, to_float16

    g = lively(create_generator("resnet_6blocks", ngf=8, init_gain=0.05))
    fp32 = onnx.load_from_string(_to_onnx_bytes(prepare(g), 64, True))
    start = time.perf_counter()
    fp16 = to_float16(fp32)
    took = time.perf_counter() - start
    onnx.checker.check_model(fp16)
    weights = {i.name: i.data_type for i in fp16.graph.initializer if "weight" in i.name}
    assert weights and set(weights.values()) == {onnx.TensorProto.FLOAT16}
    io = set(image_io_nodes(fp32))
    assert {"/Cast", "/Div", "/Round", "/Clip"} <= io and not any(n.startswith("/generator/") for n in io)
    image = np.asarray(render_scene(7, 64, "A"), dtype=np.uint8)[None]
    run = [ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"image": image})[0]
           for m in (fp32, fp16)]
    mse = np.mean((run[0].astype(float) - run[1].astype(float)) ** 2)
    assert run[0].std() > 10 and 10 * np.log10(255 ** 2 / max(mse, 1e-12)) >= 45
    def weight_bytes(m):
        return sum(len(i.raw_data) for i in m.graph.initializer)
    assert weight_bytes(fp16) <= 0.51 * weight_bytes(fp32)
    assert took < 10


@needs_fp16
def test_onnx_exports_print_nothing_on_stderr(model, tmp_path, capfd):
    from pocketgan.export.exporter import export_model

    capfd.readouterr()
    for q in (None, "fp16"):
        export_model(model, "onnx", 64, q, out=tmp_path / f"{q}.onnx")
    err = capfd.readouterr().err
    assert err == "", err


@needs_fp16
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
