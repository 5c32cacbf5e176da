"""Dataset downloads against a local HTTP server (127.0.0.1) serving archives the test builds."""
import io
import zipfile

import pytest
from PIL import Image

from localhttp import Handler
from pocketgan.data.download import DatasetSource, download_dataset, fetch, unpack
from pocketgan.data.images import DataError
from pocketgan.data.inputs import scan_folder


def cyclegan_zip(name: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for folder in ("trainA", "trainB", "testA", "testB"):
            for i in range(2):
                img = io.BytesIO()
                Image.new("RGB", (16, 16), (i * 50, 80, 120)).save(img, "PNG")
                z.writestr(f"{name}/{folder}/{i}.png", img.getvalue())
    return buf.getvalue()


def source(server: str, name: str = "toy") -> dict:
    return {name: DatasetSource(name, f"{server}/{name}.zip", "cyclegan")}


def test_download_and_unpack_into_the_trainers_layout(server, tmp_path):
    Handler.files["/toy.zip"] = cyclegan_zip("toy")
    root = download_dataset("toy", tmp_path, progress=False, catalogue=source(server))
    assert root == tmp_path / "toy"
    assert [len(scan_folder(root / d).files) for d in ("trainA", "trainB", "testA", "testB")] == [2, 2, 2, 2]
    assert not list(tmp_path.glob(".unpack-*")) and not list(tmp_path.rglob("*.part"))
    assert download_dataset("toy", tmp_path, progress=False, catalogue=source(server)) == root  # already there


def test_interrupted_download_resumes(server, tmp_path):
    body = cyclegan_zip("toy")
    Handler.files["/toy.zip"] = body
    Handler.cut_after = len(body) // 3
    with pytest.raises(DataError, match="run the command again to resume"):
        fetch(f"{server}/toy.zip", tmp_path / "toy.zip", progress=False)
    part = tmp_path / "toy.zip.part"
    assert 0 < part.stat().st_size < len(body)
    fetch(f"{server}/toy.zip", tmp_path / "toy.zip", progress=False)  # Range request for the rest
    assert (tmp_path / "toy.zip").read_bytes() == body and not part.exists()


def test_server_without_range_support_restarts(server, tmp_path):
    body = cyclegan_zip("toy")
    Handler.files["/toy.zip"], Handler.honour_range = body, False
    (tmp_path / "toy.zip.part").write_bytes(b"stale bytes")
    fetch(f"{server}/toy.zip", tmp_path / "toy.zip", progress=False)
    assert (tmp_path / "toy.zip").read_bytes() == body


def test_checksum_mismatch_removes_the_file(server, tmp_path):
    Handler.files["/toy.zip"] = b"x" * 100
    with pytest.raises(DataError, match="checksum mismatch"):
        fetch(f"{server}/toy.zip", tmp_path / "toy.zip", sha256="0" * 64, progress=False)
    assert not list(tmp_path.iterdir())


def test_bad_archives(server, tmp_path):
    Handler.files["/toy.zip"] = b"this is not a zip file at all"
    with pytest.raises(DataError, match="not a zip or tar archive"):
        download_dataset("toy", tmp_path, progress=False, catalogue=source(server))
    evil = io.BytesIO()
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../escape.txt", "no")
    (tmp_path / "evil.zip").write_bytes(evil.getvalue())
    with pytest.raises(DataError, match="outside"):
        unpack(tmp_path / "evil.zip", tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()
    wrong = io.BytesIO()
    with zipfile.ZipFile(wrong, "w") as z:
        z.writestr("toy/readme.txt", "no images")
    Handler.files["/toy.zip"] = wrong.getvalue()
    (tmp_path / ".downloads" / "toy.zip").unlink(missing_ok=True)
    with pytest.raises(DataError, match="trainA, trainB is missing"):
        download_dataset("toy", tmp_path / "r2", progress=False, catalogue=source(server))


def test_offline_and_missing_are_clear_errors(server, tmp_path):
    with pytest.raises(DataError, match=r"toy.zip: download failed \(HTTP 404"):
        download_dataset("toy", tmp_path, progress=False, catalogue=source(server))
    dead = "http://127.0.0.1:9"  # discard port: connection refused
    with pytest.raises(DataError, match=r"http://127.0.0.1:9/toy.zip: cannot download .*offline"):
        download_dataset("toy", tmp_path, progress=False, catalogue=source(dead))
    with pytest.raises(DataError, match="unknown dataset 'nope'; choose one of: .*horse2zebra"):
        download_dataset("nope", tmp_path)


def test_cli_download(server, tmp_path, capsys, monkeypatch):
    from pocketgan.cli import main
    from pocketgan.data import download

    Handler.files["/toy.zip"] = cyclegan_zip("toy")
    monkeypatch.setattr(download, "CATALOGUE", source(server))
    assert main(["data", "download", "toy", "--root", str(tmp_path), "--no-progress"]) == 0
    assert f"dataset ready in {tmp_path / 'toy'}" in capsys.readouterr().out
    assert main(["data", "download", "--list"]) == 0
    assert "toy" in capsys.readouterr().out
    assert main(["data", "download", "missing", "--root", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("pocketgan: error: unknown dataset 'missing'")


def test_catalogue_and_licensed_sets(tmp_path):
    from pocketgan.data.download import CATALOGUE

    assert CATALOGUE["horse2zebra"].url == "http://efrosgans.eecs.berkeley.edu/cyclegan/datasets/horse2zebra.zip"
    assert CATALOGUE["pix2pix/facades"].url.endswith("/pix2pix/datasets/facades.tar.gz")
    assert CATALOGUE["pix2pix/facades"].kind == "pix2pix"
    for name in ("cityscapes", "pix2pix/cityscapes"):
        with pytest.raises(DataError, match="may not be redistributed"):
            download_dataset(name, tmp_path)
    assert not list(tmp_path.iterdir())


def test_pix2pix_tarball_lands_in_its_own_folder(server, tmp_path):
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        img = io.BytesIO()
        Image.new("RGB", (32, 16)).save(img, "PNG")
        info = tarfile.TarInfo("facades/train/1.png")
        info.size = len(img.getvalue())
        t.addfile(info, io.BytesIO(img.getvalue()))
    Handler.files["/facades.tar.gz"] = buf.getvalue()
    cat = {"pix2pix/facades": DatasetSource("facades", f"{server}/facades.tar.gz", "pix2pix")}
    root = download_dataset("pix2pix/facades", tmp_path, progress=False, catalogue=cat)
    assert root == tmp_path / "pix2pix" / "facades" and (root / "train" / "1.png").is_file()
