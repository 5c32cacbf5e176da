"""Turn a trained run into a model shipped inside the package (pocketgan/pretrained/NAME/).

Copies only the generators (safetensors) and writes config.json with a ``model_card`` (data, steps,
image size, training time, hardware, measured FID/KID beside doing nothing, from the eval.json of
``pocketgan evaluate --direction both``) and a README.md that says the same in prose. Nothing else
from the run (samples, checkpoints: they may show dataset images) is copied.

    python scripts/bundle_model.py runs/bundled --name summer2winter --eval runs/bundled/eval.json \
        --data summer2winter_yosemite --hardware "AMD EPYC, 1 CPU thread" \
        --description "summer <-> winter (Yosemite), mobile_resnet_9blocks ngf=16"
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from pocketgan.fileio import atomic_write_bytes, atomic_write_json, read_json
from pocketgan.models.pretrained import read_model_config
from pocketgan.models.zoo import BUNDLED_DIR
from pocketgan.summary import describe


def scores(eval_json: Path) -> dict:
    out = {}
    for key, r in read_json(eval_json).items():
        out[key] = {"test_images": f"{r['n_source']} -> {r['n_target']}",
                    "translated": {"kid_x1000": round(r["translated"]["kid_x1000"], 2),
                                   "kid_x1000_std": round(r["translated"]["kid_x1000_std"], 2),
                                   "fid": round(r["translated"]["fid"], 2)},
                    "do_nothing": {"kid_x1000": round(r["do_nothing"]["kid_x1000"], 2),
                                   "kid_x1000_std": round(r["do_nothing"]["kid_x1000_std"], 2),
                                   "fid": round(r["do_nothing"]["fid"], 2)}}
        if "change" in r:  # how visible the translation is (mean |translated - photo| on 0..255)
            out[key]["change"] = {"mean_abs": round(r["change"]["mean_abs"], 1),
                                  "over_10": round(r["change"]["over_10"], 3)}
    return out


def crops(c: dict) -> str:
    """How a stage's training images were cut, in words."""
    if c["preprocess"] == "crop" and c["crop_size"] >= 256:  # a 256 crop of a 256x256 photo is all of it
        return "the whole 256x256 photos (random flips)"
    return f"random {c['crop_size']}x{c['crop_size']} crops ({c['preprocess']}) of the 256x256 photos"


def stages(run: Path) -> list[tuple[dict, dict]]:
    """The runs that made ``run``, first to last: a run started with ``--init-from`` another run
    continues that run's training, so the card counts both (steps, CPU time, crop sizes)."""
    chain = []
    while True:
        train_cfg = read_json(run / "train_config.json")
        chain.append((train_cfg, describe(run).get("training", {})))
        source = train_cfg.get("init_from")
        if not source:
            return chain[::-1]
        run = Path(source)
        if not (run / "train_config.json").is_file():
            sys.exit(f"{run}: the run this one started from (--init-from) is needed for the card (its steps and time)")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path)
    p.add_argument("--name", required=True)
    p.add_argument("--eval", type=Path, required=True, help="eval.json of `pocketgan evaluate --direction both`")
    p.add_argument("--data", required=True, help="dataset name for the card")
    p.add_argument("--hardware", required=True)
    p.add_argument("--description", required=True)
    p.add_argument("--notes", default="", help="extra sentence(s) for the card")
    p.add_argument("--command", action="append", default=[],
                   help="the `pocketgan train` command line that made the run (once per stage when it was "
                        "started with --init-from: first stage first)")
    p.add_argument("--domains", default="", help="A,B: what users call the two domains (e.g. summer,winter)")
    args = p.parse_args()

    config = read_model_config(args.run)
    chain = stages(args.run)
    train_cfg = chain[-1][0]
    if args.command and len(args.command) != len(chain):
        sys.exit(f"--command given {len(args.command)} times for {len(chain)} stages")
    out = BUNDLED_DIR / args.name
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for slot in config["generators"]:
        shutil.copyfile(args.run / f"{slot}.safetensors", out / f"{slot}.safetensors")
    card = {
        "data": f"{args.data}: trainA/trainB (unpaired); scores on testA/testB",
        "steps": sum(t.get("steps", 0) for _, t in chain),
        "epochs": sum(t.get("epochs_completed", 0) for _, t in chain),
        "batch_size": train_cfg["batch_size"],
        "image_size": "; then ".join(crops(c) for c, _ in chain) + "; runs at any size",
        "train_minutes": round(sum(t.get("train_seconds", 0) for _, t in chain) / 60, 1),
        "hardware": args.hardware,
        "objective": f"CycleGAN (lambda_A=lambda_B={train_cfg['lambda_A']}, identity {train_cfg['lambda_identity']}, "
                     f"{train_cfg['gan_mode']}, pool {train_cfg['pool_size']})",
        "evaluation": scores(args.eval),
        "notes": args.notes,
    }
    if len(chain) > 1:  # each stage's share, in order
        card["stages"] = [{"steps": t.get("steps"), "epochs": t.get("epochs_completed"), "image_size": crops(c),
                           "lr": c["lr"], "train_minutes": round(t.get("train_seconds", 0) / 60, 1),
                           **({"command": cmd} if cmd else {})}
                          for (c, t), cmd in zip(chain, args.command or [""] * len(chain), strict=True)]
    if args.command:
        card["command"] = " && ".join(args.command)
    if args.domains:
        a, b = (x.strip() for x in args.domains.split(","))
        config["domains"] = {"A": a, "B": b}
    config["description"] = args.description
    config["model_card"] = card
    config.pop("training", None)  # run-folder bookkeeping; the card says it for users
    atomic_write_json(out / "config.json", config)

    lines = [f"# {args.name} (bundled with pocketgan)", "", args.description, "",
             f"- Data: {card['data']}", f"- Training: {card['steps']} steps, batch {card['batch_size']}, "
             f"{card['image_size']}; {card['train_minutes']} min on {card['hardware']}", f"- Objective: {card['objective']}",
             *([f"- Command: `{args.command[0]}`"] if len(args.command) == 1 else []),
             *([f"- Stage {i}: {st['steps']} steps, {st['image_size']}, {st['train_minutes']} min"
                + (f": `{st['command']}`" if "command" in st else "") for i, st in enumerate(card.get("stages", []), 1)]),
             "", "| direction | test images | KID×1000 translated | KID×1000 do nothing | FID translated | FID do nothing "
             "| mean change /255 | values moved > 10 |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for key, s in card["evaluation"].items():
        tr, dn, ch = s["translated"], s["do_nothing"], s.get("change", {})
        moved = f"{100 * ch['over_10']:.0f}%" if ch else "?"
        lines.append(f"| {key} | {s['test_images']} | {tr['kid_x1000']} ± {tr['kid_x1000_std']} | "
                     f"{dn['kid_x1000']} ± {dn['kid_x1000_std']} | {tr['fid']} | {dn['fid']} | "
                     f"{ch.get('mean_abs', '?')} | {moved} |")
    if args.notes:
        lines += ["", args.notes]
    atomic_write_bytes(out / "README.md", ("\n".join(lines) + "\n").encode())
    print(f"wrote {out}: {', '.join(sorted(x.name for x in out.iterdir()))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
