"""Full-resolution results for residual generators (issue 18, item 3): a photo larger than the
working size gets the predicted change upsampled and added to it, keeping its own detail; other
generators keep upscaling their result."""
from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

from pocketgan.cli import main
from pocketgan.data.tensors import to_image, to_tensor
from pocketgan.inference import fullres
from pocketgan.inference.pipeline import TranslationPipeline
from pocketgan.models import create_generator
from pocketgan.models.pretrained import save_pretrained


def plain_generator(seed: int = 1) -> torch.nn.Module:
    torch.manual_seed(seed)
    g = create_generator("mobile_resnet_6blocks", ngf=4)
    with torch.no_grad():
        for m in g.modules():
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.normal_(m.weight, 0.0, 1.2 / m.weight[0].numel() ** 0.5)
    return g.eval()


def detailed_photo(size=(512, 384), seed=0) -> Image.Image:
    """Smooth colour gradients with fine detail on top (1-2 px texture), as a sharp photo has."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 200 / w + 30, yy * 200 / h + 30, 120 + 60 * np.sin(xx / 40.0)], -1)
    texture = 25 * ((xx // 2 + yy // 2) % 2)[..., None] + rng.normal(0, 12, (h, w, 3))
    return Image.fromarray(np.clip(base + texture, 0, 255).astype(np.uint8))


def high_pass(image: Image.Image) -> np.ndarray:
    a = np.asarray(image, np.float64)
    return a - np.asarray(image.filter(ImageFilter.GaussianBlur(2)), np.float64)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return 10 * math.log10(255.0 ** 2 / np.mean((a - b) ** 2))


@pytest.fixture(scope="module")
def residual(expressive_generator):
    return expressive_generator(0, residual=True)


def test_residual_full_res_keeps_the_photos_detail(residual):
    photo = detailed_photo()
    full = TranslationPipeline(residual, max_side=128)(photo)
    upscaled = TranslationPipeline(residual, max_side=128, full_res=False)(photo)
    assert full.size == photo.size == upscaled.size == (512, 384)
    detail_full, detail_upscaled = psnr(high_pass(full), high_pass(photo)), psnr(high_pass(upscaled), high_pass(photo))
    assert detail_full > detail_upscaled + 10, (detail_full, detail_upscaled)
    # and it is still the model's change: close to the upscaled result once both are blurred
    blur = ImageFilter.GaussianBlur(4)
    smooth_gap = np.abs(np.asarray(full.filter(blur), float) - np.asarray(upscaled.filter(blur), float)).mean()
    change = np.abs(np.asarray(upscaled.filter(blur), float) - np.asarray(photo.filter(blur), float)).mean()
    assert smooth_gap < 0.35 * change, (smooth_gap, change)


def test_full_res_strength_scales_the_change(residual):
    photo = detailed_photo((160, 120), seed=1)
    pipe = TranslationPipeline(residual, max_side=64)
    assert np.array_equal(np.asarray(pipe(photo, strength=0.0)), np.asarray(photo))
    moved = [np.abs(np.asarray(pipe(photo, strength=s), float) - np.asarray(photo, float)).mean()
             for s in (0.5, 1.0, 1.5)]
    assert moved[0] < moved[1] < moved[2]
    assert moved[0] == pytest.approx(moved[1] / 2, rel=0.15)


def test_at_the_working_size_nothing_changes(residual):
    """Photos that fit max_side are translated exactly as before: the plain forward pass."""
    photo = detailed_photo((64, 48), seed=2)
    pipe = TranslationPipeline(residual, max_side=64)
    x = to_tensor(photo)[None]
    with torch.no_grad():
        expected = to_image(residual(x)[0])
    assert np.array_equal(np.asarray(pipe(photo)), np.asarray(expected))
    # and in a batch mixed with a larger photo of the same working size
    big = photo.resize((128, 96))
    small_out, _ = pipe([photo, big])
    assert np.array_equal(np.asarray(small_out), np.asarray(expected))


def test_one_rule_says_which_generators_predict_a_change(expressive_generator):
    from pocketgan.models import create_generator
    from pocketgan.models.config import predicts_change

    assert predicts_change(expressive_generator(0, residual=True).config)
    assert not predicts_change(expressive_generator(0).config)  # a mobile generator with its own Tanh
    assert not predicts_change(create_generator("resnet_6blocks", ngf=4).config)
    assert not predicts_change({"name": "resnet_6blocks", "residual": True})  # only the mobile family has the option
    assert TranslationPipeline(expressive_generator(0, residual=True)).scales_change
    assert not TranslationPipeline(create_generator("resnet_6blocks", ngf=4)).scales_change


def test_non_residual_generators_keep_upscaling_the_result():
    g = plain_generator()
    photo = detailed_photo((160, 120), seed=3)
    pipe = TranslationPipeline(g, max_side=64)
    assert not pipe.applies_change_at_full_size
    x = to_tensor(photo.resize((64, 48), Image.BICUBIC))[None]
    with torch.no_grad():
        expected = to_image(g(x)[0]).resize((160, 120), Image.BICUBIC)
    assert np.array_equal(np.asarray(pipe(photo)), np.asarray(expected))
    assert np.array_equal(np.asarray(pipe(photo)), np.asarray(TranslationPipeline(g, max_side=64, full_res=False)(photo)))


def test_apply_change_bands_and_constant_changes(monkeypatch):
    photo = detailed_photo((70, 50), seed=4)
    small = torch.rand(3, 13, 17) * 2 - 1
    change = torch.rand(3, 13, 17) * 0.4 - 0.2
    for edge_aware in (False, True):
        whole = np.asarray(fullres.apply_change(photo, small, change, 1.0, edge_aware))
        monkeypatch.setattr(fullres, "BAND_PIXELS", 70 * 3)  # bands of 3 rows
        banded = np.asarray(fullres.apply_change(photo, small, change, 1.0, edge_aware))
        monkeypatch.undo()
        assert np.array_equal(whole, banded)
    # a uniform change is added as it is, edge-aware or not (the guided filter fits it with a = 0)
    flat = torch.full((3, 13, 17), 0.1)
    for edge_aware in (False, True):
        out = np.asarray(fullres.apply_change(photo, small, flat, 1.0, edge_aware), float)
        assert np.abs(out - np.clip(np.asarray(photo, float) + 12.75, 0, 255)).max() <= 1


def test_translate_cli_full_res_exif_and_jpeg(residual, tmp_path, expressive_generator):
    """`pocketgan translate` at --max-size: full size out, EXIF orientation applied, PNG or JPEG."""
    model = save_pretrained(tmp_path / "model", {"G_A": residual, "G_B": expressive_generator(1, residual=True)})
    upright = detailed_photo((96, 128), seed=5)
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # EXIF 6 = turn 90° clockwise to display
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(tmp_path / "phone.jpg", quality=95, exif=exif)
    for fmt in ("png", "jpg"):
        assert main(["translate", str(tmp_path / "phone.jpg"), "--model", str(model), "--max-size", "32",
                     "--format", fmt, "--out", str(tmp_path / fmt), "--no-progress", "--device", "cpu"]) == 0
        out = Image.open(tmp_path / fmt / f"phone.{fmt}")
        assert out.size == (96, 128) and out.format == ("PNG" if fmt == "png" else "JPEG")
    decoded = Image.open(tmp_path / "phone.jpg")
    decoded = decoded.transpose(Image.Transpose.ROTATE_270).convert("RGB")
    expected = TranslationPipeline(residual, max_side=32)(decoded)
    assert np.abs(np.asarray(Image.open(tmp_path / "png" / "phone.png"), float) - np.asarray(expected, float)).max() <= 1


def test_api_returns_the_full_resolution_result(residual, tmp_path, expressive_generator):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from pocketgan.app.server import create_app

    model = save_pretrained(tmp_path / "model", {"G_A": residual, "G_B": expressive_generator(1, residual=True)})
    photo = detailed_photo((200, 150), seed=6)  # a JPEG over twice max_side: decoded whole, not reduced
    buf = io.BytesIO()
    photo.save(buf, "JPEG", quality=95)
    data = buf.getvalue()
    with TestClient(create_app(model, max_side=48, workers=1)) as client:
        r = client.post("/api/translate?direction=AtoB&strength=0.7", files={"image": ("p.jpg", data, "image/jpeg")})
        card = client.get("/api/model").json()
    assert card["predicts_change"] == {"AtoB": True, "BtoA": True}  # what the page asks (model.js predictsChange)
    assert r.status_code == 200, r.text
    assert (r.headers["x-original-size"], r.headers["x-processed-size"]) == ("200x150", "48x36")
    out = Image.open(io.BytesIO(r.content)).convert("RGB")
    expected = TranslationPipeline.from_pretrained(model, "AtoB", device="cpu", max_side=48)(
        Image.open(io.BytesIO(data)).convert("RGB"), strength=0.7)
    assert out.size == (200, 150)
    assert np.array_equal(np.asarray(out), np.asarray(expected))


def test_guided_filter_follows_edges():
    """The edge-aware upsampling puts a change that differs across an edge on the full-size edge."""
    w = 64
    photo = Image.fromarray(np.repeat(np.where(np.arange(w) < 37, 40, 220).astype(np.uint8)[None, :, None], 32, 0)
                            .repeat(3, 2))
    small_photo = photo.resize((16, 8), Image.BICUBIC)
    small = torch.from_numpy(np.asarray(small_photo, np.float32)).permute(2, 0, 1) / 127.5 - 1
    change = torch.where(small.mean(0, keepdim=True) < 0, 0.2, -0.2).expand(3, -1, -1).contiguous()
    row = np.asarray(photo, float)[16, :, 0]
    plain = np.asarray(fullres.apply_change(photo, small, change, edge_aware=False), float)[16, :, 0] - row
    guided = np.asarray(fullres.apply_change(photo, small, change, edge_aware=True), float)[16, :, 0] - row
    target = np.where(np.arange(w) < 37, 25.5, -25.5)
    assert np.array_equal(np.sign(guided), np.sign(target))  # switches exactly at the full-size edge
    assert np.abs(guided - target).max() < 0.5 * np.abs(plain - target).max()  # bilinear smears it over pixels
