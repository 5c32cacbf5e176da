import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pocketgan.cli import main
from pocketgan.data.images import DataError, load_image
from pocketgan.data.inputs import scan_folder
from pocketgan.data.paired import PairedImages, make_aligned, scan_pairs
from pocketgan.data.synthetic import make_synthetic_dataset
from pocketgan.data.transforms import Preprocess
from pocketgan.evaluation.metrics import psnr
from pocketgan.inference.pipeline import TranslationPipeline
from pocketgan.models import create_discriminator, create_generator
from pocketgan.models.pretrained import build_generator, load_generator, read_model_config
from pocketgan.training.checkpoint import load_checkpoint
from pocketgan.training.config import config_for
from pocketgan.training.run import CHECKPOINT, resume, train


@pytest.fixture(scope="module")
def paired_toy(tmp_path_factory) -> Path:
    """Toy seasons with paired training scenes (trainA/x.png and trainB/x.png are the same scene)."""
    return make_synthetic_dataset(tmp_path_factory.mktemp("paired") / "toy", size=32, n_train=16, n_test=4, paired=True)


def p2p_config(data, runs, **kw):
    base = dict(data=str(data), runs_dir=str(runs), name="p", netG="resnet_6blocks", ngf=8, ndf=8, load_size=36,
                crop_size=32, batch_size=2, n_epochs=1, n_epochs_decay=1, log_every=2, sample_every=0,
                checkpoint_every=0, progress=False, workers=0)
    base.update(kw)
    return config_for("pix2pix", **base)


def test_pix2pix_defaults_are_the_papers():
    cfg = config_for("pix2pix", data="x")
    assert (cfg.netG, cfg.g_norm, cfg.d_norm, cfg.use_dropout, cfg.gan_mode, cfg.options.lambda_L1, cfg.pool_size) == \
        ("unet_256", "batch", "batch", True, "vanilla", 100.0, 0)
    g = create_generator(cfg.netG, ngf=64, norm="batch", use_dropout=True)
    assert sum(p.numel() for p in g.parameters()) == 54_413_955  # the reference's pix2pix G
    d = create_discriminator("basic", in_channels=6, norm="batch")
    assert d(torch.zeros(1, 6, 256, 256)).shape == (1, 1, 30, 30)  # conditional 70x70 PatchGAN
    assert config_for("pix2pix", data="x", netG="resnet_9blocks").netG == "resnet_9blocks"  # explicit wins


def test_both_layouts_give_the_same_pairs(paired_toy, tmp_path):
    make_aligned(paired_toy / "trainA", paired_toy / "trainB", tmp_path / "aligned", progress=False)
    pre = Preprocess("resize_and_crop", 40, 32, True)
    matched = PairedImages(scan_pairs(paired_toy, "train"), pre, seed=3)
    aligned = PairedImages(scan_pairs(tmp_path / "aligned", "train"), pre, seed=3)
    assert len(matched) == len(aligned) == 16
    for pos in range(4):
        x, y = matched[(1, pos)], aligned[(1, pos)]
        assert torch.equal(x["A"], y["A"]) and torch.equal(x["B"], y["B"])  # same pairs, same crops, same flips


def test_crop_and_flip_are_shared_by_both_halves(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)
    (tmp_path / "train").mkdir()
    Image.fromarray(np.concatenate([a, a], 1)).save(tmp_path / "train" / "x.png")  # B == A
    data = PairedImages(scan_pairs(tmp_path, "train"), Preprocess("crop", 48, 32, True), seed=0)
    for epoch in range(6):
        item = data[(epoch, 0)]
        assert torch.equal(item["A"], item["B"])


def test_pairing_errors(tmp_path):
    (tmp_path / "A").mkdir(), (tmp_path / "B").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "A" / "x.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "B" / "y.png")
    with pytest.raises(DataError, match=r"do not pair up by file name: 1 only in .*A \(e.g. x\); 1 only in .*B \(e.g. y\)"):
        make_aligned(tmp_path / "A", tmp_path / "B", tmp_path / "out")
    Image.new("RGB", (8, 6)).save(tmp_path / "A" / "y.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "B" / "x.png")
    with pytest.raises(DataError, match=r"1 of 2 pairs cannot be combined, e.g. .*y.png .*sizes differ \(8x6 vs 8x8\)"):
        make_aligned(tmp_path / "A", tmp_path / "B", tmp_path / "out")
    (tmp_path / "B" / "y.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"y.png is unreadable"):
        make_aligned(tmp_path / "A", tmp_path / "B", tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing written


def test_aligned_odd_width_and_bad_files_are_skipped(tmp_path):
    (tmp_path / "train").mkdir()
    Image.new("RGB", (64, 32), (9, 9, 9)).save(tmp_path / "train" / "good.png")
    Image.new("RGB", (63, 32)).save(tmp_path / "train" / "odd.png")
    (tmp_path / "train" / "broken.png").write_bytes(b"\x89PNG garbage")
    (tmp_path / "train" / "notes.txt").write_text("hi")
    scan = scan_pairs(tmp_path, "train")
    assert [p.a.name for p in scan.pairs] == ["good.png"]
    text = "\n".join(scan.warnings())
    assert "odd.png: width 63 is odd" in text and "broken.png" in text and "1 non-image file" in text
    with pytest.raises(DataError, match="no paired data for 'val'"):
        scan_pairs(tmp_path, "val")
    (tmp_path / "empty" / "train").mkdir(parents=True)
    Image.new("RGB", (31, 8)).save(tmp_path / "empty" / "train" / "odd.png")
    with pytest.raises(DataError, match="no usable A|B pairs"):
        scan_pairs(tmp_path / "empty", "train")


def test_cli_data_pair(paired_toy, tmp_path, capsys):
    assert main(["data", "pair", str(paired_toy / "testA"), str(paired_toy / "testB"), "--out", str(tmp_path / "ab"),
                 "--split", "test", "--no-progress"]) == 0
    assert "wrote 4 aligned pairs" in capsys.readouterr().out
    files = scan_folder(tmp_path / "ab" / "test").files
    ab = load_image(files[0])
    assert ab.size == (64, 32)
    assert np.array_equal(np.asarray(ab)[:, 32:], np.asarray(load_image(paired_toy / "testB" / files[0].name)))
    assert main(["data", "pair", str(paired_toy / "testA"), str(tmp_path / "nope"), "--out", str(tmp_path / "x")]) == 2
    assert "folder not found" in capsys.readouterr().err


def paired_psnr(pipe: TranslationPipeline, data: Path) -> float:
    srcs, dsts = scan_folder(data / "testA").files, scan_folder(data / "testB").files
    outs = pipe([load_image(p) for p in srcs])
    return float(np.mean([psnr(np.asarray(o), np.asarray(load_image(t))) for o, t in zip(outs, dsts, strict=True)]))


@pytest.mark.slow
def test_train_resume_translate_learns_the_mapping(paired_toy, tmp_path):
    cfg = p2p_config(paired_toy, tmp_path / "a", n_epochs=10, n_epochs_decay=5, lr=1e-3, use_dropout=False, sample_every=20)
    straight = train(cfg)
    first = train(p2p_config(paired_toy, tmp_path / "b", n_epochs=10, n_epochs_decay=5, lr=1e-3, use_dropout=False,
                             sample_every=20, max_steps=37))
    resumed = resume(first["run_dir"], {"max_steps": 0})
    a, b = (load_checkpoint(Path(s["run_dir"]) / CHECKPOINT)[0] for s in (straight, resumed))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k

    run = Path(straight["run_dir"])
    config = read_model_config(run)
    assert list(config["generators"]) == ["G_A"] and config["model_type"] == "pix2pix"
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert {"G_GAN", "G_L1", "D_real", "D_fake"} <= set(lines[0])
    assert Image.open(sorted((run / "samples").glob("*.png"))[-1]).size == (3 * 32, 14 + 4 * 32)
    trained = paired_psnr(TranslationPipeline(load_generator(run, "G_A")), paired_toy)
    torch.manual_seed(0)
    untrained = paired_psnr(TranslationPipeline(build_generator(config["generators"]["G_A"]).eval()), paired_toy)
    nothing = float(np.mean([psnr(np.asarray(load_image(a)), np.asarray(load_image(b))) for a, b in
                             zip(scan_folder(paired_toy / "testA").files, scan_folder(paired_toy / "testB").files, strict=True)]))
    assert trained > untrained + 5 and trained > nothing + 2, (trained, untrained, nothing)


def test_btoa_stores_g_b(paired_toy, tmp_path):
    run = Path(train(p2p_config(paired_toy, tmp_path, direction="BtoA", max_steps=2))["run_dir"])
    assert list(read_model_config(run)["generators"]) == ["G_B"]
    pipe = TranslationPipeline.from_pretrained(run, "BtoA", device="cpu")
    assert pipe(Image.new("RGB", (20, 12))).size == (20, 12)


@pytest.mark.slow
def test_evaluate_adds_paired_scores_in_both_layouts(paired_toy, tmp_path):
    from pocketgan.evaluation.evaluate import evaluate, format_result

    run = Path(train(p2p_config(paired_toy, tmp_path, max_steps=2))["run_dir"])
    matched = evaluate(run, paired_toy, "AtoB", progress=False, use_cache=False, allow_small=True)  # 32 px toys
    make_aligned(paired_toy / "testA", paired_toy / "testB", tmp_path / "ab", split="test", progress=False)
    aligned = evaluate(run, tmp_path / "ab", "AtoB", progress=False, allow_small=True)
    for key in ("translated", "do_nothing"):
        for metric in ("psnr", "ssim", "l1", "kid_x1000", "fid"):
            assert aligned[key][metric] == pytest.approx(matched[key][metric], abs=1e-3), (key, metric)
    srcs, dsts = scan_folder(paired_toy / "testA").files, scan_folder(paired_toy / "testB").files
    nothing = np.mean([psnr(np.asarray(load_image(a)), np.asarray(load_image(b))) for a, b in zip(srcs, dsts, strict=True)])
    assert matched["do_nothing"]["psnr"] == pytest.approx(nothing, abs=1e-3)
    assert 0 < matched["translated"]["ssim"] < 1
    assert "(paired)" in format_result(matched) and "SSIM" in format_result(matched)
