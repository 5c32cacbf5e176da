"""A wheel carries the web app: built from a copy of the working tree (what a clean clone plus
`make web` holds), it contains the app and the bundled model, installs into a fresh venv (torch and
the [app] extra from the package index, as a user's would) and runs `translate` and `serve` from
there. Without the built app and without npm, the wheel build stops with one line saying how.

The full test takes about a minute on 2 cores (50 s here, 34 s of it installing torch and the
dependencies from a local package index) and 1.5 GB of disk, removed at the end; it is skipped
when the web app is not built here (`make web`)."""
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "pocketgan" / "app" / "static"
BUNDLED = ROOT / "pocketgan" / "pretrained" / "summer2winter"


def _setup_module():
    """setup.py as a module (its setup() call runs only as __main__), for stale_reason()."""
    spec = importlib.util.spec_from_file_location("pocketgan_setup", ROOT / "setup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _source_copy(dest: Path, with_app: bool) -> Path:
    """The files git tracks (or would: untracked, not ignored) as the working tree has them, plus the
    built app when ``with_app``: a clean clone after (or before) `make web`."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout (the files a clean clone holds)")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    if with_app:
        shutil.copytree(STATIC, dest / "pocketgan" / "app" / "static")
    return dest


def _build_wheel(src: Path, out: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
    return subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-w", str(out), "."],
                          cwd=src, capture_output=True, text=True, env=env)


def _clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    return {**env, **extra}


def test_wheel_without_app_or_npm_stops_with_one_line(tmp_path):
    src = _source_copy(tmp_path / "src", with_app=False)
    no_tools = tmp_path / "bin"  # a PATH without node or npm
    no_tools.mkdir()
    done = _build_wheel(src, tmp_path / "dist", _clean_env(PATH=str(no_tools)))
    assert done.returncode != 0 and not list((tmp_path / "dist").glob("*.whl"))
    lines = [line.strip() for line in (done.stdout + done.stderr).splitlines() if "pocketgan's web app" in line]
    assert len(lines) == 1, done.stdout + done.stderr
    assert "build.json is missing" in lines[0] and "no npm on PATH" in lines[0]
    assert "`make web`" in lines[0] and "Node.js 18+" in lines[0]


def test_an_installed_package_without_the_app_says_it_is_incomplete(tmp_path, monkeypatch):
    from pocketgan.app import assets

    monkeypatch.setattr(assets, "STATIC_DIR", tmp_path / "static")
    monkeypatch.setattr(assets, "SOURCE_CHECKOUT", False)  # as installed from a wheel built without it
    with pytest.raises(assets.AssetsMissing) as e:
        assets.find_static()
    message = str(e.value)
    assert "\n" not in message and "web app is not built" in message
    assert "installed pocketgan package is incomplete" in message and "install a complete wheel" in message


@pytest.mark.slow
def test_wheel_carries_the_app_and_runs_translate_and_serve(tmp_path):
    if not (STATIC / "build.json").is_file():
        pytest.skip("the web app is not built here (pocketgan/app/static/build.json): run `make web`")
    stale = _setup_module().stale_reason()
    if stale:
        pytest.skip(f"the web app here is out of date ({stale}): run `make web`")
    times = {}
    t0 = time.perf_counter()
    src = _source_copy(tmp_path / "src", with_app=True)
    no_tools = tmp_path / "bin"
    no_tools.mkdir()  # a current build must not need npm
    done = _build_wheel(src, tmp_path / "dist", _clean_env(PATH=f"{no_tools}"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("pocketgan-*.whl")
    times["build"] = time.perf_counter() - t0

    names = set(zipfile.ZipFile(wheel).namelist())
    build = json.loads((STATIC / "build.json").read_text())
    app = {f"pocketgan/app/static/{n}" for n in [*build["files"], "build.json", "index.html", "sw.js"]}
    assert not app - names, f"missing from the wheel: {sorted(app - names)}"
    assert any(n.startswith("pocketgan/app/static/ort/") and n.endswith(".wasm") for n in names)
    assert {"pocketgan/app/static/icons/icon-192.png", "pocketgan/app/static/ort/ort.wasm.min.mjs"} <= names
    model = {f"pocketgan/pretrained/summer2winter/{p.name}" for p in BUNDLED.iterdir() if p.is_file()}
    assert {"pocketgan/pretrained/summer2winter/config.json", "pocketgan/pretrained/summer2winter/G_A.safetensors"} <= model
    assert not model - names, f"missing from the wheel: {sorted(model - names)}"

    # a fresh venv: torch as the Makefile installs it (the running version), then the wheel with [app]
    t0 = time.perf_counter()
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py, cli = venv / "bin" / "python", venv / "bin" / "pocketgan"
    import torch

    env = _clean_env()
    for spec in (f"torch=={torch.__version__.split('+')[0]}", f"pocketgan[app] @ {wheel.as_uri()}"):
        done = subprocess.run([str(py), "-m", "pip", "install", "-q", spec], capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    times["install"] = time.perf_counter() - t0
    work = tmp_path / "work"  # not the checkout: `pocketgan` must come from the venv
    work.mkdir()
    where = subprocess.run([str(py), "-c", "import pocketgan; print(pocketgan.__file__)"], cwd=work, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(venv), where
    checkout = subprocess.run([str(py), "-c", "from pocketgan.app import assets; print(assets.SOURCE_CHECKOUT)"],
                              cwd=work, env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert checkout == "False"  # so a missing app would be reported as an incomplete package, not `make web`

    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (40, 52, 3), dtype=np.uint8)).save(work / "photo.png")
    done = subprocess.run([str(cli), "translate", "photo.png", "--out", "out", "--no-progress"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    with Image.open(work / "out" / "photo.png") as out:
        assert out.size == (52, 40)
    times["translate"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([str(cli), "serve", "--port", str(port), "--workers", "1"], cwd=work, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            assert server.poll() is None, f"serve exited {server.returncode}: {server.stdout.read()}"
            try:
                with urllib.request.urlopen(f"{base}/api/health", timeout=5) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "serve did not answer /api/health in 240 s"
                time.sleep(0.5)
        with urllib.request.urlopen(f"{base}/", timeout=30) as r:
            page = r.read().decode()
            assert r.status == 200 and 'type="module"' in page and "not built" not in page
        with urllib.request.urlopen(f"{base}/ort/{Path(build['wasm'][-1]).name}", timeout=30) as r:
            assert r.status == 200 and r.headers["content-type"] == "application/wasm"
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server.stdout.close()
    times["serve"] = time.perf_counter() - t0
    shutil.rmtree(venv, ignore_errors=True)  # 1.5 GB; pytest keeps the last few tmp folders
    print("wheel test seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in times.items()))
