"""The training dataset: deterministic order, resumable mid-epoch, and robust to bad files."""
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pocketgan.data.images import DataError, ImageError
from pocketgan.data.synthetic import make_synthetic_dataset, render_scene
from pocketgan.data.transforms import Preprocess
from pocketgan.data.unpaired import EpochSampler, UnpairedImages
from pocketgan.summary import describe, format_summary
from pocketgan.training.run import train

PRE = Preprocess("resize_and_crop", 36, 32, True)


def messy_folder(root: Path) -> Path:
    """Good images in every awkward format, plus broken files."""
    root.mkdir(parents=True)
    rgb = render_scene(1, 48, "A")
    rgb.save(root / "ok.png")
    rgb.convert("CMYK").save(root / "cmyk.jpg")
    rgb.convert("P").save(root / "palette.png")
    rgb.convert("RGBA").save(root / "alpha.png")
    Image.fromarray(np.asarray(rgb.convert("L"), np.uint16) * 257).save(root / "gray16.png")
    exif = Image.Exif()
    exif[0x0112] = 6
    rgb.resize((48, 24)).save(root / "rotated.jpg", exif=exif)
    rgb.resize((20, 12)).save(root / "small.png")  # smaller than the crop
    (root / "empty.jpg").write_bytes(b"")
    (root / "readme.txt").write_text("not an image")
    full = root / "ok.png"
    (root / "truncated.png").write_bytes(full.read_bytes()[: len(full.read_bytes()) // 2])
    return root


def test_messy_folder_trains_with_warnings(tmp_path, toy_data, tiny_config):
    messy = messy_folder(tmp_path / "messy")
    ds = UnpairedImages(messy, toy_data / "trainB", PRE)
    lines = ds.warnings()
    assert any("empty.jpg" in w for w in lines) and any("1 non-image" in w for w in lines)
    assert len(ds.files["A"]) == 8  # everything but empty.jpg and readme.txt (truncated passes the header scan)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        items = [ds[(0, i)] for i in range(len(ds))]
    assert sum("truncated.png" in str(w.message) for w in caught) == 1  # reported once, replaced by the next file
    for item in items:
        assert item["A"].shape == (3, 32, 32) and item["A"].dtype == torch.float32
        assert item["A"].min() >= -1 and item["A"].max() <= 1
        assert not item["A_path"].endswith("truncated.png")
    summary = train(tiny_config(None, tmp_path / "runs", a=str(messy), b=str(toy_data / "trainB"), max_steps=3))
    assert summary["steps"] == 3


def test_order_is_a_function_of_seed_epoch_position(toy_data):
    a = UnpairedImages(toy_data / "trainA", toy_data / "trainB", PRE, seed=3)
    b = UnpairedImages(toy_data / "trainA", toy_data / "trainB", PRE, seed=3)
    assert torch.equal(a[(2, 5)]["A"], b[(2, 5)]["A"]) and a[(2, 5)]["B_path"] == b[(2, 5)]["B_path"]
    orders = [tuple(a.epoch_plan(e)[0]) for e in range(3)]
    assert len(set(orders)) == 3 and sorted(orders[0]) == list(range(8))  # each epoch a new permutation of A
    assert list(EpochSampler(8, epoch=4, start=6)) == [(4, 6), (4, 7)]


def test_folder_errors(tmp_path, toy_data):
    with pytest.raises(DataError, match="missing"):
        UnpairedImages(tmp_path / "missing", toy_data / "trainB", PRE)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty"):
        UnpairedImages(tmp_path / "empty", toy_data / "trainB", PRE)
    bad = tmp_path / "allbad"
    bad.mkdir()
    good = toy_data / "trainA" / "00000.png"
    for i in range(3):
        (bad / f"{i}.png").write_bytes(good.read_bytes()[:100])
    ds = UnpairedImages(bad, toy_data / "trainB", PRE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ImageError, match="none of the 3 images could be decoded"):
            ds[(0, 0)]


def test_synthetic_dataset_is_unpaired_for_training_and_paired_for_test(tmp_path):
    root = make_synthetic_dataset(tmp_path / "toy", size=32, n_train=5, n_test=3, seed=1)
    names = {d: sorted(p.name for p in (root / d).iterdir()) for d in ("trainA", "trainB", "testA", "testB")}
    assert not set(names["trainA"]) & set(names["trainB"])  # different scenes per domain
    assert names["testA"] == names["testB"] and len(names["testA"]) == 3
    a = np.asarray(Image.open(root / "testA" / names["testA"][0]), float)
    b = np.asarray(Image.open(root / "testB" / names["testB"][0]), float)
    ground_a, ground_b = a[-1].mean(axis=0), b[-1].mean(axis=0)  # bottom row: always ground
    assert ground_a[1] > ground_a[0] + 50 and ground_a[1] > ground_a[2] + 50  # summer: green grass
    assert ground_b.min() > 200  # winter: snow
    mtime = (root / "testA" / names["testA"][0]).stat().st_mtime_ns
    make_synthetic_dataset(tmp_path / "toy", size=32, n_train=5, n_test=3, seed=1)  # cached: no rewrite
    assert (root / "testA" / names["testA"][0]).stat().st_mtime_ns == mtime


def test_info_on_run_and_checkpoint(toy_data, tmp_path, tiny_config):
    run = Path(train(tiny_config(toy_data, tmp_path, max_steps=3))["run_dir"])
    for path in (run, run / "checkpoints" / "last.safetensors"):
        info = describe(path)
        assert {"G_A", "G_B", "D_A", "D_B"} <= set(info["networks"])
        assert info["training"]["steps"] == 3 and info["training"]["of_total_steps"] == 8
        text = format_summary(info)
        assert "resnet_6blocks" in text and "basic" in text and "3 of 8 steps" in text


def test_real_dataset_scan_and_a_few_steps(tmp_path, shared_dataset, tiny_config):
    ds = UnpairedImages(shared_dataset / "trainA", shared_dataset / "trainB", Preprocess("resize_and_crop", 72, 64, True))
    assert len(ds.files["A"]) == 1231 and len(ds.files["B"]) == 962 and len(ds) == 1231
    assert ds.scans["A"].sizes[0] == (256, 256)
    summary = train(tiny_config(shared_dataset, tmp_path, load_size=72, crop_size=64, max_steps=2))
    assert summary["steps"] == 2 and (Path(summary["run_dir"]) / "samples").is_dir()
