"""The command line against a careless user, a broken disk and hostile files (issue 17): option
values checked where parsed, operating-system errors as one line that says what was written,
model files validated rather than trusted, archives with limits. Every case answers with one
`pocketgan: error:` line (or argparse's usage error) and exit 2, never a traceback."""
from __future__ import annotations

import errno
import io
import json
import os
import random
import shutil
import socket
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from clihelp import one_line_error
from pocketgan.cli import main
from pocketgan.data import download
from pocketgan.data.download import DatasetSource, download_dataset, unpack
from pocketgan.data.images import DataError
from pocketgan.models.pretrained import CONFIG_NAME, ModelFolderError, read_model_config, save_pretrained
from pocketgan.models.zoo import list_models
from pocketgan.training.checkpoint import META_KEY, CheckpointError, validate_checkpoint_meta


def usage_error(capsys, argv: list[str], *fragments: str) -> None:
    """argparse's usage error: exit 2, its last line names the option and the value."""
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert "error: argument" in last and "Traceback" not in err, err
    for f in fragments:
        assert f in last, last


def images(folder: Path, n: int, size=(24, 20)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(folder / f"p{i}.png")
    return folder


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, expressive_generator) -> Path:
    return save_pretrained(tmp_path_factory.mktemp("m") / "model", {"G_A": expressive_generator(0)})


# ---------------------------------------------------------------- 5. option values

@pytest.mark.parametrize("argv, fragments", [
    (["translate", "a.png", "--max-size", "-5"], ["--max-size", "-5"]),
    (["translate", "a.png", "--batch-size", "0"], ["--batch-size", "0"]),
    (["export", "--model", "m", "--format", "onnx", "--size", "100000"], ["--size", "100000"]),
    (["serve", "--max-upload-mb", "inf"], ["--max-upload-mb", "inf"]),
    (["serve", "--max-upload-mb", "nan"], ["--max-upload-mb", "nan"]),
    (["serve", "--max-upload-mb", "1e308"], ["--max-upload-mb"]),
    (["import", "x.pth", "--out", "o", "--ngf", "-1"], ["--ngf", "-1"]),
    (["import", "x.pth", "--out", "o", "--ngf", "100000"], ["--ngf", "100000"]),
    (["export", "--model", "m", "--format", "onnx", "--out", "model.bin"], ["--out", ".onnx"]),
])
def test_bad_option_values_are_usage_errors(capsys, argv, fragments):
    usage_error(capsys, argv, *fragments)


@pytest.mark.parametrize("device", ["nope", "cuda:x", "meta"] + ([] if torch.cuda.is_available() else ["cuda"]))
@pytest.mark.parametrize("command", [["translate", "a.png"], ["train", "--data", "d"], ["serve"]])
def test_bad_devices_are_one_line_before_any_work(capsys, tmp_path, monkeypatch, command, device):
    monkeypatch.chdir(tmp_path)
    assert main([*command, "--device", device]) == 2
    one_line_error(capsys, "--device")
    assert not any(tmp_path.iterdir())  # nothing started: no run folder, no output


# ---------------------------------------------------------------- 6. operating-system errors

def test_full_disk_in_translate_says_how_many_were_written_and_leaves_no_partial_file(tmp_path, capsys, monkeypatch,
                                                                                      tiny_model):
    import pocketgan.fileio as fileio

    src = images(tmp_path / "in", 10)
    out = tmp_path / "out"
    real_fsync, calls = os.fsync, []

    def fsync(fd):
        calls.append(fd)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)
    from pocketgan.inference.engines import open_pipeline

    open_pipeline(str(tiny_model))  # the ONNX export translate runs, cached before the disk fills up
    monkeypatch.setattr(fileio.os, "fsync", fsync)
    assert main(["translate", str(src), "--model", str(tiny_model), "--out", str(out), "--no-progress",
                 "--device", "cpu"]) == 2
    line = one_line_error(capsys, "No space left on device", f"1 of 10 images were written to {out}", "free some space")
    assert "p1.png" in line
    assert sorted(p.name for p in out.iterdir()) == ["p0.png"]  # the complete one; no .tmp, no partial file


def test_a_full_disk_while_the_onnx_export_is_written_is_one_line(tmp_path, capsys, monkeypatch, tiny_model):
    import pocketgan.fileio as fileio

    def fsync(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    model = tmp_path / "model"  # a copy, never exported yet (other tests cache the shared one's export)
    shutil.copytree(tiny_model, model, ignore=shutil.ignore_patterns("export"))
    monkeypatch.setattr(fileio.os, "fsync", fsync)
    src = images(tmp_path / "in", 2)
    assert main(["translate", str(src), "--model", str(model), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    one_line_error(capsys, "could not write the ONNX export", "No space left on device", "--engine torch")


def test_unwritable_output_folder_is_one_line_before_translating(tmp_path, capsys, monkeypatch, tiny_model):
    import pocketgan.inference.translate as tr

    def refuse(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied")
    monkeypatch.setattr(tr.tempfile, "TemporaryFile", refuse)
    src = images(tmp_path / "in", 2)
    assert main(["translate", str(src), "--model", str(tiny_model), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    one_line_error(capsys, "cannot write there", "Permission denied", "--out")


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True, reason="root ignores permissions")
def test_read_only_output_folder_for_real(tmp_path, capsys, tiny_model):
    src = images(tmp_path / "in", 1)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert main(["translate", str(src), "--model", str(tiny_model), "--out", str(ro / "x"), "--no-progress"]) == 2
        one_line_error(capsys)
        assert main(["import", "x.pth", "--out", str(ro / "m")]) == 2
        one_line_error(capsys)
    finally:
        ro.chmod(0o755)


@pytest.mark.parametrize("command", [
    ["translate", "IN", "--out", "FILE"], ["import", "x.pth", "--out", "FILE"],
    ["export", "--model", "m", "--format", "onnx", "--out", "FILE/x.onnx"],
    ["translate", "IN", "--out", "FILE/sub"]])
def test_out_that_is_an_existing_file(tmp_path, capsys, command):
    (tmp_path / "file").write_text("keep me")
    argv = [str(tmp_path / "in") if a == "IN" else a.replace("FILE", str(tmp_path / "file")) for a in command]
    usage_error(capsys, argv, "--out")
    assert (tmp_path / "file").read_text() == "keep me"


def test_export_refuses_a_device_or_folder_as_out(tmp_path, capsys):
    (tmp_path / "dir.onnx").mkdir()
    usage_error(capsys, ["export", "--model", "m", "--format", "onnx", "--out", str(tmp_path / "dir.onnx")],
                "not a regular file")
    if os.path.exists("/dev/null"):
        usage_error(capsys, ["export", "--model", "m", "--format", "onnx", "--out", "/dev/null"], "--out")
    assert os.path.exists("/dev/null") and not os.path.isfile("/dev/null")


def test_unreadable_input_folder_is_one_line(tmp_path, capsys, monkeypatch, tiny_model):
    src = images(tmp_path / "in", 2)
    real = Path.iterdir

    def iterdir(self):
        if self == src:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real(self)
    monkeypatch.setattr(Path, "iterdir", iterdir)
    assert main(["translate", str(src), "--model", str(tiny_model), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    one_line_error(capsys, str(src), "cannot read folder", "Permission denied")


def test_symlink_loop_in_an_input_folder_is_skipped_like_train_does(tmp_path, capsys, tiny_model):
    src = images(tmp_path / "in", 2)
    (src / "loop1.png").symlink_to("loop2.png")
    (src / "loop2.png").symlink_to("loop1.png")
    (src / "dangling.png").symlink_to("nowhere.png")
    assert main(["translate", str(src), "--model", str(tiny_model), "--out", str(tmp_path / "o"), "--no-progress"]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and captured.err.count("skipped") == 3
    assert "wrote 2 images" in captured.out and len(list((tmp_path / "o").iterdir())) == 2
    from pocketgan.data.inputs import scan_folder  # the training scan skips the same files
    assert len(scan_folder(src).rejected) == 3


def test_import_into_an_unwritable_place_is_one_line(tmp_path, capsys, expressive_generator):
    pth = tmp_path / "latest_net_G_A.pth"
    torch.save(expressive_generator(0).state_dict(), pth)
    target = Path("/proc/pocketgan-cannot-be-here") if Path("/proc/self").exists() else tmp_path / "x"
    if target.parent == tmp_path:
        pytest.skip("needs /proc")
    assert main(["import", str(pth), "--out", str(target), "--arch", "mobile_resnet_6blocks", "--ngf", "4",
                 "--norm", "batch"]) == 2
    one_line_error(capsys, "cannot write", "config.json was not changed")


def test_export_into_an_unwritable_place_is_one_line(tmp_path, capsys, tiny_model):
    if not Path("/proc/self").exists():
        pytest.skip("needs /proc")
    assert main(["export", "--model", str(tiny_model), "--format", "onnx", "--size", "32",
                 "--out", "/proc/pocketgan-cannot-be-here/g.onnx"]) == 2
    one_line_error(capsys, "cannot write", "nothing was written")


# ---------------------------------------------------------------- 8. model files

def _bad(config: dict, **changes) -> dict:
    config = json.loads(json.dumps(config))
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = config
        for p in parents:
            node = node[p]
        if value is KeyError:
            node.pop(last, None)
        else:
            node[last] = value
    return config


BAD_CONFIGS = [
    ({"generators__G_A__name": KeyError}, "generators.G_A.name"),
    ({"generators__G_A__ngf": -4}, "generators.G_A.ngf"),
    ({"generators__G_A__ngf": "4"}, "generators.G_A.ngf"),
    ({"generators__G_A__ngf": 10 ** 9}, "generators.G_A.ngf"),
    ({"generators": []}, "generators"),
    ({"generators__G_A": []}, "generators.G_A"),
    ({"generators__G_A__name": "no_such_net"}, "unknown generator"),
    ({"generators__G_A__norm": ["batch"]}, "generators.G_A.norm"),
    ({"generators__G_A__use_dropout": "yes"}, "generators.G_A.use_dropout"),
    ({"generators__G_A__bogus": {"a": 1}}, "generators.G_A.bogus"),
    ({"generators__G_C": {"name": "resnet_6blocks"}}, "unknown slot 'G_C'"),
    ({"training": [1, 2]}, "training"),
    ({"description": {"x": 1}}, "description"),
    ({"published": "http://x"}, "published"),
    ({"distilled_from": {"teacher": "t", "direction": "AtoB"}}, "distilled_from.teacher_generator"),
]


@pytest.fixture(scope="module")
def good_config(tiny_model) -> dict:
    return json.loads((tiny_model / CONFIG_NAME).read_text())


@pytest.mark.parametrize("changes, field", BAD_CONFIGS)
def test_wrong_schema_config_is_one_line_naming_file_and_field(tmp_path, capsys, tiny_model, good_config,
                                                               changes, field, monkeypatch):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "G_A.safetensors").write_bytes((tiny_model / "G_A.safetensors").read_bytes())
    (folder / CONFIG_NAME).write_text(json.dumps(_bad(good_config, **changes)))
    with pytest.raises(ModelFolderError) as e:
        read_model_config(folder)
    assert str(folder / CONFIG_NAME) in str(e.value) and field in str(e.value)
    photo = images(tmp_path / "in", 1)
    for argv in (["translate", str(photo), "--model", str(folder), "--out", str(tmp_path / "o"), "--no-progress"],
                 ["info", str(folder)]):
        assert main(argv) == 2
        one_line_error(capsys, CONFIG_NAME, field)


def test_serve_refuses_a_wrong_schema_config_before_serving(tmp_path, capsys, tiny_model, good_config, monkeypatch):
    pytest.importorskip("fastapi")
    from pocketgan.app import assets

    built = tmp_path / "built"
    built.mkdir()
    (built / "index.html").write_text("<!doctype html>")
    (built / "build.json").write_text("{}")
    monkeypatch.setattr(assets, "STATIC_DIR", built)
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / CONFIG_NAME).write_text(json.dumps(_bad(good_config, generators__G_A__ngf=-1)))
    with socket.socket() as s:  # a free port: the address check passes, the model's config does not
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["serve", "--model", str(folder), "--port", str(port)]) == 2
    one_line_error(capsys, CONFIG_NAME, "generators.G_A.ngf")


def test_one_bad_imported_model_does_not_hide_the_others(tmp_path, capsys, model_home, tiny_model, good_config):
    for name in ("good_one", "bad_one", "worse/one"):
        folder = model_home / "models" / name
        folder.mkdir(parents=True)
        (folder / "G_A.safetensors").write_bytes((tiny_model / "G_A.safetensors").read_bytes())
        config = good_config if name == "good_one" else _bad(good_config, generators__G_A=["x"]) \
            if name == "bad_one" else {**good_config, "published": [1]}
        (folder / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.warns(UserWarning) as caught:  # (the CLI prints each as "warning: ..." on stderr)
        assert main(["models"]) == 0
    captured = capsys.readouterr()
    assert "good_one" in captured.out and "summer2winter" in captured.out and "bad_one" not in captured.out
    assert "Traceback" not in captured.err
    messages = sorted(str(w.message) for w in caught)
    assert messages[0].startswith("skipped imported model bad_one: ") and "generators.G_A" in messages[0]
    assert messages[1].startswith("skipped imported model worse/one: ") and "published" in messages[1]
    with pytest.warns(UserWarning):
        assert [r["name"] for r in list_models() if r["kind"] == "imported"] == ["good_one"]


def _checkpoint(path: Path, meta) -> Path:
    save_file({"x": torch.zeros(1)}, str(path), metadata={META_KEY: meta if isinstance(meta, str) else json.dumps(meta)})
    return path


@pytest.mark.parametrize("meta, field", [
    ({}, "config"),
    ({"config": {"model": "cyclegan", "data": "d"}}, "epoch"),
    ({"config": {"model": "cyclegan", "data": "d"}, "epoch": 0, "iter_in_epoch": 0, "step": "3",
      "steps_per_epoch": 4}, "step"),
    ({"config": [1], "step": 1}, "config"),
    ({"config": {"model": "cyclegan", "data": "d", "ngf": "wide"}, "epoch": 0, "iter_in_epoch": 0, "step": 0,
      "steps_per_epoch": 1}, 'ngf: "wide" is not a whole number'),
    ({"config": {"model": "nope", "data": "d"}, "epoch": 0, "iter_in_epoch": 0, "step": 0, "steps_per_epoch": 1},
     "config"),
    ("{not json", "not JSON"),
    ([1, 2], "mapping"),
])
def test_checkpoint_metadata_missing_keys_is_one_line_in_info(tmp_path, capsys, meta, field):
    ckpt = _checkpoint(tmp_path / "checkpoint.safetensors", meta)
    assert main(["info", str(ckpt)]) == 2
    one_line_error(capsys, str(ckpt), field)


def test_validate_checkpoint_meta_accepts_a_real_checkpoint(tmp_path, toy_data, tiny_config):
    from pocketgan.training.checkpoint import read_checkpoint_meta
    from pocketgan.training.run import train

    train(tiny_config(toy_data, tmp_path, max_steps=2, checkpoint_every=1))
    from pocketgan.training.run import CHECKPOINT

    ckpt = tmp_path / "t" / CHECKPOINT
    meta = read_checkpoint_meta(ckpt)
    assert validate_checkpoint_meta(meta, ckpt, resume=True) is meta
    comps = meta["components"]
    for key, broken_part, field in (("components", None, "components"), ("log", {}, "log window"),
                                    ("rng", {"numpy": []}, "rng"), ("optim.G", {"plain_state": {}}, "optim.G.param_groups")):
        broken = {**meta, "components": {**comps, key: broken_part}} if key != "components" else \
            {k: v for k, v in meta.items() if k != key}
        with pytest.raises(CheckpointError, match=field):
            validate_checkpoint_meta(broken, ckpt, resume=True)
        validate_checkpoint_meta(broken, ckpt)  # what info reads is still there


def test_import_of_small_random_files_never_gives_a_traceback(tmp_path, capsys, expressive_generator):
    """40 small files, seeded: random bytes, truncated zip and pickle headers, truncated and bit-flipped
    real checkpoints. Each is a one-line error (exit 2)."""
    rng = random.Random(17)
    real = io.BytesIO()
    torch.save(expressive_generator(0).state_dict(), real)
    real = real.getvalue()
    old_style = io.BytesIO()
    torch.save(expressive_generator(0).state_dict(), old_style, _use_new_zipfile_serialization=False)
    old_style = old_style.getvalue()
    heads = [b"PK\x03\x04", b"PK\x05\x06", b"\x80\x02", b"\x80\x04\x95", b"\x80\x02\x8a\x0alY\xfcjP\x19\x00",
             real[:64], old_style[:64], b"\x93NUMPY", b"{}", b"\x00" * 8]
    files = []
    for i in range(40):
        kind = i % 5
        if kind == 0:
            data = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300)))
        elif kind == 1:
            data = rng.choice(heads) + bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 200)))
        elif kind == 2:
            data = real[:rng.randint(1, len(real) - 1)]
        elif kind == 3:
            data = old_style[:rng.randint(1, len(old_style) - 1)]
        else:
            data = bytearray(rng.choice((real, old_style)))
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            data = bytes(data)
        files.append(data)
    codes = []
    for i, data in enumerate(files):
        path = tmp_path / f"f{i}.pth"
        path.write_bytes(data)
        code = main(["import", str(path), "--out", str(tmp_path / f"m{i}"), "--arch", "mobile_resnet_6blocks",
                     "--ngf", "4", "--norm", "batch"])
        err = capsys.readouterr().err
        assert "Traceback" not in err, (i, err)
        assert code == 2 or (code == 0 and (tmp_path / f"m{i}" / CONFIG_NAME).is_file()), (i, code, err)
        codes.append(code)
    assert codes.count(2) >= 30  # a bit flip in a tensor's data still imports: that file is a valid checkpoint


# ---------------------------------------------------------------- 9. archives

def _zip_of_zeros(path: Path, megabytes: int) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z, z.open("horse2zebra/trainA/zeros.bin", "w") as f:
        block = bytes(1 << 20)
        for _ in range(megabytes):
            f.write(block)
    return path


def test_the_issues_zip_bomb_is_refused_in_one_line(tmp_path):
    bomb = _zip_of_zeros(tmp_path / "horse2zebra.zip", 210)
    assert bomb.stat().st_size < 400_000
    with pytest.raises(DataError, match="decompression bomb"):
        unpack(bomb, tmp_path / "datasets")
    assert not any((tmp_path / "datasets").rglob("*.bin"))  # nothing was unpacked
    assert not [p for p in (tmp_path / "datasets").iterdir()]  # nor its temporary folder left behind


def test_archive_limits_on_size_ratio_and_members(tmp_path):
    small = _zip_of_zeros(tmp_path / "s.zip", 20)  # 20 MB of zeros: over the ratio once past 16 MB
    with pytest.raises(DataError, match=r"more than 20x"):
        unpack(small, tmp_path / "a")
    with pytest.raises(DataError, match="unpacks to more than 1,000 bytes"):
        unpack(small, tmp_path / "b", max_bytes=1000)
    tgz = tmp_path / "t.tar.gz"
    with tarfile.open(tgz, "w:gz") as t:
        for name, size in (("x/a.bin", 10), ("x/b.bin", 3000)):
            info = tarfile.TarInfo(name)
            info.size = size
            t.addfile(info, io.BytesIO(bytes(size)))
    with pytest.raises(DataError, match="at 'x/b.bin'"):  # refused at the member that crosses the limit
        unpack(tgz, tmp_path / "c", max_bytes=1000)
    assert unpack(tgz, tmp_path / "d").joinpath("x", "b.bin").stat().st_size == 3000  # within the limits: fine


def test_download_verifies_the_catalogue_sha256(tmp_path, server):
    import localhttp

    body = io.BytesIO()
    with zipfile.ZipFile(body, "w") as z:
        z.writestr("toy/trainA/a.txt", "a")
        z.writestr("toy/trainB/b.txt", "b")
    localhttp.Handler.files["/toy.zip"] = body.getvalue()
    wrong = {"toy": DatasetSource("toy", f"{server}/toy.zip", "cyclegan", sha256="0" * 64)}
    with pytest.raises(DataError, match="checksum mismatch"):
        download_dataset("toy", tmp_path, progress=False, catalogue=wrong)
    import hashlib
    right = {"toy": DatasetSource("toy", f"{server}/toy.zip", "cyclegan",
                                  sha256=hashlib.sha256(body.getvalue()).hexdigest())}
    assert (download_dataset("toy", tmp_path, progress=False, catalogue=right) / "trainA" / "a.txt").is_file()


def test_download_refuses_more_than_expected(tmp_path, server):
    import localhttp

    localhttp.Handler.files["/big.pth"] = bytes(5000)
    with pytest.raises(DataError, match="more than the 1,000"):
        download.fetch(f"{server}/big.pth", tmp_path / "big.pth", progress=False, max_bytes=1000)
    assert not list(tmp_path.iterdir()) or not any(p.stat().st_size for p in tmp_path.iterdir())
