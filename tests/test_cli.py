"""The command line itself: parsing is light, bad values are usage errors, errors are one line or a traceback."""
import json
import subprocess
import sys
import textwrap

import pytest
from PIL import Image

import pocketgan.cli as cli
from pocketgan.cli import main
from pocketgan.errors import PocketganError

HEAVY = ("torch", "numpy", "PIL", "onnx", "onnxruntime", "fastapi", "uvicorn", "matplotlib", "safetensors", "scipy",
         "huggingface_hub")

# one command line per subcommand (and data tool): parsed in a fresh interpreter, nothing heavy may load
ARGVS = [
    ["train", "--data", "d", "--objective", "pix2pix", "--lambda-L1", "50", "--no-flip"],
    ["train", "--objective", "distill", "--teacher", "t", "--data", "d", "--lambda-recon", "5"],
    ["distill", "--teacher", "t", "--data", "d", "--student", "mobile_resnet_6blocks"],
    ["translate", "a.png", "--model", "m", "--direction", "BtoA", "--format", "jpg", "--max-size", "0"],
    ["export", "--model", "m", "--format", "onnx", "--quantize", "fp16", "--size", "128"],
    ["info", "m", "--size", "64", "--json"],
    ["import", "x.pth", "--out", "o", "--as", "G_B", "--ngf", "8", "--norm", "batch"],
    ["push", "runs/x", "me/model", "--private", "--revision", "dev", "--license", "mit", "--dry-run", "--out", "o"],
    ["models", "--published", "--json"],
    ["evaluate", "--model", "m", "--data", "d", "--direction", "both", "--convention", "pytorch-fid",
     "--max-images", "4", "--kid-subset", "2"],
    ["benchmark", "--model", "m", "--formats", "onnx,tflite", "--quantize", "fp32,int8", "--size", "64", "--threads", "1",
     "--data", "d", "--limit", "4", "--json", "b.json", "--plot", "b.png"],
    ["report", "runs/x", "--images", "p"],
    ["serve", "--model", "m", "--port", "8080", "--workers", "1", "--max-upload-mb", "2.5"],
    ["data", "pair", "a", "b", "--out", "o", "--format", "jpg"],
    ["data", "download", "--list"],
    ["demo", "--epochs", "1", "--model", "pix2pix"],
]


def test_parsing_every_command_imports_nothing_heavy():
    """In a fresh interpreter (other tests' imports would mask it): build the parser, parse a command
    line of every subcommand and format every --help; torch & co. stay unloaded. (train/distill leave
    an objective's own flags, e.g. --lambda-L1, to that objective's parser, which imports its module.)"""
    script = textwrap.dedent(f"""
        import contextlib, io, json, sys
        from pocketgan.cli import build_parser
        argvs = {ARGVS!r}
        parser = build_parser()
        commands = set()
        for argv in argvs:
            args, extra = build_parser().parse_known_args(argv)
            assert not extra or args.command in ("train", "distill"), argv
            assert all(not e.startswith("--") or e in ("--lambda-L1", "--teacher", "--lambda-recon") for e in extra), extra
            commands.add(args.command)
        for argv in [[c, "--help"] for c in parser._subparsers._group_actions[0].choices] + [["--version"]]:
            with contextlib.redirect_stdout(io.StringIO()):
                try:
                    parser.parse_args(argv)
                except SystemExit:
                    pass
        every = set(parser._subparsers._group_actions[0].choices)
        print(json.dumps({{"missing": sorted(every - commands),
                           "heavy": sorted(m for m in {HEAVY!r} if m in sys.modules),
                           "pocketgan": sorted(m for m in sys.modules if m.startswith("pocketgan"))}}))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)
    assert found["heavy"] == []
    assert found["missing"] == []  # a new command gets a line in ARGVS
    assert not any(m.startswith(("pocketgan.models", "pocketgan.inference", "pocketgan.data."))
                   for m in found["pocketgan"]), found["pocketgan"]


def test_version_and_help_are_quick_to_start(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.startswith("pocketgan ")
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    out = capsys.readouterr().out
    assert "benchmarks/README.md" in out and " min " not in out  # no measured speeds in the help


@pytest.mark.parametrize("argv, flag", [
    (["translate", "a.png", "--max-size", "-5"], "--max-size"),
    (["translate", "a.png", "--batch-size", "0"], "--batch-size"),
    (["translate", "a.png", "--batch-size", "two"], "--batch-size"),
    (["export", "--model", "m", "--format", "onnx", "--size", "100000"], "--size"),
    (["export", "--model", "m", "--format", "onnx", "--size", "0"], "--size"),
    (["info", "m", "--size", "5000"], "--size"),
    (["serve", "--max-upload-mb", "inf"], "--max-upload-mb"),
    (["serve", "--max-upload-mb", "nan"], "--max-upload-mb"),
    (["serve", "--max-upload-mb", "0"], "--max-upload-mb"),
    (["serve", "--port", "70000"], "--port"),
    (["serve", "--workers", "0"], "--workers"),
    (["serve", "--max-size", "-1"], "--max-size"),
    (["import", "x.pth", "--out", "o", "--ngf", "-1"], "--ngf"),
    (["evaluate", "--model", "m", "--data", "d", "--kid-subset", "0"], "--kid-subset"),
    (["evaluate", "--model", "m", "--data", "d", "--max-images", "0"], "--max-images"),
    (["evaluate", "--model", "m", "--data", "d", "--max-size", "-3"], "--max-size"),
    (["demo", "--epochs", "0"], "--epochs"),
    (["train", "--data", "d", "--lr", "nan"], "--lr"),
    (["train", "--data", "d", "--objective", "nope"], "--objective"),
    (["train", "--data", "d", "--model", "nope"], "--model"),
    (["distill", "--teacher", "t", "--data", "d", "--lambda-A", "3"], "--lambda-A"),  # not a distill option
])
def test_bad_values_are_refused_while_parsing(argv, flag, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("usage: pocketgan")
    assert err[-1].startswith(("pocketgan: error: ", f"pocketgan {argv[0]}: error: ")) and flag in err[-1], err[-1]


def test_bad_device_is_one_line_before_any_work(tmp_path, capsys):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    for argv in (["translate", str(tmp_path / "a.png"), "--model", str(tmp_path / "missing"), "--device", "nope"],
                 ["evaluate", "--model", "summer2winter", "--data", str(tmp_path / "missing"), "--device", "nope"],
                 ["serve", "--model", str(tmp_path / "missing"), "--device", "nope"],
                 ["train", "--data", str(tmp_path / "missing"), "--runs-dir", str(tmp_path), "--device", "nope"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("pocketgan: error: --device: unknown device 'nope'") and err.count("\n") == 1, err
    assert not (tmp_path / "missing").exists()

    import torch

    if not torch.cuda.is_available():
        assert main(["translate", str(tmp_path / "a.png"), "--model", "summer2winter", "--device", "cuda"]) == 2
        assert "no usable CUDA GPU" in capsys.readouterr().err


@pytest.fixture
def fake_models_command(monkeypatch):
    """Replace `pocketgan models`' handler with one that raises what the test gives it."""
    def install(exc):
        def run(args):
            raise exc
        monkeypatch.setattr(cli.models, "run", run)
    return install


def test_user_errors_are_one_line(fake_models_command, capsys):
    fake_models_command(PocketganError("model.onnx: not an exported pocketgan model\n  (details on a second line)"))
    assert main(["models"]) == 2
    assert capsys.readouterr().err == "pocketgan: error: model.onnx: not an exported pocketgan model\n"
    fake_models_command(FileNotFoundError(2, "No such file or directory", "gone.png"))  # the user's environment
    assert main(["models"]) == 2
    assert capsys.readouterr().err == "pocketgan: error: [Errno 2] No such file or directory: 'gone.png'\n"
    fake_models_command(PermissionError(13, "Permission denied", "/ro"))
    assert main(["models"]) == 2


@pytest.mark.parametrize("exc", [ValueError("a bug"), ImportError("a bug"), KeyError("a bug"), RuntimeError("a bug")])
def test_bugs_keep_their_traceback(fake_models_command, exc):
    fake_models_command(exc)
    with pytest.raises(type(exc), match="a bug"):
        main(["models"])


def test_bad_argument_combinations_are_pocketgan_errors(capsys):
    assert main(["import", "--published", "horse2zebra", "--out", "x"]) == 2
    assert "give no .pth or --out" in capsys.readouterr().err
    assert main(["import"]) == 2
    assert capsys.readouterr().err == "pocketgan: error: give a .pth file and --out FOLDER (or --published NAME)\n"


def test_python_m_pocketgan_and_the_entry_point():
    out = subprocess.run([sys.executable, "-m", "pocketgan", "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("pocketgan ")
    usage = subprocess.run([sys.executable, "-m", "pocketgan", "translate", "x.png", "--batch-size", "0"],
                           capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2 and "argument --batch-size: must be positive (got 0)" in usage.stderr
