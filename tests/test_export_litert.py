"""LiteRT export: parity with PyTorch for fp32 / fp16 / int8, and clear errors for bad files and sizes.

Needs the optional export extra (litert-torch, ai-edge-litert); skipped without it. Each exported
file is converted once per module (conversion takes seconds); the models are tiny (ngf 4-8, 64 px).
"""
from __future__ import annotations

import copy
import sys

import numpy as np
import pytest
import torch

pytest.importorskip("litert_torch", reason="LiteRT export extra not installed (pip install 'pocketgan[export]')")
pytest.importorskip("ai_edge_litert.interpreter", reason="LiteRT runtime not installed (pip install 'pocketgan[export]')")

from pocketgan.data.synthetic import render_scene  # noqa: E402
from pocketgan.errors import MissingDependency  # noqa: E402
from pocketgan.export.litert import export_litert, require_litert  # noqa: E402
from pocketgan.export.prepare import prepare  # noqa: E402
from pocketgan.inference.runners import LiteRTRunner  # noqa: E402
from pocketgan.models import create_generator  # noqa: E402

SIZE = 64


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def max_abs(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


def scene(seed: int) -> np.ndarray:
    return np.array(render_scene(seed, SIZE, "A"), dtype=np.uint8)  # a writable, contiguous copy


def spread_output(g: torch.nn.Module) -> torch.nn.Module:
    """Rescale the last conv so each output channel (pre-tanh) has mean 0 and std 0.5 on a toy scene: random
    tiny nets otherwise often give a nearly constant image, which would make parity meaningless."""
    last = [m for m in g.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    seen = []
    hook = last.register_forward_hook(lambda module, args, out: seen.append(out))
    with torch.no_grad():
        g.eval()(torch.from_numpy(scene(99)).permute(2, 0, 1)[None].float() / 127.5 - 1)
        hook.remove()
        y = seen[0]
        scale = 0.5 / y.std(dim=(0, 2, 3)).clamp_min(1e-6)  # per output channel
        last.weight.mul_(scale[:, None, None, None])
        last.bias.copy_((last.bias - y.mean(dim=(0, 2, 3))) * scale)
    return g


def mobile_generator() -> torch.nn.Module:
    """mobile_resnet_6blocks, ngf 8, with non-trivial BatchNorm statistics (folded at export)."""
    torch.manual_seed(0)
    g = create_generator("mobile_resnet_6blocks", ngf=8, init_type="normal", init_gain=0.2)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in g.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.rand(n, generator=gen) - 0.5)
                m.running_var.copy_(0.5 + 1.5 * torch.rand(n, generator=gen))
                m.bias.copy_(0.4 * torch.rand(n, generator=gen) - 0.2)
    return spread_output(g)


def resnet_generator() -> torch.nn.Module:
    torch.manual_seed(0)
    return spread_output(create_generator("resnet_6blocks", ngf=4, init_type="normal", init_gain=0.05))


def reference(generator: torch.nn.Module, image: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return prepare(generator, image_io=True, subpixel=False)(torch.from_numpy(image[None].copy())).numpy()


@pytest.fixture(scope="module")
def outdir(tmp_path_factory):
    return tmp_path_factory.mktemp("litert")


@pytest.fixture(scope="module")
def test_image() -> np.ndarray:
    return scene(100)  # not among the calibration scenes


@pytest.fixture(scope="module")
def mobile():
    return mobile_generator()


@pytest.fixture(scope="module")
def mobile_fp32(mobile, outdir):
    before = copy.deepcopy(mobile.state_dict())
    path = outdir / "mobile_fp32.tflite"
    export_litert(mobile, path, SIZE)
    after = mobile.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before), "export changed the generator"
    return path


@pytest.fixture(scope="module")
def mobile_fp16(mobile, outdir):
    path = outdir / "mobile_fp16.tflite"
    export_litert(mobile, path, SIZE, quantize="fp16")
    return path


@pytest.fixture(scope="module")
def mobile_int8_dynamic(mobile, outdir):
    path = outdir / "mobile_int8_dynamic.tflite"
    export_litert(mobile, path, SIZE, quantize="int8")
    return path


@pytest.fixture(scope="module")
def mobile_int8_static(mobile, outdir):
    path = outdir / "mobile_int8_static.tflite"
    export_litert(mobile, path, SIZE, quantize="int8", calibration=[scene(s) for s in range(8)])
    return path


def check_parity(label: str, path, generator, image) -> tuple[float, int]:
    runner = LiteRTRunner(path)
    assert runner.input_size == (SIZE, SIZE)
    got = runner(image[None])
    expected = reference(generator, image)
    assert got.dtype == np.uint8 and got.shape == (1, SIZE, SIZE, 3)
    assert expected.std() > 20, "test model output is nearly constant; parity would mean little"
    p, m = psnr(got, expected), max_abs(got, expected)
    print(f"\n[litert] {label}: PSNR {p:.2f} dB, max abs error {m}, {path.stat().st_size} bytes")
    return p, m


def test_mobile_fp32_matches_pytorch(mobile, mobile_fp32, test_image):
    p, _ = check_parity("mobile_resnet_6blocks fp32", mobile_fp32, mobile, test_image)
    assert p >= 40


def test_resnet_with_transposed_convs_exports_and_matches(outdir, test_image):
    g = resnet_generator()
    assert any(isinstance(m, torch.nn.ConvTranspose2d) for m in g.modules())  # rewritten by prepare(subpixel=True)
    path = outdir / "resnet_fp32.tflite"
    export_litert(g, path, SIZE)
    p, _ = check_parity("resnet_6blocks fp32", path, g, test_image)
    assert p >= 40


def test_fp16_close_and_smaller(mobile, mobile_fp32, mobile_fp16, test_image):
    p, _ = check_parity("mobile_resnet_6blocks fp16", mobile_fp16, mobile, test_image)
    assert p >= 35
    assert mobile_fp16.stat().st_size < mobile_fp32.stat().st_size


def test_int8_dynamic_range_runs(mobile, mobile_fp32, mobile_int8_dynamic, test_image):
    p, _ = check_parity("mobile_resnet_6blocks int8 dynamic-range", mobile_int8_dynamic, mobile, test_image)
    assert p > 15
    assert mobile_int8_dynamic.stat().st_size < mobile_fp32.stat().st_size


def test_int8_full_integer_with_calibration_runs(mobile, mobile_int8_static, test_image):
    p, _ = check_parity("mobile_resnet_6blocks int8 full-integer (calibrated)", mobile_int8_static, mobile, test_image)
    assert p > 15
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_path=str(mobile_int8_static))
    interpreter.allocate_tensors()
    conv_inputs = [interpreter.get_tensor_details()[op["inputs"][0]]["dtype"]
                   for op in interpreter._get_ops_details() if op["op_name"] == "CONV_2D"]
    assert conv_inputs and all(dtype == np.int8 for dtype in conv_inputs)  # convs compute in int8


def test_exports_are_atomic(mobile_fp32, outdir):
    assert not [p.name for p in outdir.iterdir() if p.name.startswith(".")]  # no temp files left behind


def test_corrupt_file_is_a_clear_error(mobile_fp32, tmp_path):
    data = mobile_fp32.read_bytes()
    for name, content in [("truncated.tflite", data[: len(data) // 2]), ("short.tflite", data[:100]), ("empty.tflite", b"")]:
        bad = tmp_path / name
        bad.write_bytes(content)
        with pytest.raises(ValueError, match=name):
            LiteRTRunner(bad)
    with pytest.raises(ValueError, match="missing.tflite"):
        LiteRTRunner(tmp_path / "missing.tflite")


def test_runner_rejects_wrong_input(mobile_fp32):
    runner = LiteRTRunner(mobile_fp32)
    with pytest.raises(ValueError, match="64, 64, 3"):
        runner(np.zeros((1, 32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        runner(np.zeros((1, SIZE, SIZE, 3), np.float32))


def test_size_not_multiple_of_4(tmp_path):
    path = tmp_path / "g.tflite"
    with pytest.raises(ValueError, match="30"):
        export_litert(mobile_generator(), path, 30)
    assert not path.exists()


def test_bad_arguments(tmp_path):
    g = mobile_generator()
    with pytest.raises(ValueError, match="int4"):
        export_litert(g, tmp_path / "g.tflite", SIZE, quantize="int4")
    with pytest.raises(ValueError, match="calibration image 0"):
        export_litert(g, tmp_path / "g.tflite", SIZE, quantize="int8", calibration=[np.zeros((32, 32, 3), np.uint8)])
    with pytest.raises(ValueError, match="only used by quantize='int8'"):
        export_litert(g, tmp_path / "g.tflite", SIZE, quantize="fp16", calibration=[scene(0)])
    assert not list(tmp_path.iterdir())


def test_require_litert_hint(monkeypatch):
    require_litert()
    monkeypatch.setitem(sys.modules, "litert_torch", None)  # makes `import litert_torch` fail
    with pytest.raises(MissingDependency, match=r"pip install 'pocketgan\[export\]'"):
        require_litert()
