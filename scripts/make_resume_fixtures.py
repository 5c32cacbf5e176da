"""Write tests/data/resume_fixtures/: tiny run folders stopped mid-run, as a given version of pocketgan
writes them, so tests prove that later versions still resume them bit-exactly.

For each objective: a run of 8 steps on the toy scenes (32 px, ngf 4), stopped after step 3 with a
checkpoint (`train_config.json`, `metrics.jsonl`, `checkpoints/last.safetensors`), plus
`expected.json`: every logged loss of the same run done in one go, and a digest of its final
generator weights. The data paths inside are replaced by a placeholder (tests pass `--data`).

    python scripts/make_resume_fixtures.py [OUT]     # default tests/data/resume_fixtures
"""
from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path

from safetensors.torch import load_file

from pocketgan import __version__
from pocketgan.data.synthetic import make_synthetic_dataset
from pocketgan.training.checkpoint import load_checkpoint, save_checkpoint
from pocketgan.training.config import config_for
from pocketgan.training.run import resume, train

TINY = dict(netG="resnet_6blocks", ngf=4, ndf=4, load_size=36, crop_size=32, batch_size=2, n_epochs=1,
            n_epochs_decay=1, pool_size=3, log_every=1, sample_every=0, checkpoint_every=0, progress=False,
            workers=0, amp="off", seed=3)
CASES = {
    "cyclegan_ema": ("cyclegan", dict(ema_decay=0.9)),
    "pix2pix": ("pix2pix", dict(netG="resnet_6blocks", pool_size=0)),
    "cut": ("cut", dict(netG="resnet_6blocks", netF_nc=8, num_patches=16, nce_layers="0,2,4", pool_size=0)),
}
STOP_AT = 3


def generator_digest(run: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(run.glob("G_*.safetensors")):
        for k, v in sorted(load_file(f).items()):
            h.update(k.encode())
            h.update(v.numpy().tobytes())
    return h.hexdigest()


def logged(run: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k != "images_per_s"}
            for line in (run / "metrics.jsonl").read_text().splitlines()]


def main(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, (objective, extra) in CASES.items():
            data = make_synthetic_dataset(tmp / f"data_{objective}", size=32, n_train=8, n_test=4,
                                          paired=objective == "pix2pix")
            opts = {**TINY, **extra, "data": str(data), "runs_dir": str(tmp / "runs")}
            train(config_for(objective, **opts, name=f"{name}_straight"))
            train(config_for(objective, **opts, name=name, max_steps=STOP_AT))
            straight, stopped = tmp / "runs" / f"{name}_straight", tmp / "runs" / name
            dest = out / name
            shutil.rmtree(dest, ignore_errors=True)
            (dest / "checkpoints").mkdir(parents=True)
            tensors, meta = load_checkpoint(stopped / "checkpoints" / "last.safetensors")
            meta["config"].update(data="DATA", runs_dir="RUNS")  # no path of this machine in the repo
            save_checkpoint(dest / "checkpoints" / "last.safetensors", tensors, meta)
            shutil.copy(stopped / "metrics.jsonl", dest)
            cfg = json.loads((stopped / "train_config.json").read_text())
            (dest / "train_config.json").write_text(json.dumps({**cfg, "data": "DATA", "runs_dir": "RUNS"}, indent=2))
            expected = {"written_by": f"pocketgan {__version__}", "objective": objective, "stopped_at": STOP_AT,
                        "paired": objective == "pix2pix", "metrics": logged(straight),
                        "generators_sha256": generator_digest(straight)}
            resumed = resume(stopped, {"max_steps": 0})  # the same code resumes it exactly (a sanity check)
            assert logged(stopped) == expected["metrics"] and generator_digest(stopped) == expected["generators_sha256"], name
            assert resumed["finished"]
            (dest / "expected.json").write_text(json.dumps(expected, indent=1))
            print(f"{dest}: {sum(f.stat().st_size for f in dest.rglob('*') if f.is_file()) / 1024:.0f} KB")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "tests" / "data" / "resume_fixtures")
