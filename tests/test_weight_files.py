"""Damaged weight files through every command that reads weights (issue: damaged weight files reach
users as tracebacks). A safetensors file whose header lies (its length, its offsets, its dtypes, its
shapes), one that is not JSON, a truncated one: `import`, `translate --model`, `info` and
`train --init-from` each answer with one `pocketgan: error:` line naming the file, what is wrong
and what to do (exit 2), never a traceback. The format is recognised by the file's first bytes, not
its suffix. Also the output side of the atomic writer those files and the translations go through:
names at the file system's limit are written with exactly that name, and one output the file system
refuses for its name is skipped while the batch goes on."""
from __future__ import annotations

import errno
import io
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import save, save_file

from clihelp import one_line_error
from pocketgan.cli import main
from pocketgan.models import create_generator
from pocketgan.models.pretrained import ModelFolderError, load_generator, save_pretrained
from pocketgan.models.weights import HEADER_LIMIT, WeightsError, read_safetensors, read_weights
from pocketgan.training.checkpoint import META_KEY, CheckpointError, load_checkpoint, read_checkpoint_meta

ADVICE = "re-download or re-export it"


# ---------------------------------------------------------------- damaging a good file

def split(data: bytes) -> tuple[dict, bytes]:
    n = int.from_bytes(data[:8], "little")
    return json.loads(data[8:8 + n]), data[8 + n:]


def join(header: dict | bytes, body: bytes) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return len(raw).to_bytes(8, "little") + raw + body


def last_tensor(header: dict) -> str:
    return max((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"][1])


def retag(data: bytes, **changes) -> bytes:
    """``data`` with the last tensor's header entry changed (its bytes untouched)."""
    header, body = split(data)
    header[last_tensor(header)].update(changes)
    return join(header, body)


def past_the_end(data: bytes) -> bytes:
    header, body = split(data)
    start = header[last_tensor(header)]["data_offsets"][0]
    return retag(data, data_offsets=[start, start + 10 * len(data)])


# name -> (damage, a fragment the error line must hold: it says what is wrong)
DAMAGE: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "header length 10^15": (lambda b: (10 ** 15).to_bytes(8, "little") + b[8:], "header length"),
    "header length past the end": (lambda b: (len(b)).to_bytes(8, "little") + b[8:], "header length"),
    "offsets past the end": (past_the_end, "data_offsets"),
    "header not JSON": (lambda b: join(b"{this is not JSON at all}", split(b)[1]), "not JSON"),
    "unknown dtype": (lambda b: retag(b, dtype="F99"), "'F99'"),
    "shape against byte length": (lambda b: retag(b, shape=[3, 5, 7, 11]), "shape"),
    "truncated": (lambda b: b[: len(b) // 2], "cut short"),
    "five bytes": (lambda b: b[:5], "5 bytes"),
}
CASES = pytest.mark.parametrize("damage", list(DAMAGE), ids=list(DAMAGE))


def damaged(good: bytes, damage: str) -> bytes:
    return DAMAGE[damage][0](good)


@pytest.fixture(scope="module")
def generator_bytes() -> bytes:
    torch.manual_seed(0)
    net = create_generator("resnet_6blocks", ngf=4)
    return save({k: v.contiguous() for k, v in net.state_dict().items()})


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return save_pretrained(tmp_path_factory.mktemp("m") / "model", {"G_A": create_generator("resnet_6blocks", ngf=4)})


def broken_model(model: Path, folder: Path, damage: str) -> Path:
    shutil.copytree(model, folder)
    weights = folder / "G_A.safetensors"
    weights.write_bytes(damaged(weights.read_bytes(), damage))
    return weights


def checkpoint_bytes() -> bytes:
    meta = {"config": {"model": "cyclegan", "data": "d"}, "epoch": 0, "iter_in_epoch": 0, "step": 0, "steps_per_epoch": 1}
    return save({"net.G_A.w": torch.zeros(2, 3), "net.D_A.w": torch.ones(4)}, metadata={META_KEY: json.dumps(meta)})


def image(path: Path) -> Path:
    Image.new("RGB", (32, 32), (40, 120, 200)).save(path)
    return path


# ---------------------------------------------------------------- the commands

@CASES
def test_import_of_a_damaged_safetensors_is_one_line(tmp_path, capsys, generator_bytes, damage):
    path = tmp_path / "G.safetensors"
    path.write_bytes(damaged(generator_bytes, damage))
    assert main(["import", str(path), "--out", str(tmp_path / "m"), "--arch", "resnet_6blocks", "--ngf", "4"]) == 2
    one_line_error(capsys, str(path), DAMAGE[damage][1], ADVICE)
    assert not (tmp_path / "m").exists()


@CASES
def test_translate_with_a_damaged_model_folder_is_one_line(tmp_path, capsys, model, damage):
    weights = broken_model(model, tmp_path / "broken", damage)
    src = image(tmp_path / "a.png")
    assert main(["translate", str(src), "--model", str(weights.parent), "--out", str(tmp_path / "o"),
                 "--no-progress", "--device", "cpu"]) == 2
    one_line_error(capsys, str(weights), "unreadable weights", DAMAGE[damage][1], ADVICE)


@CASES
def test_info_on_a_damaged_checkpoint_is_one_line(tmp_path, capsys, damage):
    ckpt = tmp_path / "run" / "checkpoints" / "last.safetensors"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(damaged(checkpoint_bytes(), damage))
    for target in (ckpt, tmp_path / "run"):  # the file itself, or the run folder that holds it
        assert main(["info", str(target)]) == 2
        one_line_error(capsys, str(ckpt), "unreadable checkpoint", DAMAGE[damage][1])


TRAIN = ["train", "--netG", "resnet_6blocks", "--ngf", "4", "--ndf", "4", "--load-size", "36", "--crop-size", "32",
         "--batch-size", "2", "--max-steps", "1", "--amp", "off", "--no-progress", "--device", "cpu"]


@pytest.mark.parametrize("damage", ["header length 10^15", "unknown dtype", "offsets past the end"])
def test_init_from_a_damaged_model_folder_is_one_line(tmp_path, capsys, model, toy_data, damage):
    weights = broken_model(model, tmp_path / "broken", damage)
    argv = [*TRAIN, "--data", str(toy_data), "--runs-dir", str(tmp_path / "runs"), "--name", "w",
            "--init-from", str(weights.parent)]
    assert main(argv) == 2
    one_line_error(capsys, "--init-from", str(weights), DAMAGE[damage][1], ADVICE)


@pytest.mark.parametrize("damage", ["header length 10^15", "header not JSON", "shape against byte length"])
def test_init_from_a_run_with_a_damaged_checkpoint_is_one_line(tmp_path, capsys, toy_data, damage):
    ckpt = tmp_path / "src" / "checkpoints" / "last.safetensors"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(damaged(checkpoint_bytes(), damage))
    argv = [*TRAIN, "--data", str(toy_data), "--runs-dir", str(tmp_path / "runs"), "--name", "w",
            "--init-from", str(tmp_path / "src")]
    assert main(argv) == 2
    one_line_error(capsys, "--init-from", str(ckpt), "unreadable checkpoint", DAMAGE[damage][1])


# ---------------------------------------------------------------- the loader itself

@CASES
def test_every_reader_raises_its_one_error_type(tmp_path, generator_bytes, model, damage):
    path = tmp_path / "w.safetensors"
    path.write_bytes(damaged(generator_bytes, damage))
    for read in (read_weights, read_safetensors):
        with pytest.raises(WeightsError) as e:
            read(path)
        assert str(path) in str(e.value) and "\n" not in str(e.value)
    weights = broken_model(model, tmp_path / "m", damage)
    with pytest.raises(ModelFolderError, match="unreadable weights"):  # a WeightsError is a ModelFolderError
        load_generator(weights.parent)
    ckpt = tmp_path / "c.safetensors"
    ckpt.write_bytes(damaged(checkpoint_bytes(), damage))
    for read in (load_checkpoint, read_checkpoint_meta):
        with pytest.raises(CheckpointError, match="unreadable checkpoint"):
            read(ckpt)


def test_the_format_comes_from_the_bytes_not_the_suffix(tmp_path, generator_bytes, capsys):
    torch.manual_seed(1)
    net = create_generator("resnet_6blocks", ngf=4)
    pth = io.BytesIO()
    torch.save(net.state_dict(), pth)
    # a safetensors file named .pth, a PyTorch zip named .safetensors (torch.load would hand it to safetensors)
    (tmp_path / "st.pth").write_bytes(save({k: v.contiguous() for k, v in net.state_dict().items()}))
    (tmp_path / "zip.safetensors").write_bytes(pth.getvalue())
    for name in ("st.pth", "zip.safetensors"):
        state = read_weights(tmp_path / name)
        assert state.keys() == net.state_dict().keys()
        assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())
        out = tmp_path / f"m-{name}"
        assert main(["import", str(tmp_path / name), "--out", str(out), "--arch", "resnet_6blocks", "--ngf", "4"]) == 0
        x = torch.randn(1, 3, 32, 32)
        assert torch.allclose(load_generator(out)(x), net.eval()(x))
    capsys.readouterr()


def test_neither_format_says_so(tmp_path, capsys):
    path = tmp_path / "page.pth"
    path.write_bytes(b"<html>not a checkpoint</html>")
    assert main(["import", str(path), "--out", str(tmp_path / "m")]) == 2
    one_line_error(capsys, str(path), "not a loadable PyTorch weights file or safetensors file", "'<html>", ADVICE)


def test_a_pickle_that_is_not_a_state_dict(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], path)
    with pytest.raises(WeightsError, match=r"list\.pth: .*state_dict"):
        read_weights(path)
    torch.save({"state_dict": {"w": torch.ones(2)}}, path)  # a training script's wrapper is opened
    assert torch.equal(read_weights(path)["w"], torch.ones(2))


def test_a_header_over_the_cap_is_refused_unread(tmp_path):
    """A header length within the file but over the format's 100 MB cap (a sparse file: no disk used)."""
    path = tmp_path / "big.safetensors"
    with open(path, "wb") as f:
        f.write((HEADER_LIMIT + 1).to_bytes(8, "little") + b"{")
        f.truncate(HEADER_LIMIT + 64)
    with pytest.raises(WeightsError, match=r"header length 100,000,001 bytes is over the 100,000,000-byte limit"):
        read_safetensors(path)


def test_missing_and_folder_weights(tmp_path, model):
    folder = tmp_path / "m"
    shutil.copytree(model, folder)
    (folder / "G_A.safetensors").unlink()
    with pytest.raises(WeightsError, match=r"G_A\.safetensors: missing weights file"):
        load_generator(folder)
    (folder / "G_A.safetensors").mkdir()
    with pytest.raises(WeightsError, match=r"G_A\.safetensors: .*folder"):
        load_generator(folder)


def test_good_files_load_exactly(tmp_path):
    tensors = {"a": torch.arange(6, dtype=torch.float32).reshape(2, 3), "b": torch.tensor([1, 2], dtype=torch.int64),
               "empty": torch.zeros(0, 5), "h": torch.ones(3, dtype=torch.float16)}
    save_file(tensors, tmp_path / "ok.safetensors", metadata={"k": "v"})
    state, meta = read_safetensors(tmp_path / "ok.safetensors")
    assert meta == {"k": "v"} and state.keys() == tensors.keys()
    assert all(torch.equal(state[k], v) and state[k].dtype == v.dtype for k, v in tensors.items())


# ---------------------------------------------------------------- output names at the file system's limit
# (issue: long file names stop a whole batch; the atomic writer's temp name must fit the limit too)

def name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (AttributeError, ValueError, OSError):
        return 255


def pictures(folder: Path, names: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        Image.new("RGB", (32, 32), (10 * i, 100, 200)).save(folder / name, format="PNG")
    return folder


def translate(src: Path | list[Path], out: Path, model: Path) -> int:
    inputs = [str(p) for p in (src if isinstance(src, list) else [src])]
    return main(["translate", *inputs, "--model", str(model), "--out", str(out), "--no-progress", "--device", "cpu"])


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("stem", ["x" * 242, "y" * 246, "é" * 125, "日本" * 41 + "z"],
                         ids=["246 bytes", "250 bytes", "254 bytes of 2-byte UTF-8", "251 bytes of 3-byte UTF-8"])
def test_names_near_the_limit_are_translated_with_that_exact_name(tmp_path, capsys, model, stem):
    long_name = stem + ".png"
    assert len(long_name.encode()) <= name_max(tmp_path)
    src = pictures(tmp_path / "in", ["a.png", long_name, "b.png"])
    assert translate(src, tmp_path / "out", model) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(["a.png", long_name, "b.png"])
    assert "wrote 3 images" in capsys.readouterr().out


def test_an_output_name_over_the_limit_is_skipped_and_the_batch_goes_on(tmp_path, capsys, model):
    # the same 251-byte stem in two folders: the second output would be <stem>-2.png, 257 bytes
    stem = "w" * 251
    first = pictures(tmp_path / "one", ["a.png", stem + ".png"])
    second = pictures(tmp_path / "two", [stem + ".png", "c.png"])
    out = tmp_path / "out"
    assert translate([first, second], out, model) == 1
    captured = capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == sorted(["a.png", stem + ".png", "c.png"])
    warnings = [line for line in captured.err.splitlines() if line.startswith("skipped")]
    assert len(warnings) == 1 and f"{stem}-2.png" in warnings[0] and "too long" in warnings[0], captured.err
    assert "wrote 3 images" in captured.out and "1 output" in captured.out and "Traceback" not in captured.err


def test_a_folder_in_the_way_of_one_output_is_skipped(tmp_path, capsys, model):
    src = pictures(tmp_path / "in", ["a.png", "b.png", "c.png"])
    out = tmp_path / "out"
    (out / "b.png").mkdir(parents=True)
    assert translate(src, out, model) == 1
    captured = capsys.readouterr()
    assert (out / "a.png").is_file() and (out / "c.png").is_file() and (out / "b.png").is_dir()
    assert "skipped" in captured.err and str(out / "b.png") in captured.err and "folder" in captured.err
    assert not leftovers(out)


def test_nothing_written_is_not_success(tmp_path, capsys, model):
    src = pictures(tmp_path / "in", ["only.png"])
    out = tmp_path / "out"
    (out / "only.png").mkdir(parents=True)
    assert translate(src, out, model) == 1
    captured = capsys.readouterr()
    assert "wrote 0 images" in captured.out and "1 output" in captured.out
    assert not leftovers(out)


def test_an_invalid_name_is_skipped_but_a_full_disk_still_stops(tmp_path, capsys, model, monkeypatch):
    import pocketgan.fileio as fileio

    src = pictures(tmp_path / "in", ["a.png", "bad.png", "c.png", "d.png"])
    real_replace = os.replace

    def replace(tmp, dst):
        name = Path(dst).name
        if name == "bad.png":  # a file system that refuses the name (e.g. one that enforces UTF-8)
            raise OSError(errno.EILSEQ, os.strerror(errno.EILSEQ), str(dst))
        if name == "d.png" and full_disk:
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real_replace(tmp, dst)
    monkeypatch.setattr(fileio.os, "replace", replace)
    full_disk = False
    assert translate(src, tmp_path / "o1", model) == 1
    captured = capsys.readouterr()
    assert sorted(p.name for p in (tmp_path / "o1").iterdir()) == ["a.png", "c.png", "d.png"]
    assert "bad.png" in captured.err and "1 output" in captured.out
    full_disk = True
    assert translate(src, tmp_path / "o2", model) == 2
    line = one_line_error(capsys, "No space left on device", "d.png", "free some space")
    assert "2 of 4 images were written" in line
    assert sorted(p.name for p in (tmp_path / "o2").iterdir()) == ["a.png", "c.png"]


@pytest.mark.parametrize("stem", ["z" * 251, "ü" * 125 + "z"], ids=["255 ascii", "255 bytes utf-8"])
def test_the_atomic_writer_makes_exactly_that_name_at_the_limit(tmp_path, stem):
    from pocketgan.fileio import atomic_write_bytes

    name = stem + ".png"
    assert len(name.encode()) == 255 <= name_max(tmp_path)
    atomic_write_bytes(tmp_path / name, b"data")
    assert [p.name for p in tmp_path.iterdir()] == [name] and (tmp_path / name).read_bytes() == b"data"


def test_an_errno_about_the_folder_not_the_name_still_stops(tmp_path, capsys, model, monkeypatch):
    """EINVAL from fsync (a file system that cannot sync) names no file: every output would fail
    the same way, so the batch stops in one line rather than skipping them all."""
    import pocketgan.fileio as fileio

    src = pictures(tmp_path / "in", ["a.png", "b.png"])

    def fsync(fd):
        raise OSError(errno.EINVAL, "Invalid argument")
    monkeypatch.setattr(fileio.os, "fsync", fsync)
    assert translate(src, tmp_path / "out", model) == 2
    one_line_error(capsys, "Invalid argument", "0 of 2 images were written")
    assert not list((tmp_path / "out").iterdir())


def test_an_export_to_a_name_at_the_limit_is_verified_and_written(tmp_path, model):
    """The exporter's staging file (verified before it takes the final name) fits the limit too."""
    out = tmp_path / ("e" * 245 + ".onnx")  # its card, NAME.json, takes the last 5 bytes
    assert len(out.name.encode()) + len(".json") == 255 == name_max(tmp_path)
    assert main(["export", "--model", str(model), "--format", "onnx", "--size", "32", "--out", str(out)]) == 0
    assert out.is_file() and (tmp_path / (out.name + ".json")).is_file() and leftovers(tmp_path) == []


def test_an_export_name_its_card_cannot_follow_is_refused_first(tmp_path, model, capsys):
    out = tmp_path / ("e" * 246 + ".onnx")
    assert main(["export", "--model", str(model), "--format", "onnx", "--size", "32", "--out", str(out)]) == 2
    assert "name too long" in capsys.readouterr().err and list(tmp_path.iterdir()) == []
