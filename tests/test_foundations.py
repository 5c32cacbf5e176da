"""The shared foundations every command builds on: directions, device resolution, pocketgan's home
folder, file digests, eval_mode, first_line and the user-error classes."""
from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn as nn

from pocketgan import choices
from pocketgan.devices import resolve_device
from pocketgan.directions import DIRECTION_NAMES, DIRECTIONS, SLOTS, Direction, get_direction
from pocketgan.errors import MissingDependency, OptionError, PocketganError, first_line
from pocketgan.home import file_digest, pocketgan_home
from pocketgan.models.modes import eval_mode

# --------------------------------------------------------------------------- directions


def test_directions_slots_folders_and_partner():
    a2b, b2a = get_direction("AtoB"), get_direction("BtoA")
    assert (a2b.slot, a2b.source, a2b.target, a2b.discriminator) == ("G_A", "A", "B", "D_A")
    assert (b2a.slot, b2a.source, b2a.target, b2a.discriminator) == ("G_B", "B", "A", "D_B")
    assert a2b.folders() == ("testA", "testB") and b2a.folders("train") == ("trainB", "trainA")
    assert a2b.other is b2a and b2a.other is a2b and a2b.other.other is a2b
    assert a2b.label == "A→B"
    assert get_direction(b2a) is b2a  # a Direction passes through
    assert DIRECTION_NAMES == ("AtoB", "BtoA") and SLOTS == {"G_A": a2b, "G_B": b2a}
    assert all(isinstance(d, Direction) and d.name == name for name, d in DIRECTIONS.items())


@pytest.mark.parametrize("bad", ["atob", "AtoC", "", None, 3])
def test_bad_direction_is_one_line_user_error(bad):
    with pytest.raises(PocketganError) as err:
        get_direction(bad)
    message = str(err.value)
    assert "\n" not in message and "AtoB or BtoA" in message and repr(bad) in message


# --------------------------------------------------------------------------- devices


@pytest.fixture
def no_accelerator(monkeypatch):
    """This machine as a CPU-only one, whatever it really has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    if getattr(torch.backends, "mps", None) is not None:
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_auto_is_cpu_without_accelerators(no_accelerator):
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device() == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")


def test_auto_prefers_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")


@pytest.mark.parametrize("name,words", [("nope", "unknown device"), ("cuda", "no usable CUDA"),
                                        ("cuda:1", "no usable CUDA"), ("mps", "MPS is not available"),
                                        ("meta", "unsupported device")])
def test_unusable_device_is_one_line_user_error(no_accelerator, name, words):
    with pytest.raises(PocketganError, match=words) as err:
        resolve_device(name)
    assert "\n" not in str(err.value) and name in str(err.value)


def test_cuda_index_beyond_the_devices_present(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(PocketganError, match="only 1 CUDA device"):
        resolve_device("cuda:1")


# --------------------------------------------------------------------------- home and digests


def test_pocketgan_home_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.delenv("POCKETGAN_HOME", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert pocketgan_home() == tmp_path / "user" / ".cache" / "pocketgan"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert pocketgan_home() == tmp_path / "xdg" / "pocketgan"
    monkeypatch.setenv("POCKETGAN_HOME", str(tmp_path / "pg"))
    assert pocketgan_home() == tmp_path / "pg"  # wins over XDG_CACHE_HOME
    monkeypatch.setenv("POCKETGAN_HOME", "")  # set but empty: ignored
    assert pocketgan_home() == tmp_path / "xdg" / "pocketgan"


def test_pocketgan_home_moves_the_inception_feature_cache(monkeypatch, tmp_path):
    from pocketgan.evaluation import evaluate as ev

    monkeypatch.setenv("POCKETGAN_HOME", str(tmp_path / "pg"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert ev.cache_dir() == tmp_path / "pg" / "features"
    files = []
    for i in range(3):
        files.append(tmp_path / f"{i}.png")
        files[-1].write_bytes(b"x" * (i + 1))
    calls = []

    def fake_features(images, **kw):  # no Inception network needed to test where the cache lives
        calls.append(len(images))
        return np.arange(len(images) * 4, dtype=np.float64).reshape(len(images), 4)

    monkeypatch.setattr(ev, "inception_features", fake_features)
    first = ev.cached_features(files, [None] * 3, "clean", "cpu", False, "features")
    again = ev.cached_features(files, [None] * 3, "clean", "cpu", False, "features")
    assert calls == [3] and np.array_equal(first, again)  # the second call came from the cache
    assert len(list((tmp_path / "pg" / "features").glob("*.npy"))) == 1
    assert not (tmp_path / "xdg").exists()


@pytest.mark.parametrize("algorithm", ["sha256", "sha1", "md5"])
def test_file_digest_matches_hashlib(tmp_path, algorithm):
    data = np.random.default_rng(0).integers(0, 256, 10_000, dtype=np.uint8).tobytes()
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    expected = hashlib.new(algorithm, data).hexdigest()
    assert file_digest(path, algorithm) == expected
    assert file_digest(str(path), algorithm, chunk=777) == expected  # many chunks, a short last one
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert file_digest(empty) == hashlib.sha256(b"").hexdigest()


# --------------------------------------------------------------------------- eval_mode


def test_eval_mode_restores_each_net_as_it_was():
    training, evaluating = nn.Sequential(nn.Linear(2, 2), nn.Dropout()), nn.BatchNorm1d(2).eval()
    training.train()
    with eval_mode(training, evaluating):
        assert not training.training and not training[1].training and not evaluating.training
    assert training.training and training[1].training and not evaluating.training


def test_eval_mode_restores_when_the_body_raises():
    a, b = nn.Linear(2, 2).train(), nn.Dropout().eval()
    with pytest.raises(KeyError), eval_mode(a, b):
        assert not a.training
        raise KeyError("boom")
    assert a.training and not b.training


def test_eval_mode_really_evaluates():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Dropout(0.5)).train()
    x = torch.ones(1000)
    with eval_mode(net):
        assert torch.equal(net(x), x)  # no dropout inside
    assert (net(x) == 0).any()  # dropout again after


# --------------------------------------------------------------------------- first_line and error classes


def test_first_line():
    assert first_line(ValueError("first\nsecond\nthird")) == "first"
    assert first_line(RuntimeError("\n \n  indented line\nmore")) == "indented line"  # blank lines skipped
    assert first_line(KeyError()) == "KeyError" and first_line(OSError("   \n ")) == "OSError"
    long = first_line(ValueError("x" * 500))
    assert len(long) == 200 and long.endswith("…")
    assert first_line(ValueError("y" * 200)) == "y" * 200  # at the limit: kept whole
    assert first_line(ValueError("abcdef"), limit=4) == "abc…"


def test_user_errors_are_pocketgan_errors():
    from pocketgan.app import ServeError
    from pocketgan.app.assets import AssetsMissing
    from pocketgan.app.uploads import UploadError
    from pocketgan.data.images import DataError, ImageError
    from pocketgan.data.transforms import Preprocess
    from pocketgan.evaluation.inception import InceptionUnavailable
    from pocketgan.export.exporter import ExportError
    from pocketgan.inference.runners import ModelFileError
    from pocketgan.models import create_generator
    from pocketgan.models.pretrained import ModelFolderError

    for cls in (DataError, ImageError, ModelFolderError, InceptionUnavailable, AssetsMissing, UploadError, ServeError,
                ModelFileError, ExportError, OptionError, MissingDependency):
        assert issubclass(cls, PocketganError) and issubclass(cls, ValueError), cls
    assert issubclass(InceptionUnavailable, MissingDependency)
    with pytest.raises(OptionError, match="unknown generator 'resnet_99blocks'"):
        create_generator("resnet_99blocks")
    with pytest.raises(OptionError, match="unknown norm"):
        create_generator("resnet_6blocks", norm="group")
    with pytest.raises(OptionError, match="unknown preprocess mode"):
        Preprocess(mode="zoom")


def test_missing_extras_name_the_pip_command(monkeypatch, tmp_path):
    from pocketgan.app import require_app_dependencies
    from pocketgan.inference.runners import OnnxRunner

    monkeypatch.setitem(sys.modules, "fastapi", None)  # `import fastapi` now fails
    with pytest.raises(MissingDependency, match=r"pip install 'pocketgan\[app\]'"):
        require_app_dependencies()
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(MissingDependency, match=r"onnxruntime: pip install 'pocketgan\[export\]'") as err:
        OnnxRunner(tmp_path / "m.onnx")
    assert not isinstance(err.value, ImportError) and "\n" not in str(err.value)


def test_exported_file_errors(tmp_path):
    from pocketgan.inference.runners import ModelFileError, load_runner

    with pytest.raises(ModelFileError, match="no such exported model file"):
        load_runner(tmp_path / "missing.onnx")
    (tmp_path / "m.pt").write_bytes(b"x")
    with pytest.raises(ModelFileError, match="unknown model file type"):
        load_runner(tmp_path / "m.pt")


def test_option_tuples_are_defined_once():
    from pocketgan.data import transforms
    from pocketgan.evaluation import inception
    from pocketgan.export import litert
    from pocketgan.models import layers, losses

    assert losses.GAN_MODES is choices.GAN_MODES and layers.NORMS is choices.NORMS
    assert layers.INIT_TYPES is choices.INIT_TYPES and transforms.PREPROCESS_MODES is choices.PREPROCESS_MODES
    assert inception.EVAL_CONVENTIONS is choices.EVAL_CONVENTIONS and litert.QUANTIZE_CHOICES == (None, *choices.QUANTIZE_MODES)
    assert not hasattr(inception, "RESIZE_MODES")  # the old private copy is gone


def test_running_exported_files_does_not_import_export():
    """inference/ runs .onnx/.tflite files with its own runners: it never climbs up into export/."""
    code = ("import sys, pocketgan.inference.pipeline, pocketgan.inference.translate, pocketgan.app.model; "
            "print(sorted(m for m in sys.modules if m.startswith('pocketgan.export')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
