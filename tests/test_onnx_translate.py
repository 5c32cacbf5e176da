"""The ONNX engine of `pocketgan translate`: the same pixels as the PyTorch path (within 1/255),
exports made once and reused, bundled models served by their shipped files, and no torch import."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pocketgan.data.images import load_image
from pocketgan.errors import OptionError
from pocketgan.home import pocketgan_home
from pocketgan.inference import onnx_cache
from pocketgan.inference.engines import choose_engine, open_pipeline
from pocketgan.inference.onnx_pipeline import OnnxTranslationPipeline
from pocketgan.models import zoo
from pocketgan.models.pretrained import save_pretrained

pytest.importorskip("onnx")
REPO = Path(__file__).resolve().parent.parent


def _noise_photo(size: tuple[int, int], seed: int) -> Image.Image:
    """A smooth random picture (so resizing means something) with some sharp detail."""
    rng = np.random.default_rng(seed)
    w, h = size
    coarse = Image.fromarray(rng.integers(0, 256, (h // 10 + 2, w // 10 + 2, 3), dtype=np.uint8)).resize(size, Image.BICUBIC)
    arr = np.asarray(coarse).copy()
    arr[::7] = 255 - arr[::7]
    return Image.fromarray(arr)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, Path]:
    """An EXIF-rotated JPEG larger than max_side (stored 300x200, orientation 6: shown 200x300) and
    a small PNG whose sides are not multiples of 4 (padding, no resizing)."""
    root = tmp_path_factory.mktemp("photos")
    exif = Image.Exif()
    exif[0x0112] = 6
    _noise_photo((300, 200), 1).save(root / "rotated.jpg", exif=exif.tobytes(), quality=92)
    _noise_photo((62, 45), 2).save(root / "small.png")
    return {"rotated": root / "rotated.jpg", "small": root / "small.png"}


@pytest.fixture(scope="module")
def models(tmp_path_factory, expressive_generator) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {kind: save_pretrained(root / kind, {"G_A": expressive_generator(7, residual=kind == "residual")})
            for kind in ("plain", "residual")}


def _pixels(pipe, path: Path, strength: float) -> np.ndarray:
    return np.asarray(pipe(load_image(path), strength=strength), dtype=int)


@pytest.mark.parametrize("kind", ["plain", "residual"])
def test_same_pixels_as_pytorch(models, photos, kind):
    torch_pipe = open_pipeline(str(models[kind]), engine="torch", device="cpu", max_side=128)
    onnx_pipe = open_pipeline(str(models[kind]), engine="onnx", max_side=128)
    assert isinstance(onnx_pipe, OnnxTranslationPipeline) and onnx_pipe.residual == (kind == "residual")
    for name, path in photos.items():
        for strength in (0.5, 1.0, 1.5):
            want, got = _pixels(torch_pipe, path, strength), _pixels(onnx_pipe, path, strength)
            assert got.shape == want.shape == ((300, 200, 3) if name == "rotated" else (45, 62, 3))
            assert np.abs(got - want).max() <= 1, (name, strength)
            if strength != 1.0:  # the strength really changes the result
                assert np.abs(got - _pixels(onnx_pipe, path, 1.0)).max() > 2


def test_bundled_model_runs_its_shipped_files(photos, tmp_path):
    onnx_pipe = open_pipeline(None, "BtoA", max_side=128)
    assert onnx_pipe.path == zoo.BUNDLED_DIR / "summer2winter" / "G_B_256.float.onnx"
    assert not (pocketgan_home() / "exports").exists()  # nothing exported, nothing written
    torch_pipe = open_pipeline(None, "BtoA", engine="torch", device="cpu", max_side=128)
    for strength in (1.0, 1.5):
        assert np.abs(_pixels(onnx_pipe, photos["rotated"], strength)
                      - _pixels(torch_pipe, photos["rotated"], strength)).max() <= 1


def test_exports_are_cached_and_renewed(expressive_generator, monkeypatch, tmp_path):
    model = save_pretrained(tmp_path / "m", {"G_A": expressive_generator(3, residual=True)})
    open_pipeline(str(model))  # exports once
    export = model / "export" / "G_A_256.onnx"
    assert export.is_file() and (model / "export" / "G_A_256.float.onnx").is_file()
    import pocketgan.export.exporter as exporter

    made = []
    real = exporter.export_model
    monkeypatch.setattr(exporter, "export_model", lambda *a, **k: made.append(a) or real(*a, **k))
    open_pipeline(str(model))
    assert made == []  # reused
    os.utime(model / "G_A.safetensors", (export.stat().st_mtime + 10,) * 2)  # newer weights
    open_pipeline(str(model))
    assert len(made) == 1


def test_resolving_models_imports_no_torch(models):
    """The zoo's lookups are the ONNX path's own: resolving every kind of spec, reading configs and
    finding export folders imports no torch (one rule, no torch-free copies)."""
    onnx_file = zoo.BUNDLED_DIR / "summer2winter" / "G_A_256.onnx"
    code = ("import sys; from pocketgan.models import zoo; from pocketgan.inference import onnx_cache, engines\n"
            f"for spec in (None, 'summer2winter', {str(models['plain'])!r}, {str(onnx_file)!r}):\n"
            "    path = zoo.resolve_model(spec); zoo.export_dir(path); onnx_cache.read_config(path)\n"
            "print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False", done.stderr


def test_engine_choice():
    assert choose_engine(None, "auto") == choose_engine("onnx", "cpu") == "onnx"
    assert choose_engine(None, "cuda") == choose_engine("torch", "cpu") == choose_engine(None, "mps") == "torch"
    with pytest.raises(OptionError, match="--engine onnx runs on the CPU"):
        choose_engine("onnx", "cuda:0")


def test_shipped_cards_match_their_files():
    folder = zoo.BUNDLED_DIR / "summer2winter"
    config = json.loads((folder / "config.json").read_text())
    for direction, slot in (("AtoB", "G_A"), ("BtoA", "G_B")):
        shipped = onnx_cache.shipped_export(folder, slot, direction, config["generators"][slot])
        assert shipped is not None and shipped[1]["parity_vs_pytorch"]["max_abs_error"] == 0
        assert onnx_cache.change_graph(*shipped) == folder / f"{slot}_256.float.onnx"


def test_cli_translates_a_photo_without_importing_torch(photos, tmp_path):
    code = ("import sys\nfrom pocketgan.cli import main\n"
            f"rc = main(['translate', {str(photos['rotated'])!r}, '--out', {str(tmp_path / 'out')!r}, '--no-progress', "
            "'--max-size', '128', '--strength', '1.2'])\n"
            "print('RESULT', rc, 'torch' in sys.modules, 'onnxruntime' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert "RESULT 0 False True" in run.stdout, run.stdout + run.stderr
    assert Image.open(tmp_path / "out" / "rotated.png").size == (200, 300)
