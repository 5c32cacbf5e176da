"""The strength control (issue 16): 0 = the input, 1 = the model as trained, up to 1.5. A residual
mobile generator scales its predicted change; other generators and exported files are blended."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pocketgan.cli import main
from pocketgan.data.tensors import to_image, to_tensor
from pocketgan.errors import OptionError
from pocketgan.inference.pipeline import TranslationPipeline
from pocketgan.inference.strength import check_strength
from pocketgan.models.pretrained import save_pretrained

STRENGTHS = (0.0, 0.5, 1.0, 1.5)


def photo(size=(48, 40), seed=0) -> Image.Image:
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / (w - 1), yy * 255 / (h - 1), np.full((h, w), 100.0)], -1)
    return Image.fromarray(np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8))


def change(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).mean())


@pytest.fixture(scope="module")
def residual(expressive_generator):
    return expressive_generator(0, residual=True)


@pytest.fixture(scope="module")
def plain(expressive_generator):
    return expressive_generator(3)


@pytest.fixture(scope="module")
def model(tmp_path_factory, residual, plain) -> Path:
    """G_A: the residual generator (change scaled); G_B: a non-residual one (blended)."""
    return save_pretrained(tmp_path_factory.mktemp("strength") / "model", {"G_A": residual, "G_B": plain})


def test_residual_forward_at_strength_1_is_the_plain_forward_and_scales_the_change(residual):
    x = to_tensor(photo()).unsqueeze(0)
    with torch.no_grad():
        plain_out = residual(x)
        assert torch.equal(residual(x, strength=1.0), plain_out)
        delta = residual(x, layers=[residual.nce_layer_count() - 1])[0]  # the predicted change itself
        assert torch.equal(plain_out, torch.clamp(x + delta, -1, 1))
        assert delta.abs().mean() > 0.05  # not the identity
        for s in STRENGTHS:
            torch.testing.assert_close(residual(x, strength=s), torch.clamp(x + s * delta, -1, 1))
        assert torch.equal(residual(x, strength=0.0), x)


def test_a_non_residual_generator_refuses_to_scale_a_change(plain):
    with pytest.raises(OptionError, match="residual"):
        plain(torch.zeros(1, 3, 16, 16), strength=0.5)


@pytest.mark.parametrize("which", ["residual", "plain"])
def test_strength_1_is_bit_identical_to_the_plain_pipeline(which, request):
    g = request.getfixturevalue(which)
    images = [photo(seed=1), photo((37, 29), seed=2)]
    with torch.no_grad():  # what the pipeline computed before strength existed
        reference = [to_image(g(torch.nn.functional.pad(to_tensor(im).unsqueeze(0),
                                                        (0, -im.width % 4, 0, -im.height % 4), mode="reflect"))[0]
                              [:, :im.height, :im.width]) for im in images]
    default, explicit = TranslationPipeline(g), TranslationPipeline(g, strength=1.0)
    for outs in (default(images), explicit(images), default(images, strength=1.0), default(images, strength=1)):
        for out, ref in zip(outs, reference, strict=True):
            assert np.array_equal(np.asarray(out), np.asarray(ref))


@pytest.mark.parametrize("which", ["residual", "plain"])
def test_strength_0_returns_the_input(which, request):
    pipe = TranslationPipeline(request.getfixturevalue(which))
    for im in (photo(), photo((37, 29), seed=4)):
        out = np.asarray(pipe(im, strength=0), np.int16)
        assert np.abs(out - np.asarray(im, np.int16)).max() <= 1  # uint8 rounding at most


def test_residual_change_grows_with_strength(residual):
    pipe = TranslationPipeline(residual)
    assert pipe.scales_change
    im = photo(seed=5)
    changes = [change(pipe(im, strength=s), im) for s in STRENGTHS]
    assert changes[0] < 0.5 < changes[1] < changes[2] < changes[3], changes
    # scaling the change is not the blend: at 1.5 a residual model extrapolates its change, clamped
    assert changes[3] > 1.2 * changes[2]


def test_other_generators_blend_with_the_input(plain):
    pipe = TranslationPipeline(plain)
    assert not pipe.scales_change
    im = photo(seed=6)
    x = to_tensor(im).unsqueeze(0)
    with torch.no_grad():
        y = plain(x)
    changes = []
    for s in STRENGTHS:
        expected = np.asarray(to_image(torch.clamp(x + s * (y - x), -1, 1)[0]))
        out = pipe(im, strength=s)
        assert np.array_equal(np.asarray(out), expected), s
        changes.append(change(out, im))
    assert changes[0] < 0.5 < changes[1] < changes[2] < changes[3], changes


def test_pipeline_default_strength_and_bad_values(model, residual):
    im = photo(seed=7)
    half = TranslationPipeline.from_pretrained(model, "AtoB", device="cpu", strength=0.5)
    assert np.array_equal(np.asarray(half(im)), np.asarray(TranslationPipeline(residual)(im, strength=0.5)))
    assert np.array_equal(np.asarray(half(im, strength=1)), np.asarray(TranslationPipeline(residual)(im)))
    for bad in (-0.1, 1.51, float("nan"), float("inf"), "x", True, None):
        with pytest.raises(OptionError, match="strength"):
            check_strength(bad)
    with pytest.raises(OptionError, match="strength must be a number between 0 and 1.5"):
        TranslationPipeline.from_pretrained(model, "AtoB", device="cpu", strength=2)
    with pytest.raises(OptionError, match="strength"):
        half.translate_many([im], strength=-1)  # checked at the call, not at the first image
    assert check_strength("1.5") == 1.5 and check_strength(0) == 0.0


def test_exported_onnx_blends_its_uint8_output(model, residual, tmp_path):
    """For a residual model exported to ONNX the blend equals scaling the change wherever the model's
    clamp did not cut the change off (up to uint8 rounding)."""
    pytest.importorskip("onnxruntime")
    from pocketgan.export.exporter import export_model

    path, _card = export_model(model, "onnx", 32, None, "AtoB", tmp_path / "g.onnx")
    exported = TranslationPipeline.from_pretrained(path, device="cpu")
    torch_pipe = TranslationPipeline(residual)
    im = photo(seed=8)
    x = to_tensor(im).unsqueeze(0)
    with torch.no_grad():
        unclamped = x + residual(x, layers=[residual.nce_layer_count() - 1])[0]
    inside = (unclamped.abs() < 0.99)[0].permute(1, 2, 0).numpy()  # pixels the model's clamp left alone
    assert inside.mean() > 0.5
    for s in (0.0, 0.5, 1.5):
        got = np.asarray(exported(im, strength=s), np.int16)
        want = np.asarray(torch_pipe(im, strength=s), np.int16)
        assert np.abs(got - want)[inside].max() <= 2, s
    assert change(exported(im, strength=0), im) == 0


@pytest.mark.parametrize("command", ["translate", "serve"])
@pytest.mark.parametrize("value", ["2", "-0.5", "1.6", "nan", "inf", "abc"])
def test_cli_refuses_bad_strength_in_one_line(command, value, capsys, tmp_path):
    argv = [command, "--strength", value] + ([str(tmp_path / "x.png")] if command == "translate" else [])
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert "argument --strength" in last and value in last and "Traceback" not in err, err


def test_translate_strength_end_to_end(model, tmp_path, residual, plain):
    src = tmp_path / "in" / "p.png"
    src.parent.mkdir()
    im = photo((45, 31), seed=9)
    im.save(src)
    for direction, g in (("AtoB", residual), ("BtoA", plain)):
        for s in ("0.5", "1"):
            out = tmp_path / f"{direction}-{s}"
            assert main(["translate", str(src), "--model", str(model), "--direction", direction, "--strength", s,
                         "--out", str(out), "--no-progress"]) == 0
            got = np.asarray(Image.open(out / "p.png"))
            assert np.array_equal(got, np.asarray(TranslationPipeline(g)(im, strength=float(s))))
        half, full = (np.asarray(Image.open(tmp_path / f"{direction}-{s}" / "p.png"), np.float64) for s in ("0.5", "1"))
        assert 0 < np.abs(half - np.asarray(im)).mean() < np.abs(full - np.asarray(im)).mean()


def test_api_strength_parameter(model):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from pocketgan.app.server import create_app

    with pytest.raises(OptionError, match="strength"):
        create_app(model, strength=1.7)
    im = photo((36, 28), seed=10)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    files = {"image": ("p.png", buf.getvalue(), "image/png")}
    app = create_app(model, max_side=64, workers=1, strength=0.5)
    with TestClient(app) as client:
        assert client.get("/api/model").json()["strength"] == 0.5

        def post(params=None, data=None):
            r = client.post("/api/translate", params=params, data=data, files=files)
            return r, (np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB")) if r.status_code == 200 else None)

        pipe = TranslationPipeline.from_pretrained(model, "AtoB", device="cpu", max_side=64)
        r, default = post()
        assert r.status_code == 200 and r.headers["X-Strength"] == "0.5"
        assert np.array_equal(default, np.asarray(pipe(im, strength=0.5)))
        r, zero = post(params={"strength": "0"})
        assert r.status_code == 200 and np.abs(zero.astype(int) - np.asarray(im, int)).max() <= 1
        r, strong = post(data={"strength": "1.5"})
        assert r.status_code == 200 and np.array_equal(strong, np.asarray(pipe(im, strength=1.5)))
        for params, data in (({"strength": "2"}, None), ({"strength": "abc"}, None), ({"strength": "nan"}, None),
                             (None, {"strength": "-1"}), (None, {"strength": ""}),
                             ({"strength": "1"}, {"strength": "1"})):
            r, _ = post(params, data)
            assert r.status_code == 422, (params, data, r.text)
            message = r.json()["error"]
            assert "strength" in message and "\n" not in message
