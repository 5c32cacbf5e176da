"""Models on the Hugging Face Hub: hf://ORG/NAME[@REVISION] wherever a model is taken, and `pocketgan push`.

The resolver is tested against a Hub cache laid out as huggingface_hub lays it out
(``models--ORG--NAME/{blobs,refs,snapshots/<commit>}``, snapshot files symlinked to blobs), offline
(``HF_HUB_OFFLINE``) or with the Hub unreachable (an endpoint on a closed local port), and against
a local stand-in for the few Hub endpoints a download uses (``HF_ENDPOINT``). The upload is
tested up to the Hub: the staged folder file by file, the card's metadata parsed, and the calls a
recording stand-in for ``huggingface_hub.HfApi`` receives.
"""
from __future__ import annotations

import hashlib
import http.server
import json
import os
import re
import socket
import sys
import threading
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import unquote, urlsplit

import httpx2
import huggingface_hub
import huggingface_hub.constants as hf_constants
import pytest
import torch
import yaml
from huggingface_hub import errors as hf_errors
from PIL import Image

from clihelp import one_line_error
from pocketgan.cli import main
from pocketgan.errors import ModelFolderError
from pocketgan.evaluation.evaluate import model_fields
from pocketgan.inference import onnx_cache
from pocketgan.models import hub, zoo
from pocketgan.models.pretrained import read_model_config, save_pretrained

BUNDLED = zoo.BUNDLED_DIR / "summer2winter"
SHA = "0123456789abcdef0123456789abcdef01234567"
OTHER_SHA = "fedcba9876543210fedcba9876543210fedcba98"


def add_snapshot(cache: Path, repo_id: str, files: dict[str, bytes | Path], commit: str = SHA,
                 refs: tuple[str, ...] = ("main",)) -> Path:
    """One commit of a model repository in a Hub cache, as the library writes it: content in
    ``blobs/`` (named by hash), ``snapshots/<commit>/<file>`` a relative symlink to its blob,
    ``refs/<branch>`` the commit (no newline)."""
    storage = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = storage / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    (storage / "blobs").mkdir(exist_ok=True)
    for name, content in files.items():
        data = content.read_bytes() if isinstance(content, Path) else content
        blob = storage / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        os.symlink(os.path.relpath(blob, snapshot), snapshot / name)
    for ref in refs:
        (storage / "refs").mkdir(exist_ok=True)
        (storage / "refs" / ref).write_text(commit)
    return snapshot


def model_files(folder: Path) -> dict[str, Path]:
    return {p.name: p for p in folder.iterdir() if p.name in hub.MODEL_FILES}


@pytest.fixture
def hf_cache(tmp_path, monkeypatch) -> Path:
    """An empty Hub cache, offline: the library read both settings when it was imported, so they are
    set where it reads them now as well as in the environment."""
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    return cache


@pytest.fixture
def s2w(hf_cache) -> Path:
    """The bundled summer2winter as hf://org/s2w at commit SHA (branch main)."""
    return add_snapshot(hf_cache, "org/s2w", model_files(BUNDLED))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- resolving ------------------------------------------------------------------------------------

def test_resolves_offline_from_the_cache(s2w):
    for spec in ("hf://org/s2w", "hf://org/s2w@main", f"hf://org/s2w@{SHA}"):
        assert zoo.resolve_model(spec) == s2w, spec
    assert read_model_config(s2w)["generators"].keys() == {"G_A", "G_B"}
    zoo.resolve_model("hf://org/s2w@main")
    assert hub.provenance(s2w) == {"repo_id": "org/s2w", "revision": "main", "commit": SHA,
                                   "spec": f"hf://org/s2w@{SHA}"}
    assert hub.source_of(s2w) == f"hf://org/s2w@{SHA}" and hub.source_of(BUNDLED) == str(BUNDLED)
    assert hub.provenance(BUNDLED) is None and hub.display_name(s2w) == "s2w"


def test_writes_for_a_hub_model_go_to_the_model_home_per_commit(s2w, model_home):
    where = Path("hf", "org", "s2w", SHA)
    assert zoo.export_dir(s2w) == onnx_cache.export_dir(s2w) == model_home / "exports" / where
    assert zoo.evaluation_file(s2w) == model_home / "evaluations" / where / "eval.json"
    zoo.resolve_model("hf://org/s2w")
    assert model_fields(s2w) == {"model": f"hf://org/s2w@{SHA}",
                                 "hub": {"repo_id": "org/s2w", "revision": None, "commit": SHA}}
    assert model_fields(BUNDLED) == {"model": str(BUNDLED)}


def test_commands_name_a_hub_model_by_its_repository(s2w):
    from pocketgan.app.model import ServedModel

    served = ServedModel(s2w, "folder", {}, read_model_config(s2w))
    assert served.name == "s2w" and served.domains() == {"A": "summer", "B": "winter"}


def test_a_branch_that_moved_resolves_to_its_commit(hf_cache):
    add_snapshot(hf_cache, "org/s2w", model_files(BUNDLED), SHA, refs=("v1",))
    new = add_snapshot(hf_cache, "org/s2w", model_files(BUNDLED), OTHER_SHA, refs=("main",))
    assert zoo.resolve_model("hf://org/s2w") == new
    assert zoo.resolve_model("hf://org/s2w@v1").name == SHA
    assert zoo.export_dir(zoo.resolve_model("hf://org/s2w@v1")) != zoo.export_dir(new)


def test_translate_offline_with_torch(s2w, tmp_path, capsys):
    Image.new("RGB", (40, 32), (120, 160, 90)).save(tmp_path / "photo.png")
    rc = main(["translate", str(tmp_path / "photo.png"), "--model", "hf://org/s2w", "--out", str(tmp_path / "out"),
               "--engine", "torch", "--direction", "BtoA", "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    assert Image.open(tmp_path / "out" / "photo.png").size == (40, 32)


@pytest.mark.slow  # exports the model to ONNX once (~5 s on 2 cores)
def test_translate_offline_records_the_commit(s2w, tmp_path, model_home, capsys):
    Image.new("RGB", (40, 32), (120, 160, 90)).save(tmp_path / "photo.png")
    rc = main(["translate", str(tmp_path / "photo.png"), "--model", "hf://org/s2w", "--out", str(tmp_path / "out"),
               "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    assert Image.open(tmp_path / "out" / "photo.png").size == (40, 32)
    # the export it made lives in the model home, per commit; its card names the pinned spec
    cards = list((model_home / "exports" / "hf" / "org" / "s2w" / SHA).glob("G_A_256.onnx.json"))
    assert len(cards) == 1
    card = json.loads(cards[0].read_text())
    assert card["source"] == f"hf://org/s2w@{SHA}" and card["model"]["name"] == "org/s2w"
    assert card["model"]["hub"] == {"repo_id": "org/s2w", "revision": None, "commit": SHA}
    assert sorted(p.name for p in s2w.iterdir()) == ["G_A.safetensors", "G_B.safetensors", "README.md", "config.json"]


@pytest.mark.parametrize("spec,fragment", [
    ("hf://", "no repository named"),
    ("hf://onlyname", "ORG/NAME"),
    ("hf://a/b@", "nothing after '@'"),
    ("hf://a/b/c", "ORG/NAME"),
    ("hf://a--b/c", "not a Hub name"),
    ("hf://a/b@../../x", "not a revision"),
])
def test_malformed_specs_are_one_line(spec, fragment, hf_cache, capsys, tmp_path):
    with pytest.raises(ModelFolderError, match=fragment.replace("(", r"\(").replace("[", r"\[")):
        zoo.resolve_model(spec)
    Image.new("RGB", (8, 8)).save(tmp_path / "p.png")
    assert main(["translate", str(tmp_path / "p.png"), "--model", spec, "--out", str(tmp_path / "o")]) == 2
    one_line_error(capsys, spec, fragment)


def test_a_model_not_in_the_cache_offline_is_one_line(s2w, tmp_path, capsys):
    Image.new("RGB", (8, 8)).save(tmp_path / "p.png")
    for spec in ("hf://org/missing", "hf://org/s2w@v2"):
        assert main(["translate", str(tmp_path / "p.png"), "--model", spec, "--out", str(tmp_path / "o")]) == 2
        one_line_error(capsys, spec, "not in the Hugging Face cache", "HF_HUB_OFFLINE=0")


def test_pickles_and_other_libraries_models_are_refused(hf_cache):
    config = (BUNDLED / "config.json").read_bytes()
    add_snapshot(hf_cache, "org/pth", {"config.json": config, "G_A.pth": b"pickle", "G_B.pth": b"pickle"})
    with pytest.raises(ModelFolderError, match=r"has no G_A.safetensors, G_B.safetensors \(it holds G_A.pth, G_B.pth\)"
                                               r".*never .pth/.bin pickles"):
        zoo.resolve_model("hf://org/pth")
    add_snapshot(hf_cache, "org/bert", {"config.json": b'{"model_type": "bert"}'})
    with pytest.raises(ModelFolderError, match="hf://org/bert: not a pocketgan model"):
        zoo.resolve_model("hf://org/bert")
    add_snapshot(hf_cache, "org/empty", {"README.md": b"# nothing"})
    with pytest.raises(ModelFolderError, match="hf://org/empty: not a pocketgan model .the repository has no config.json"):
        zoo.resolve_model("hf://org/empty")


@pytest.mark.skipif(not hasattr(hf_errors, "IncompleteSnapshotError"), reason="huggingface_hub without tree caches")
def test_an_incomplete_cached_snapshot_offline_is_one_line(hf_cache):
    files = model_files(BUNDLED)
    snapshot = add_snapshot(hf_cache, "org/cut", {k: v for k, v in files.items() if k != "G_B.safetensors"})
    listing = {name: {"size": path.stat().st_size, "blob_id": hashlib.sha1(path.read_bytes()).hexdigest()}
               for name, path in files.items()}
    (snapshot.parents[1] / "trees").mkdir()
    (snapshot.parents[1] / "trees" / f"{SHA}.json").write_text(json.dumps({"format_version": 1, "files": listing}))
    with pytest.raises(ModelFolderError, match=r"hf://org/cut: the cached snapshot is incomplete \(missing G_B.safetensors\)"
                                               r".*HF_HUB_OFFLINE unset"):
        zoo.resolve_model("hf://org/cut")


def test_an_unreachable_hub_falls_back_to_the_cache(s2w, monkeypatch):
    """Online mode, the endpoint a closed port: the cached snapshot of the branch is used; a model
    that is not cached is one line saying the Hub cannot be reached."""
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(hf_constants, "ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("HF_ENDPOINT", hf_constants.ENDPOINT)
    assert zoo.resolve_model("hf://org/s2w") == s2w
    with pytest.raises(ModelFolderError, match="hf://org/missing: cannot reach the Hugging Face Hub .* not in the cache"):
        zoo.resolve_model("hf://org/missing")


def test_a_download_that_breaks_off_uses_the_cached_snapshot(s2w, monkeypatch):
    real = huggingface_hub.snapshot_download
    calls = []

    def flaky(**kwargs):
        calls.append(kwargs)
        if not kwargs.get("local_files_only"):
            raise httpx2.ReadTimeout("the read operation timed out")
        return real(**kwargs)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", flaky)
    with pytest.warns(UserWarning, match="cannot reach the Hugging Face Hub .*using the cached snapshot 0123456789ab"):
        assert zoo.resolve_model("hf://org/s2w@main") == s2w
    assert calls[0]["allow_patterns"] == list(hub.MODEL_FILES) and calls[0]["revision"] == "main"
    assert not any(p.endswith((".pth", ".bin", ".pt")) for p in calls[0]["allow_patterns"])
    assert "cache_dir" not in calls[0]  # the library's own cache (HF_HUB_CACHE / HF_HOME)


class FakeHub(http.server.BaseHTTPRequestHandler):
    """The few Hub endpoints snapshot_download calls, over repositories held in memory:
    ``repos[repo_id] = (commit, {path: bytes})``; ``requested`` records every path asked for."""

    repos: dict[str, tuple[str, dict[str, bytes]]] = {}
    requested: list[str] = []
    log_message = lambda *a: None  # noqa: E731  (quiet)

    def _answer(self, status: int, body: bytes = b"", headers: dict | None = None, send_body: bool = True):
        self.send_response(status)
        for k, v in {"Content-Length": str(len(body)), **(headers or {})}.items():
            self.send_header(k, v)
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def _route(self, send_body: bool):
        path = urlsplit(self.path).path
        type(self).requested.append(path)
        api = re.fullmatch(r"/api/models/([^/]+/[^/]+)/(revision|tree)/([^/]+)", path)
        resolve = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        repo_id = unquote((api or resolve).group(1)) if api or resolve else None
        if repo_id not in self.repos:
            return self._answer(404, b'{"error": "Repository not found"}', {"X-Error-Code": "RepoNotFound"}, send_body)
        commit, files = self.repos[repo_id]
        revision = unquote(api.group(3) if api else resolve.group(2))
        if revision not in ("main", commit):
            return self._answer(404, b'{"error": "Invalid rev id"}', {"X-Error-Code": "RevisionNotFound"}, send_body)
        if api and api.group(2) == "revision":
            info = {"id": repo_id, "sha": commit, "siblings": [{"rfilename": f} for f in files]}
            return self._answer(200, json.dumps(info).encode(), {"Content-Type": "application/json"}, send_body)
        if api:
            tree = [{"type": "file", "path": f, "size": len(b), "oid": hashlib.sha1(b).hexdigest()} for f, b in files.items()]
            return self._answer(200, json.dumps(tree).encode(), {"Content-Type": "application/json"}, send_body)
        name = unquote(resolve.group(3))
        if name not in files:
            return self._answer(404, b"", {"X-Error-Code": "EntryNotFound"}, send_body)
        body = files[name]
        self._answer(200, body, {"X-Repo-Commit": commit, "ETag": f'"{hashlib.sha256(body).hexdigest()}"'}, send_body)

    def do_GET(self):
        self._route(True)

    def do_HEAD(self):
        self._route(False)


@pytest.fixture
def fake_hub(hf_cache, monkeypatch):
    """A local stand-in for the Hub at HF_ENDPOINT, online mode."""
    FakeHub.repos, FakeHub.requested = {}, []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeHub)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{httpd.server_address[1]}"
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(hf_constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(hf_constants, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    yield FakeHub
    httpd.shutdown()
    httpd.server_close()


def test_downloads_pocketgans_files_only_and_then_works_offline(fake_hub, hf_cache, monkeypatch):
    files = {name: path.read_bytes() for name, path in model_files(BUNDLED).items()}
    fake_hub.repos["org/s2w"] = (SHA, {**files, "G_A.pth": b"pickle", "optimizer.bin": b"pickle", "samples/a.png": b"x",
                                       "G_A_256.onnx": b"onnx"})
    folder = zoo.resolve_model("hf://org/s2w")
    assert folder == hf_cache / "models--org--s2w" / "snapshots" / SHA
    assert sorted(p.name for p in folder.iterdir()) == sorted(files)
    assert (folder / "G_A.safetensors").read_bytes() == files["G_A.safetensors"]
    fetched = [p for p in fake_hub.requested if "/resolve/" in p]
    assert fetched and not [p for p in fetched if p.endswith((".pth", ".bin", ".onnx", ".png"))]
    assert (hf_cache / "models--org--s2w" / "refs" / "main").read_text() == SHA
    # the Hub answers what is missing in one line each
    with pytest.raises(ModelFolderError, match="hf://org/nope: no such model repository .*hf auth login"):
        zoo.resolve_model("hf://org/nope")
    with pytest.raises(ModelFolderError, match="hf://org/s2w@v9: the repository has no such revision"):
        zoo.resolve_model("hf://org/s2w@v9")
    # then offline, from the cache alone
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    fake_hub.requested.clear()
    assert zoo.resolve_model("hf://org/s2w") == folder and fake_hub.requested == []


def _http_error(cls, status: int):
    request = httpx2.Request("GET", "https://huggingface.co/api/models/org/x/revision/main")
    return cls(f"{status} Client Error", response=httpx2.Response(status, request=request))


@pytest.mark.parametrize("error,fragments", [
    (lambda: _http_error(hf_errors.RepositoryNotFoundError, 404), ("no such model repository", "hf auth login", "HF_TOKEN")),
    (lambda: _http_error(hf_errors.GatedRepoError, 403), ("gated", "https://huggingface.co/org/x", "hf auth login")),
    (lambda: _http_error(hf_errors.RevisionNotFoundError, 404), ("no such revision",)),
    (lambda: _http_error(hf_errors.HfHubHTTPError, 401), ("wants a login", "hf auth login")),
    (lambda: _http_error(hf_errors.HfHubHTTPError, 500), ("the Hugging Face Hub answered: 500",)),
])
def test_hub_errors_are_one_line(error, fragments, hf_cache, monkeypatch, tmp_path, capsys):
    def failing(**kwargs):
        raise error()

    monkeypatch.setattr(huggingface_hub, "snapshot_download", failing)
    Image.new("RGB", (8, 8)).save(tmp_path / "p.png")
    assert main(["translate", str(tmp_path / "p.png"), "--model", "hf://org/x", "--out", str(tmp_path / "o")]) == 2
    one_line_error(capsys, "hf://org/x", *fragments)


def test_init_from_a_hub_model_is_pinned_to_its_commit(hf_cache, toy_data, tmp_path, tiny_config):
    from pocketgan.training.loop import Trainer
    from pocketgan.training.run import train

    cold = Trainer(tiny_config(toy_data, tmp_path, name="cold"), tmp_path / "cold")
    with torch.no_grad():
        for p in cold.task.generators["G_A"].parameters():
            p.add_(0.5)
    folder = save_pretrained(tmp_path / "tiny", cold.task.generators, model_type="cyclegan")
    add_snapshot(hf_cache, "org/tiny", model_files(folder))
    summary = train(tiny_config(toy_data, tmp_path, name="warm", init_from="hf://org/tiny", max_steps=1))
    saved = json.loads((Path(summary["run_dir"]) / "train_config.json").read_text())
    assert saved["init_from"] == f"hf://org/tiny@{SHA}"
    warm = Trainer(tiny_config(toy_data, tmp_path, name="again", init_from=f"hf://org/tiny@{SHA}"), tmp_path / "again")
    assert all(torch.equal(a, b) for a, b in zip(warm.task.generators["G_A"].state_dict().values(),
                                                   cold.task.generators["G_A"].state_dict().values(), strict=True))


def test_a_hub_teacher_is_pinned_in_the_distilled_model(s2w, toy_data, tmp_path, tiny_config):
    from pocketgan.training.distill import Distillation

    cfg = tiny_config(toy_data, tmp_path, model="distill", teacher="hf://org/s2w", netG="mobile_resnet_6blocks", ngf=4)
    task = Distillation(cfg, torch.device("cpu"))
    assert cfg.options.teacher == f"hf://org/s2w@{SHA}"
    assert task.model_info()["distilled_from"]["teacher"] == f"hf://org/s2w@{SHA}"
    assert task.teacher_spec == read_model_config(BUNDLED)["generators"]["G_A"]


# --- pushing --------------------------------------------------------------------------------------

def front_matter(readme: str) -> tuple[dict, str]:
    assert readme.startswith("---\n")
    head, _, body = readme[4:].partition("\n---\n")
    return yaml.safe_load(head), body


def test_push_dry_run_stages_exactly_what_it_uploads(tmp_path, capsys):
    out = tmp_path / "staged"
    assert main(["push", "summer2winter", "me/s2w", "--dry-run", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "dry run" in said and "nothing was uploaded" in said and "me/s2w" in said
    assert sorted(p.name for p in out.iterdir()) == ["G_A.safetensors", "G_B.safetensors", "README.md", "config.json"]
    for name in ("G_A.safetensors", "G_B.safetensors"):
        assert (out / name).read_bytes() == (BUNDLED / name).read_bytes()
    assert json.loads((out / "config.json").read_text()) == json.loads((BUNDLED / "config.json").read_text())
    meta, body = front_matter((out / "README.md").read_text())
    assert meta["library_name"] == "pocketgan" and meta["pipeline_tag"] == "image-to-image"
    assert meta["license"] == "bsd-3-clause" and meta["datasets"] == ["summer2winter_yosemite"]
    assert {"pocketgan", "image-to-image", "cyclegan"} <= set(meta["tags"])
    (index,) = meta["model-index"]
    assert index["name"] == "s2w" and len(index["results"]) == 4
    first = index["results"][0]
    assert first["task"]["type"] == "image-to-image" and "summer → winter" in first["task"]["name"]
    assert first["dataset"] == {"type": "summer2winter_yosemite", "name": "summer2winter_yosemite (testA → testB)",
                                "split": "test"}
    values = {m["type"]: m["value"] for m in first["metrics"]}
    assert values == {"kid": 3.97, "fid": 76.11, "kid_do_nothing": 10.27, "fid_do_nothing": 80.56}
    assert all(m["name"] for m in first["metrics"])
    assert "pocketgan translate photo.jpg --model hf://me/s2w\n" in body
    assert "--model hf://me/s2w --direction BtoA" in body
    assert "| AtoB/clean | 309 -> 238 | 3.97 ± 0.33 | 10.27 ± 0.61 | 76.11 | 80.56 |" in body
    assert "Known artefacts" in body  # the card's prose


@pytest.fixture
def run_folder(tmp_path, expressive_generator) -> Path:
    """A run folder as training leaves it: model files among checkpoints, samples, metrics, an export."""
    run = tmp_path / "runs" / "mine"
    save_pretrained(run, {"G_A": expressive_generator(1)}, model_type="pix2pix",
                    training={"steps": 40, "epochs_completed": 2, "train_seconds": 90.0,
                              "data": [str(tmp_path / "datasets" / "facades")]})
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "last.safetensors").write_bytes(b"state")
    (run / "samples").mkdir()
    Image.new("RGB", (8, 8)).save(run / "samples" / "step_000040.png")
    (run / "train_config.json").write_text("{}")
    (run / "metrics.jsonl").write_text("{}\n")
    (run / "export").mkdir()
    (run / "export" / "G_A_256.onnx").write_bytes(b"onnx")
    (run / "G_A.pth").write_bytes(b"pickle")
    eval_entry = {"model": str(run), "data": str(tmp_path / "datasets" / "facades"), "direction": "AtoB",
                  "convention": "clean", "n_source": 10, "n_target": 12, "strength": 1.0,
                  "translated": {"kid_x1000": 20.5, "kid_x1000_std": 1.5, "fid": 120.0},
                  "do_nothing": {"kid_x1000": 30.25, "kid_x1000_std": 2.0, "fid": 150.5},
                  "seconds": {"total": 3.0}}
    (run / "eval.json").write_text(json.dumps({"AtoB/clean": eval_entry}))
    return run


def test_push_of_a_run_folder_takes_its_model_files_only(run_folder, tmp_path):
    out = tmp_path / "staged"
    figure = tmp_path / "before_after.jpg"
    Image.new("RGB", (16, 8)).save(figure)
    assert main(["push", str(run_folder), "me/facades", "--dry-run", "--out", str(out), "--license", "MIT",
                 "--figure", str(figure)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["G_A.safetensors", "README.md", "config.json", "figure.jpg"]
    texts = [(out / n).read_text() for n in ("config.json", "README.md")]
    assert all(str(tmp_path) not in t for t in texts)  # no location of this machine travels
    config = json.loads(texts[0])
    assert config["training"]["data"] == ["facades"]
    scores = config["model_card"]["evaluation"]["AtoB/clean"]  # eval.json's scores travel in the config
    assert scores["data"] == "facades" and "model" not in scores and "seconds" not in scores
    meta, body = front_matter(texts[1])
    assert meta["license"] == "mit" and "pix2pix" in meta["tags"] and meta["datasets"] == ["facades"]
    values = {m["type"]: m["value"] for m in meta["model-index"][0]["results"][0]["metrics"]}
    assert values == {"kid": 20.5, "fid": 120.0, "kid_do_nothing": 30.25, "fid_do_nothing": 150.5}
    assert "![" in body and "(figure.jpg)" in body and "--direction BtoA" not in body
    # what it uploads is what the resolver fetches: every staged file is one the Hub patterns allow
    assert all(p.name in hub.MODEL_FILES for p in out.iterdir())


class RecordingHfApi:
    """A stand-in for huggingface_hub.HfApi that records the calls (and the folder it is given)."""

    calls: list = []
    fail: Exception | None = None

    def __init__(self, **kwargs):
        type(self).calls.append(("HfApi", kwargs))

    def create_repo(self, repo_id, **kwargs):
        type(self).calls.append(("create_repo", repo_id, kwargs))
        if type(self).fail is not None:
            raise type(self).fail
        return f"https://huggingface.co/{repo_id}"

    def create_branch(self, repo_id, **kwargs):
        type(self).calls.append(("create_branch", repo_id, kwargs))

    def upload_folder(self, **kwargs):
        files = sorted(p.name for p in Path(kwargs["folder_path"]).iterdir())
        type(self).calls.append(("upload_folder", kwargs, files))
        return SimpleNamespace(oid=OTHER_SHA, commit_url=f"https://huggingface.co/{kwargs['repo_id']}/commit/{OTHER_SHA}")


@pytest.fixture
def fake_api(monkeypatch):
    RecordingHfApi.calls, RecordingHfApi.fail = [], None
    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingHfApi)
    return RecordingHfApi


def test_push_uploads_one_commit_with_hfapi(run_folder, fake_api, capsys):
    assert main(["push", str(run_folder), "me/facades", "--private", "--revision", "dev", "--message", "first"]) == 0
    (_, init), (_, repo, create), (_, branch_repo, branch), (_, upload, files) = fake_api.calls
    assert init["library_name"] == "pocketgan"
    assert repo == branch_repo == "me/facades"
    assert create == {"repo_type": "model", "private": True, "exist_ok": True}
    assert branch == {"branch": "dev", "repo_type": "model", "exist_ok": True}
    assert files == ["G_A.safetensors", "README.md", "config.json"]
    assert upload["repo_id"] == "me/facades" and upload["revision"] == "dev" and upload["commit_message"] == "first"
    assert upload["repo_type"] == "model" and "G_*.safetensors" in upload["delete_patterns"]
    assert not Path(upload["folder_path"]).exists()  # the temporary staging folder is gone
    said = capsys.readouterr().out
    assert f"hf://me/facades@{OTHER_SHA}" in said and "--model hf://me/facades@dev" in said


def test_push_to_main_of_a_public_repository(run_folder, fake_api):
    assert main(["push", str(run_folder), "me/facades"]) == 0
    names = [c[0] for c in fake_api.calls]
    assert names == ["HfApi", "create_repo", "upload_folder"]  # no branch to create for main
    assert fake_api.calls[1][2]["private"] is None  # the namespace's default visibility
    assert fake_api.calls[2][1]["commit_message"] == "pocketgan push: mine"


@pytest.mark.parametrize("failure,fragments", [
    (lambda: hf_errors.LocalTokenNotFoundError("Token is required"), ("wants a login", "hf auth login")),
    (lambda: _http_error(hf_errors.HfHubHTTPError, 401), ("wants a login", "hf auth login", "nothing was uploaded")),
    (lambda: _http_error(hf_errors.HfHubHTTPError, 403), ("no access", "hf auth login")),
    (lambda: httpx2.ConnectError("[Errno 111] Connection refused"), ("cannot reach the Hugging Face Hub",
                                                                     "nothing was uploaded")),
])
def test_push_errors_are_one_line(run_folder, fake_api, failure, fragments, capsys):
    fake_api.fail = failure()
    assert main(["push", str(run_folder), "me/facades"]) == 2
    one_line_error(capsys, "me/facades", *fragments)
    assert [c[0] for c in fake_api.calls] == ["HfApi", "create_repo"]  # nothing uploaded


def test_push_refuses_what_is_not_a_model(run_folder, fake_api, tmp_path, capsys):
    cases = [
        ([str(BUNDLED / "G_A_256.onnx"), "me/x"], ("an exported file", "push the model folder")),
        ([str(run_folder / "export" / "G_A_256.onnx"), "me/x"], ("an exported file",)),
        ([str(run_folder), "noslash"], ("noslash", "ORG/NAME")),
        ([str(run_folder), "me/bad--name"], ("not a Hub name",)),
    ]
    fresh = tmp_path / "runs" / "fresh"
    fresh.mkdir(parents=True)
    (fresh / "train_config.json").write_text("{}")
    cases.append(([str(fresh), "me/x"], ("a run folder with no model in it yet",)))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    cases.append(([str(run_folder), "me/x", "--dry-run", "--out", str(tmp_path / "full")], ("not an empty folder",)))
    cases.append(([str(run_folder), "me/x", "--figure", str(tmp_path / "full" / "x")], ("--figure", ".png or .jpg")))
    for argv, fragments in cases:
        assert main(["push", *argv]) == 2, argv
        one_line_error(capsys, *fragments)
    assert not [c for c in fake_api.calls if c[0] != "HfApi"]


def test_pushed_folder_is_what_the_resolver_reads(run_folder, hf_cache, tmp_path):
    """Round trip: the staged folder, laid out in the cache, resolves and loads as the model."""
    out = tmp_path / "staged"
    assert main(["push", str(run_folder), "me/facades", "--dry-run", "--out", str(out)]) == 0
    snapshot = add_snapshot(hf_cache, "me/facades", model_files(out))
    assert zoo.resolve_model("hf://me/facades") == snapshot
    from pocketgan.models.pretrained import load_generator

    a, b = load_generator(snapshot, "G_A"), load_generator(run_folder, "G_A")
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


def test_the_cli_stays_torch_free_and_hub_free():
    import subprocess

    code = ("import sys; from pocketgan.cli import build_parser; build_parser().parse_args(['push', 'm', 'a/b']); "
            "import pocketgan.models.hub, pocketgan.inference.onnx_cache; "
            "print('torch' in sys.modules, 'huggingface_hub' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_docs_page_exists():
    text = (Path(__file__).resolve().parents[1] / "docs" / "hub.md").read_text()
    assert "hf auth login" in text and "pocketgan push" in text and "HF_HUB_OFFLINE" in text
