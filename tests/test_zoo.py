"""Models by name: published checkpoints imported from a local HTTP server, name resolution, `models`."""
import io
import tarfile
import zipfile
from pathlib import Path

import pytest
import torch
from PIL import Image

from localhttp import Handler
from pocketgan import cli
from pocketgan.data.images import DataError
from pocketgan.models import create_generator, zoo
from pocketgan.models.pretrained import ModelFolderError, load_generator
from pocketgan.models.zoo import PublishedCheckpoint, import_published, resolve_model

TOY_G = {"arch": "resnet_6blocks", "ngf": 4, "norm": "instance", "use_dropout": False}


def reference_pth(seed: int = 0) -> tuple[bytes, dict]:
    """A generator saved the way the reference saves it (a pickled state_dict of tensors)."""
    torch.manual_seed(seed)
    net = create_generator("resnet_6blocks", ngf=4, norm="instance")
    state = {k: v.clone() for k, v in net.state_dict().items()}
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue(), state


@pytest.fixture()
def catalogue(server, monkeypatch):
    cat = {"toy2art": PublishedCheckpoint("toy2art", f"{server}/toy2art.pth", dict(TOY_G)),
           "pix2pix/toy": PublishedCheckpoint("pix2pix/toy", f"{server}/pix2pix/toy.pth", dict(TOY_G))}
    monkeypatch.setattr(zoo, "PUBLISHED", cat)
    return cat


def test_import_published_downloads_converts_and_resolves_by_name(catalogue, model_home):
    body, state = reference_pth()
    Handler.files["/toy2art.pth"] = body
    out = import_published("toy2art", progress=False)
    assert out == model_home / "models" / "toy2art"
    net = load_generator(resolve_model("toy2art"))
    for k, v in state.items():
        assert torch.equal(net.state_dict()[k], v), k
    assert not list((model_home / "downloads").glob("*.pth*"))  # the .pth is gone once converted
    assert resolve_model("toy2art") == out
    # already imported: no download (the server no longer has the file)
    Handler.files.clear()
    assert import_published("toy2art", progress=False) == out
    # names with a slash (pix2pix/...) land in a subfolder and resolve too
    Handler.files["/pix2pix/toy.pth"] = reference_pth(1)[0]
    assert import_published("pix2pix/toy", progress=False) == model_home / "models" / "pix2pix" / "toy"
    assert {r["name"] for r in zoo.list_models()} >= {"toy2art", "pix2pix/toy"}


def test_truncated_download_resumes_on_the_next_try(catalogue, model_home):
    body, state = reference_pth()
    Handler.files["/toy2art.pth"] = body
    Handler.cut_after = len(body) // 3
    with pytest.raises(DataError, match=r"toy2art.pth: download (interrupted|incomplete).*run the command again"):
        import_published("toy2art", progress=False)
    part = model_home / "downloads" / "toy2art.pth.part"
    assert 0 < part.stat().st_size < len(body)
    import_published("toy2art", progress=False)  # a Range request fetches the rest
    net = load_generator(model_home / "models" / "toy2art")
    assert all(torch.equal(net.state_dict()[k], v) for k, v in state.items())


def test_bad_files_and_offline_are_one_line_errors(catalogue, model_home, monkeypatch):
    Handler.files["/toy2art.pth"] = b"<html>not a checkpoint</html>"
    with pytest.raises(ModelFolderError, match=r"/toy2art.pth: .*not a loadable PyTorch weights file"):
        import_published("toy2art", progress=False)
    assert not (model_home / "downloads" / "toy2art.pth").exists()  # a bad download is not kept
    assert not (model_home / "models" / "toy2art" / "config.json").exists()
    # a checkpoint of another architecture
    torch.manual_seed(0)
    buf = io.BytesIO()
    torch.save(create_generator("resnet_9blocks", ngf=8).state_dict(), buf)
    Handler.files["/toy2art.pth"] = buf.getvalue()
    with pytest.raises(ModelFolderError, match="weights do not fit architecture"):
        import_published("toy2art", progress=False)
    monkeypatch.setitem(zoo.PUBLISHED, "toy2art", PublishedCheckpoint("toy2art", "http://127.0.0.1:9/toy2art.pth", TOY_G))
    with pytest.raises(DataError, match=r"http://127.0.0.1:9/toy2art.pth: cannot download .*offline.*pocketgan import FILE"):
        import_published("toy2art", progress=False)
    with pytest.raises(ModelFolderError, match="unknown published model 'nope'; choose one of: pix2pix/toy, toy2art"):
        import_published("nope", progress=False)


def test_resolve_model_errors_say_what_to_do(catalogue, tmp_path):
    with pytest.raises(ModelFolderError, match=r"toy2art: a published model that is not downloaded yet; run "
                                               r"`pocketgan import --published toy2art`"):
        resolve_model("toy2art")
    with pytest.raises(ModelFolderError, match=r"nosuch: no such model folder or model name \(known names: .*summer2winter"):
        resolve_model("nosuch")
    assert resolve_model(str(tmp_path)) == tmp_path  # an existing path is taken as it is


def test_cli_import_published_models_and_translate_by_name(catalogue, tmp_path, capsys):
    Handler.files["/toy2art.pth"] = reference_pth()[0]
    assert cli.main(["import", "--published", "toy2art", "--no-progress"]) == 0
    assert "use it with --model toy2art" in capsys.readouterr().out
    assert cli.main(["models"]) == 0
    out = capsys.readouterr().out
    assert "summer2winter" in out and "bundled" in out
    line = next(ln for ln in out.splitlines() if ln.startswith("toy2art"))
    assert "imported" in line and "resnet_6blocks(ngf=4)" in line and "AtoB" in line
    assert cli.main(["models", "--published"]) == 0
    assert "pocketgan import --published pix2pix/toy" in capsys.readouterr().out
    Image.new("RGB", (40, 28), (90, 160, 60)).save(tmp_path / "p.png")
    assert cli.main(["translate", str(tmp_path / "p.png"), "--model", "toy2art", "--out", str(tmp_path / "o"),
                     "--no-progress"]) == 0
    assert Image.open(tmp_path / "o" / "p.png").size == (40, 28)
    # usage errors
    assert cli.main(["import", "--published", "toy2art", "x.pth"]) == 2
    assert cli.main(["import", "x.pth"]) == 2
    assert "give a .pth file and --out FOLDER" in capsys.readouterr().err


def test_real_catalogue_matches_the_reference_scripts():
    names = set(zoo.PUBLISHED)
    assert {"horse2zebra", "zebra2horse", "summer2winter_yosemite", "winter2summer_yosemite", "style_monet",
            "pix2pix/facades_label2photo"} <= names
    assert zoo.PUBLISHED["horse2zebra"].url == "http://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models/horse2zebra.pth"
    assert zoo.PUBLISHED["pix2pix/edges2shoes"].url == "http://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch/edges2shoes.pth"
    assert zoo.PUBLISHED["pix2pix/edges2shoes"].generator["arch"] == "unet_256"


def test_bundled_model_translates_out_of_the_box(tmp_path, monkeypatch, capsys, model_home):
    """`pocketgan translate photo.png` with no --model and no --out: the bundled summer2winter model."""
    bundled = zoo.bundled_models()
    assert zoo.DEFAULT_MODEL in bundled
    folder = bundled[zoo.DEFAULT_MODEL]
    config = zoo.read_model_config(folder)
    assert set(config["generators"]) == {"G_A", "G_B"}
    card = config["model_card"]  # data, steps, image size, time, hardware and measured scores are stated
    for key in ("data", "steps", "image_size", "train_minutes", "hardware", "evaluation"):
        assert key in card, key
    assert sum(p.stat().st_size for p in folder.glob("*.safetensors")) < 5e6  # a few MB at most
    monkeypatch.chdir(tmp_path)
    photo = Image.new("RGB", (72, 52), (70, 140, 60))
    photo.save(tmp_path / "photo.png")
    assert cli.main(["translate", "photo.png", "--no-progress"]) == 0
    assert "using the bundled model summer2winter (AtoB)" in capsys.readouterr().out
    winter = Image.open(tmp_path / "translated" / "photo.png")
    assert winter.size == (72, 52)
    assert cli.main(["translate", "photo.png", "--model", "summer2winter", "--direction", "BtoA", "--out", "back",
                     "--no-progress"]) == 0
    assert Image.open(tmp_path / "back" / "photo.png").size == (72, 52)
    # by name or by folder: the same model, the same pixels
    assert cli.main(["translate", "photo.png", "--model", str(folder), "--out", "by_path", "--no-progress"]) == 0
    assert Image.open(tmp_path / "by_path" / "photo.png").tobytes() == winter.tobytes()


def test_exports_of_the_bundled_model_go_to_the_model_home(model_home):
    pytest.importorskip("onnx")
    from pocketgan.export.exporter import export_model

    path, card = export_model(resolve_model("summer2winter"), "onnx", 64)
    assert path == model_home / "exports" / "summer2winter" / "G_A_64.onnx"
    assert not (zoo.BUNDLED_DIR / "summer2winter" / "export").exists()  # the package folder is left alone
    assert card["parity_vs_pytorch"]["psnr_db"] > 40


@pytest.mark.slow
def test_model_report_shows_synthetic_scenes_and_the_users_photos(tmp_path, capsys):
    photos = tmp_path / "mine"
    photos.mkdir()
    Image.new("RGB", (90, 60), (60, 150, 70)).save(photos / "garden.jpg")
    (photos / "broken.jpg").write_bytes(b"\xff\xd8not really")
    out, fig = tmp_path / "r.html", tmp_path / "fig.png"
    assert cli.main(["report", "summer2winter", "--images", str(photos), "--out", str(out), "--figure", str(fig)]) == 0
    assert "broken.jpg" in capsys.readouterr().err  # a bad photo is named and skipped
    page = out.read_text()
    assert "Model card" in page and "do nothing" in page and "synthetic scenes and your photos" in page
    im = Image.open(fig)
    assert im.size == (4 * 256, 16 + 4 * 256)  # 2 directions x (input | translated); 3 scenes + 1 photo


def test_serve_defaults_to_the_bundled_model(model_home):
    pytest.importorskip("fastapi")
    pytest.importorskip("onnxruntime")
    from fastapi.testclient import TestClient

    from pocketgan.app.server import create_app

    with TestClient(create_app(resolve_model(None))) as c:
        card = c.get("/api/model").json()
        assert set(card["directions"]) == {"AtoB", "BtoA"}
        buf = io.BytesIO()
        Image.new("RGB", (48, 32), (80, 150, 60)).save(buf, "PNG")
        r = c.post("/api/translate?direction=BtoA", files={"image": ("p.png", buf.getvalue(), "image/png")})
        assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).size == (48, 32)
    assert (model_home / "exports" / "summer2winter").is_dir()  # not inside the package


# --- CUT / FastCUT: several published models in one archive ---------------------------------------------------

TOY_CUT = {"arch": "cut_resnet_6blocks", "ngf": 4, "norm": "instance", "use_dropout": False}


def cut_pth(seed: int) -> tuple[bytes, torch.nn.Module]:
    """A CUT generator saved the way the CUT reference saves it (its state_dict, blur filters included)."""
    torch.manual_seed(seed)
    net = create_generator("cut_resnet_6blocks", ngf=4)
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.3)
    buf = io.BytesIO()
    torch.save({k: v.clone() for k, v in net.state_dict().items()}, buf)
    return buf.getvalue(), net.eval()


def tar_bytes(files: dict[str, bytes], links: dict[str, str] | None = None, fmt: str = "tar") -> bytes:
    buf = io.BytesIO()
    if fmt == "zip":
        with zipfile.ZipFile(buf, "w") as z:
            for name, body in files.items():
                z.writestr(name, body)
        return buf.getvalue()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, body in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            t.addfile(info, io.BytesIO(body))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            t.addfile(info)
    return buf.getvalue()


@pytest.fixture()
def cut_catalogue(server, monkeypatch):
    url = f"{server}/CUT/pretrained_models.tar"
    cat = {f"{mode}/toy": PublishedCheckpoint(f"{mode}/toy", url, dict(TOY_CUT), by=zoo.CUT_REPO,
                                              member=f"toy_{mode}_pretrained/latest_net_G.pth")
           for mode in ("cut", "fastcut")}
    cat["toy2art"] = PublishedCheckpoint("toy2art", f"{server}/toy2art.pth", dict(TOY_G))
    monkeypatch.setattr(zoo, "PUBLISHED", cat)
    return cat


def test_cut_models_come_out_of_one_shared_archive(cut_catalogue, model_home, tmp_path):
    (cut_body, cut_net), (fast_body, fast_net) = cut_pth(0), cut_pth(1)
    Handler.files["/CUT/pretrained_models.tar"] = tar_bytes({
        "checkpoints/toy_cut_pretrained/latest_net_G.pth": cut_body,
        "checkpoints/toy_cut_pretrained/latest_net_D.pth": b"not for us",
        "checkpoints/toy_fastcut_pretrained/latest_net_G.pth": fast_body,
        "../../escaped_latest_net_G.pth": b"a hostile name is never written",
        "/abs/toy_cut_pretrained.pth": b"nor an absolute one"})
    out = import_published("cut/toy", progress=False)
    assert out == model_home / "models" / "cut" / "toy"
    net = load_generator(resolve_model("cut/toy"))
    assert net.config["name"] == "cut_resnet_6blocks"
    x = torch.rand(1, 3, 32, 40) * 2 - 1
    with torch.no_grad():
        assert torch.equal(net(x), cut_net(x))
    config = zoo.read_model_config(out)
    assert config["published"] == {"name": "cut/toy", "url": cut_catalogue["cut/toy"].url,
                                   "by": "taesungp/contrastive-unpaired-translation",
                                   "member": "toy_cut_pretrained/latest_net_G.pth"}
    downloads = model_home / "downloads"
    assert sorted(p.name for p in downloads.iterdir()) == ["CUT--pretrained_models.tar"]  # kept for fastcut/toy
    # the sibling comes from the kept archive: no second download (the server no longer has it) ...
    Handler.files.clear()
    import_published("fastcut/toy", progress=False)
    with torch.no_grad():
        assert torch.equal(load_generator(model_home / "models" / "fastcut" / "toy")(x), fast_net(x))
    assert not list(downloads.iterdir())  # ... and once every model it holds is imported, it is gone
    assert not list(model_home.parent.rglob("escaped_latest_net_G.pth")) and not Path("/abs").exists()
    rows = {r["name"]: r for r in zoo.list_models(include_published=True)}
    assert rows["cut/toy"]["kind"] == "imported" and rows["toy2art"]["kind"] == "published"


def test_bad_cut_archives_are_one_line_errors_and_removed(cut_catalogue, model_home):
    archive = model_home / "downloads" / "CUT--pretrained_models.tar"
    body, _ = cut_pth(0)
    cases = [
        (tar_bytes({"checkpoints/toy_fastcut_pretrained/latest_net_G.pth": body}),
         r"holds no file \*/toy_cut_pretrained/latest_net_G.pth; the archive was removed, run the command again"),
        (tar_bytes({}, links={"checkpoints/toy_cut_pretrained/latest_net_G.pth": "/etc/passwd"}),
         "is not a regular file .a link or device.*refusing"),
        (tar_bytes({"a/toy_cut_pretrained/latest_net_G.pth": body, "b/toy_cut_pretrained/latest_net_G.pth": body}),
         "holds 2 files"),
        (b"<html>moved</html>", "not a zip or tar archive"),
    ]
    for payload, message in cases:
        Handler.files["/CUT/pretrained_models.tar"] = payload
        with pytest.raises(DataError, match=message):
            import_published("cut/toy", progress=False)
        assert not archive.exists()  # fetched anew next time
        assert not (model_home / "models" / "cut" / "toy").exists()
    # a member that is no checkpoint: the model error names the archive and the member
    Handler.files["/CUT/pretrained_models.tar"] = tar_bytes({"x/toy_cut_pretrained/latest_net_G.pth": b"junk"})
    with pytest.raises(ModelFolderError, match=r"pretrained_models.tar \(toy_cut_pretrained/latest_net_G.pth\): "
                                               ".*not a loadable PyTorch weights file"):
        import_published("cut/toy", progress=False)
    assert not list((model_home / "downloads").iterdir())  # neither the member nor the archive is kept


def test_extract_member_reads_zips_and_matches_whole_path_components(tmp_path):
    from pocketgan.data.download import extract_member

    z = tmp_path / "m.zip"
    z.write_bytes(tar_bytes({"run/xtoy_cut_pretrained/latest_net_G.pth": b"wrong", "run/toy_cut_pretrained/": b"",
                             "run/toy_cut_pretrained/latest_net_G.pth": b"right"}, fmt="zip"))
    got = extract_member(z, "toy_cut_pretrained/latest_net_G.pth", tmp_path / "out" / "g.pth")
    assert got.read_bytes() == b"right" and not list((tmp_path / "out").glob("*.part"))


def test_real_catalogue_has_the_published_cut_models():
    for mode in ("cut", "fastcut"):
        for name, folder in (("horse2zebra", "horse2zebra"), ("cat2dog", "cat2dog"),
                             ("cityscapes_label2photo", "cityscapes")):
            src = zoo.PUBLISHED[f"{mode}/{name}"]
            assert src.url == "http://efrosgans.eecs.berkeley.edu/CUT/pretrained_models.tar"
            assert src.member == f"{folder}_{mode}_pretrained/latest_net_G.pth"
            assert src.generator == {"arch": "cut_resnet_9blocks", "ngf": 64, "norm": "instance", "use_dropout": False}
            assert src.by == "taesungp/contrastive-unpaired-translation"
    assert zoo.PUBLISHED["horse2zebra"].member is None and zoo.PUBLISHED["horse2zebra"].by == zoo.CYCLEGAN_REPO
