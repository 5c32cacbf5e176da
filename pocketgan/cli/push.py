"""`pocketgan push MODEL ORG/NAME`: a model to the Hugging Face Hub, with a model card.

What is uploaded is staged in a folder first, and that folder is uploaded whole (``--dry-run
--out DIR`` writes it and uploads nothing): the generators' ``G_A``/``G_B`` safetensors the model's
config lists, its ``config.json`` (locations of this machine cut to their last component, and the
scores of `pocketgan evaluate` folded into its ``model_card`` when it keeps none itself), a
``README.md`` model card, and the figure when there is one (``figure.png``/``figure.jpg``). Nothing
else: no training checkpoint or optimizer state, no samples, no exports, no .pth. The card opens
with the Hub's YAML metadata (library, licence, tags, datasets, pipeline, and a ``model-index`` of
the KID/FID results beside the do-nothing baseline), then says what the model is, how to use it
(``pocketgan translate photo.jpg --model hf://ORG/NAME``), how it was trained and how it scored.

The upload is one commit with ``huggingface_hub.HfApi`` (the repository is created if missing, the
branch too; files of an earlier push that this one does not have, e.g. a G_B or a figure, are
removed in that commit). Authentication is the library's own (`hf auth login`, or ``HF_TOKEN``).
"""
from __future__ import annotations

import argparse
import math
import re
import shutil
import tempfile
from pathlib import Path

from .options import output_folder

DEFAULT_LICENSE = "bsd-3-clause"
FIGURE_SUFFIXES = {".png": "figure.png", ".jpg": "figure.jpg", ".jpeg": "figure.jpg"}
# what a pushed config.json keeps of an eval.json entry (not the model's or data's location, not timings)
SCORE_FIELDS = ("test_images", "n_source", "n_target", "convention", "strength", "max_side", "data", "translated",
                "do_nothing", "change", "cycle")
# tags by the model's objective (config.json "model_type"; an imported model: its published name)
OBJECTIVE_TAGS = {
    "cyclegan": ["cyclegan", "unpaired-image-translation"],
    "pix2pix": ["pix2pix", "paired-image-translation"],
    "cut": ["cut", "contrastive-unpaired-translation", "unpaired-image-translation"],
    "fastcut": ["fastcut", "cut", "contrastive-unpaired-translation", "unpaired-image-translation"],
    "colorization": ["colorization", "pix2pix"],
    "distilled": ["distillation"],
}


def add_parser(sub) -> None:
    ps = sub.add_parser("push", help="upload a model to the Hugging Face Hub with a model card (then use it anywhere as "
                                     "--model hf://ORG/NAME)",
                        description="Upload a model folder (or a run folder's model files, or a model by name) to the "
                                    "Hugging Face Hub repository ORG/NAME, created if missing, as one commit: its "
                                    "G_A/G_B safetensors, its config.json (with no paths of this machine), a README.md "
                                    "model card (Hub metadata and model-index with its KID/FID beside the do-nothing "
                                    "baseline, description, figure, usage, training, scores) and the figure if there is "
                                    "one. Nothing else: no checkpoints, optimizer state, samples, exports or .pth. "
                                    "Log in first with the Hub's own `hf auth login` (or set HF_TOKEN).")
    ps.add_argument("model", metavar="MODEL", help="model folder, run folder (its config.json and G_*.safetensors only), "
                                                   "model name, or hf://ORG/NAME[@REVISION]; not an exported .onnx/.tflite")
    ps.add_argument("repo", metavar="ORG/NAME", help="the Hub repository: your user name or an organisation, and a name")
    ps.add_argument("--private", action="store_true",
                    help="create the repository private (an existing repository keeps its visibility)")
    ps.add_argument("--revision", metavar="BRANCH", help="push to this branch, created from main if missing (default: main)")
    ps.add_argument("--message", help="the commit message (default: \"pocketgan push: MODEL\")")
    ps.add_argument("--license", metavar="ID",
                    help="the card's licence, a Hub licence id such as mit, apache-2.0, cc-by-nc-4.0 (default: the one "
                         f"the model's config names; else {DEFAULT_LICENSE}, pocketgan's own licence; an imported "
                         "published model: 'other', linking its authors' terms). The training data may have terms of "
                         "its own")
    ps.add_argument("--figure", metavar="IMAGE",
                    help="a .png or .jpg shown on the card, e.g. the before/after figure of `pocketgan report MODEL "
                         "--figure fig.png` (default: the model's own figure.png/figure.jpg, if it has one)")
    ps.add_argument("--dry-run", action="store_true",
                    help="stage the folder and say what would be uploaded; upload nothing")
    ps.add_argument("--out", type=output_folder, metavar="DIR",
                    help="stage the upload in this folder (new or empty) and keep it (default: a temporary folder, "
                         "removed afterwards)")
    ps.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..models.hub import SCHEME, check_repo_id

    repo_id = check_repo_id(args.repo.removeprefix(SCHEME), args.repo)
    model = model_folder(args.model)
    staged = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="pocketgan-push-"))
    try:
        files = stage(model, staged, repo_id, license_=args.license, figure=args.figure, revision=args.revision)
        sizes = ", ".join(f"{name} ({_size((staged / name).stat().st_size)})" for name in files)
        branch = args.revision or "main"
        message = args.message or f"pocketgan push: {_shown(args.model)}"
        if args.dry_run:
            print(f"dry run: would create the {'private ' if args.private else ''}repository {repo_id} if missing"
                  + (f" and its branch {branch}" if branch != "main" else "")
                  + f", and upload {len(files)} files to {branch} in one commit ({message!r}): {sizes}")
            print(f"staged in {staged}; nothing was uploaded" if args.out else "nothing was uploaded (--out DIR keeps "
                  "the staged folder)")
            return 0
        print(f"uploading {len(files)} files to {repo_id} ({branch}): {sizes}", flush=True)
        commit, url = upload(staged, repo_id, private=args.private, revision=args.revision, message=message)
    finally:
        if not args.out:
            shutil.rmtree(staged, ignore_errors=True)
    pinned = f"{SCHEME}{repo_id}@{commit}" if commit else f"{SCHEME}{repo_id}"
    print(f"pushed {_shown(args.model)} to {url} ({branch}{', commit ' + commit[:12] if commit else ''}); use it with "
          f"--model {SCHEME}{repo_id}{'@' + args.revision if args.revision else ''}, or pinned: --model {pinned}")
    return 0


def _shown(spec: str) -> str:
    """A model as the commit message names it: a name or hf:// spec as typed, a folder by its name."""
    return spec if spec.startswith("hf://") or "/" not in spec.rstrip("/\\") else Path(spec).name


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB" if n >= 1e3 else f"{n} B"


def model_folder(spec: str) -> Path:
    """The model folder ``spec`` names (as every command resolves it); one line refusing an exported
    file or a folder that holds no model (a run folder before its first checkpoint)."""
    from ..errors import ModelFolderError
    from ..models.pretrained import CONFIG_NAME, read_model_config
    from ..models.zoo import EXPORTED_SUFFIXES, resolve_model

    exported = (f"{spec}: an exported file; push the model folder it was exported from (config.json + "
                "G_*.safetensors): pocketgan makes exports from the weights where they are used")
    if Path(spec).suffix.lower() in EXPORTED_SUFFIXES:
        raise ModelFolderError(exported)
    model = resolve_model(spec)
    if model.suffix.lower() in EXPORTED_SUFFIXES or model.is_file():
        raise ModelFolderError(exported if model.suffix.lower() in EXPORTED_SUFFIXES
                               else f"{spec}: a file, not a model folder (config.json + G_*.safetensors)")
    if model.is_dir() and not (model / CONFIG_NAME).is_file() and (
            (model / "train_config.json").is_file() or (model / "checkpoints").is_dir()):
        raise ModelFolderError(f"{spec}: a run folder with no model in it yet (its {CONFIG_NAME} and G_*.safetensors "
                               "are written at the first checkpoint); push it once it has checkpointed")
    read_model_config(model)  # a folder that is no model: the loader's own line
    return model


def stage(model: Path, out: Path, repo_id: str, license_: str | None = None, figure: str | Path | None = None,
          revision: str | None = None) -> list[str]:
    """Write into ``out`` (new or empty) exactly what `push` uploads for ``model``; returns the file
    names. Every generator is loaded first, so nothing that cannot be used is uploaded."""
    from ..errors import OptionError
    from ..fileio import atomic_write_bytes, atomic_write_json
    from ..models.config import check_model_config
    from ..models.hub import FIGURES
    from ..models.pretrained import CONFIG_NAME, load_generator, read_model_config

    config = read_model_config(model)
    params = {slot: sum(p.numel() for p in load_generator(model, slot).parameters()) for slot in config["generators"]}
    fig = _figure(model, figure)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OptionError(f"--out {out}: not an empty folder; the staged folder is uploaded whole, so give a new or "
                          "empty one")
    pushed = hub_config(model, config)
    check_model_config(pushed, f"{model / CONFIG_NAME} (as pushed)")
    out.mkdir(parents=True, exist_ok=True)
    for slot in config["generators"]:
        shutil.copyfile(model / f"{slot}.safetensors", out / f"{slot}.safetensors")
    atomic_write_json(out / CONFIG_NAME, pushed)
    figure_name = None
    if fig is not None:
        figure_name = FIGURE_SUFFIXES.get(fig.suffix.lower(), fig.name)
        assert figure_name in FIGURES
        shutil.copyfile(fig, out / figure_name)
    card = model_card(model, pushed, repo_id, license_=license_, figure=figure_name, params=params, revision=revision)
    atomic_write_bytes(out / "README.md", card.encode())
    return sorted(p.name for p in out.iterdir())


def _figure(model: Path, figure: str | Path | None) -> Path | None:
    from ..errors import OptionError
    from ..models.hub import FIGURES

    if figure is None:
        return next((model / name for name in FIGURES if (model / name).is_file()), None)
    fig = Path(figure)
    if fig.suffix.lower() not in FIGURE_SUFFIXES:
        raise OptionError(f"--figure {figure}: a .png or .jpg image is shown on the card (got {fig.suffix or 'no suffix'})")
    if not fig.is_file():
        raise OptionError(f"--figure {figure}: no such file")
    return fig


# the parts of a config that hold locations (a run's data folders, a distilled model's teacher, an
# imported file's name, a published URL): cut to their last component; prose is left as written
LOCATED = ("training", "distilled_from", "published", "source")


def hub_config(model: Path, config: dict) -> dict:
    """``config`` as pushed: no locations of this machine in it (the parts in :data:`LOCATED`, through
    :func:`pocketgan.public.public`), and the model's `pocketgan evaluate` results (its eval.json) in
    ``model_card.evaluation`` when the config keeps none itself (a bundled model keeps its own), so
    the scores travel with the model."""
    import copy

    from ..fileio import read_json
    from ..models.zoo import evaluation_file
    from ..public import public

    pushed = copy.deepcopy(config)
    for key in LOCATED:
        if key in pushed:
            pushed[key] = public(pushed[key], key)
    card = pushed.get("model_card") if isinstance(pushed.get("model_card"), dict) else {}
    if not isinstance(card.get("evaluation"), dict) or not card["evaluation"]:
        try:
            path = evaluation_file(model)
            scores = read_json(path) if path.is_file() else None
        except (OSError, ValueError, UnicodeDecodeError):
            scores = None
        if isinstance(scores, dict):
            kept = {str(k): {f: public(v[f], f) for f in SCORE_FIELDS if f in v}
                    for k, v in scores.items() if isinstance(v, dict) and isinstance(v.get("translated"), dict)}
            if kept:
                pushed["model_card"] = {**card, "evaluation": kept}
    return pushed


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _dataset(config: dict) -> str | None:
    """The training dataset's name: the first word of the card's "data" (bundled models), else the
    last component of the run's data folder, else of an evaluation's data folder."""
    card = config.get("model_card") if isinstance(config.get("model_card"), dict) else {}
    data = card.get("data")
    if isinstance(data, str) and (m := re.match(r"[A-Za-z0-9][\w.-]*", data.strip())):
        return m.group(0)
    training = config.get("training") if isinstance(config.get("training"), dict) else {}
    data = training.get("data")
    data = data[0] if isinstance(data, list) and len(data) == 1 else data
    if isinstance(data, str) and data.strip():
        return re.split(r"[\\/]", data.rstrip("\\/"))[-1] or None
    for entry in (card.get("evaluation") or {}).values():
        if isinstance(entry, dict) and isinstance(entry.get("data"), str) and entry["data"].strip():
            return re.split(r"[\\/]", entry["data"].rstrip("\\/"))[-1] or None
    return None


def _license(config: dict, given: str | None) -> tuple[dict, str]:
    """(front-matter fields, the licence as the prose says it): ``given`` (--license), else the
    config's, else for an imported published model 'other' linking its authors, else
    :data:`DEFAULT_LICENSE` (pocketgan's own, which the bundled models ship under)."""
    card = config.get("model_card") if isinstance(config.get("model_card"), dict) else {}
    published = config.get("published") if isinstance(config.get("published"), dict) else None
    text = given or config.get("license") or card.get("license")
    if not text and published:
        by = published.get("by") or "its authors"
        link = f"https://github.com/{by}" if re.fullmatch(r"[\w.-]+/[\w.-]+", str(by)) else published.get("url")
        fields = {"license": "other", "license_name": "as-published", **({"license_link": link} if link else {})}
        return fields, f"as published by {by}" + (f" ({link})" if link else "") + "; pocketgan states none"
    text = str(text or DEFAULT_LICENSE).strip()
    lic = text.lower()
    if re.fullmatch(r"[a-z0-9][a-z0-9.+-]*", lic):
        return {"license": lic}, lic
    slug = re.sub(r"[^a-z0-9.]+", "-", lic).strip("-")[:64] or "custom"
    return {"license": "other", "license_name": slug}, text


def _tags(config: dict) -> list[str]:
    kind = config.get("model_type")
    if kind == "imported":
        name = str((config.get("published") or {}).get("name") or "")
        kind = name.split("/")[0] if "/" in name else "cyclegan" if name else None
    tags = ["pocketgan", "image-to-image", "gan", *OBJECTIVE_TAGS.get(kind, [kind] if isinstance(kind, str) else [])]
    if any(str(g.get("name", "")).startswith("mobile_") for g in config["generators"].values()):
        tags.append("mobile")
    return list(dict.fromkeys(t for t in tags if t))


def _domains(config: dict) -> dict[str, str] | None:
    given = config.get("domains")
    if isinstance(given, dict) and all(isinstance(given.get(k), str) and given[k].strip() for k in "AB"):
        return {k: given[k].strip() for k in "AB"}
    return None


def _test_images(entry: dict) -> str | None:
    if isinstance(entry.get("test_images"), str):
        return entry["test_images"]
    if _number(entry.get("n_source")) and _number(entry.get("n_target")):
        return f"{entry['n_source']} -> {entry['n_target']}"
    return None


def model_index(name: str, config: dict) -> list[dict]:
    """The Hub's ``model-index``: one result per evaluation (direction, resize convention, strength),
    its KID×1000 and FID beside the do-nothing baseline's (the untranslated test photos)."""
    from ..directions import DIRECTIONS
    from ..report import split_score_key

    card = config.get("model_card") if isinstance(config.get("model_card"), dict) else {}
    evaluation = card.get("evaluation") if isinstance(card.get("evaluation"), dict) else {}
    dataset, domains = _dataset(config), _domains(config)
    results = []
    for key, entry in evaluation.items():
        if not isinstance(entry, dict):
            continue
        direction, convention, strength = split_score_key(str(key))
        convention = convention or "clean"
        strength = 1.0 if math.isnan(strength) else strength
        metrics = []
        for part, label in (("translated", ""), ("do_nothing", "_do_nothing")):
            scores = entry.get(part) if isinstance(entry.get(part), dict) else {}
            what = "translated" if part == "translated" else "do nothing (the untranslated test photos)"
            if _number(scores.get("kid_x1000")):
                metrics.append({"type": f"kid{label}", "value": scores["kid_x1000"], "name": f"KID×1000, {what}"})
            if _number(scores.get("fid")):
                metrics.append({"type": f"fid{label}", "value": scores["fid"], "name": f"FID, {what}"})
        if not metrics:
            continue
        d = DIRECTIONS.get(direction)
        words = f"{domains[d.source]} → {domains[d.target]}, " if d and domains else ""
        task = f"Image-to-Image ({words}{direction}; {convention} resize" + (
            f", strength {strength:g})" if strength != 1.0 else ")")
        folders = f"test{d.source} → test{d.target}" if d else "test"
        results.append({"task": {"type": "image-to-image", "name": task},
                        "dataset": {"type": dataset or "custom", "name": f"{dataset or 'its test set'} ({folders})",
                                    "split": "test"},
                        "metrics": metrics})
    return [{"name": name, "results": results}] if results else []


def front_matter(name: str, config: dict, license_: str | None = None) -> dict:
    """The card's YAML metadata (https://huggingface.co/docs/hub/model-cards#model-card-metadata)."""
    fields, _ = _license(config, license_)
    meta = {"library_name": "pocketgan", **fields, "tags": _tags(config)}
    dataset = _dataset(config)
    if dataset:
        meta["datasets"] = [dataset]
    meta["pipeline_tag"] = "image-to-image"
    index = model_index(name, config)
    if index:
        meta["model-index"] = index
    return meta


def _generator_line(slot: str, spec: dict, params: int | None, domains: dict | None) -> str:
    from ..directions import DIRECTIONS

    d = next(d for d in DIRECTIONS.values() if d.slot == slot)
    args = ", ".join(f"{k}={v}" for k, v in spec.items() if k != "name")
    what = f"{domains[d.source]} → {domains[d.target]}" if domains else d.label
    size = f", {params:,} parameters" if params else ""
    return f"- `{slot}` ({d.name}, {what}): {spec.get('name')}({args}){size}"


def _scores_table(evaluation: dict) -> list[str]:
    rows = ["| direction | test images | KID×1000 translated | KID×1000 do nothing | FID translated | FID do nothing |",
            "| --- | --- | --- | --- | --- | --- |"]

    def kid(q):
        if not _number(q.get("kid_x1000")):
            return "-"
        return f"{q['kid_x1000']:g}" + (f" ± {q['kid_x1000_std']:g}" if _number(q.get("kid_x1000_std")) else "")

    for key, entry in evaluation.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("translated"), dict):
            continue
        t = entry["translated"]
        n = entry.get("do_nothing") if isinstance(entry.get("do_nothing"), dict) else {}
        rows.append(f"| {key} | {_test_images(entry) or '-'} | {kid(t)} | {kid(n)} | "
                    f"{t['fid'] if _number(t.get('fid')) else '-'} | {n['fid'] if _number(n.get('fid')) else '-'} |")
    return rows if len(rows) > 2 else []


def model_card(model: Path, config: dict, repo_id: str, license_: str | None = None, figure: str | None = None,
               params: dict | None = None, revision: str | None = None) -> str:
    """The README.md pushed with the model: YAML metadata (:func:`front_matter`), then what it is,
    the figure, how to use it, its generators, training and scores. ``config`` is the config as
    pushed (:func:`hub_config`): nothing in the card names a location of this machine."""
    import yaml

    from ..public import public

    name = repo_id.split("/")[1]
    meta = front_matter(name, config, license_)
    _, licence_text = _license(config, license_)
    card = config.get("model_card") if isinstance(config.get("model_card"), dict) else {}
    domains = _domains(config)
    spec = f"hf://{repo_id}" + (f"@{revision}" if revision and revision != "main" else "")
    lines = ["---", yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=1000).rstrip(), "---", "",
             f"# {name}", ""]
    if isinstance(config.get("description"), str) and config["description"].strip():
        lines += [config["description"].strip(), ""]
    if domains:
        lines += [f"Domain A: {domains['A']}, domain B: {domains['B']}.", ""]
    if figure:
        lines += [f"![what {name} does: before and after]({figure})", ""]
    slots = list(config["generators"])
    lines += ["## Use it", "", "With pocketgan installed (the model is fetched from the Hub once, into the Hugging Face "
              "cache, and works offline from there):", "", "```bash"]
    if "G_A" in slots:
        lines.append(f"pocketgan translate photo.jpg --model {spec}")
    if "G_B" in slots:
        lines.append(f"pocketgan translate photo.jpg --model {spec} --direction BtoA")
    first = "AtoB" if "G_A" in slots else "BtoA"
    lines += [f"pocketgan export --model {spec} --format tflite" + ("" if first == "AtoB" else " --direction BtoA"),
              "```", "", "In Python:", "", "```python", "from PIL import Image",
              "from pocketgan.inference.pipeline import TranslationPipeline", "",
              f"pipe = TranslationPipeline.from_pretrained(\"{spec}\"" + ("" if first == "AtoB" else ", \"BtoA\"") + ")",
              "pipe(Image.open(\"photo.jpg\")).save(\"translated.png\")", "```", "",
              f"`{spec}@<commit>` pins one commit; `HF_HUB_OFFLINE=1` uses only what is cached.", "",
              "## Model", ""]
    lines += [_generator_line(slot, config["generators"][slot], (params or {}).get(slot), domains) for slot in slots]
    if config.get("model_type"):
        lines.append(f"- Kind: {config['model_type']}")
    distilled = config.get("distilled_from") if isinstance(config.get("distilled_from"), dict) else None
    if distilled:
        lines.append(f"- Distilled from {distilled.get('teacher')} ({distilled.get('direction')})")
    published = config.get("published") if isinstance(config.get("published"), dict) else None
    if published:
        lines.append(f"- Converted from the checkpoint {published.get('name')} published by {published.get('by')} "
                     f"({published.get('url')})")
    lines += [f"- Licence: {licence_text}", f"- Made with pocketgan {config.get('pocketgan_version', '?')}", ""]
    training = public(config.get("training")) if isinstance(config.get("training"), dict) else None
    facts = [(label, card[key]) for key, label in (
        ("data", "Data"), ("objective", "Objective"), ("steps", "Steps"), ("epochs", "Epochs"),
        ("batch_size", "Batch size"), ("image_size", "Images"), ("train_minutes", "Training minutes"),
        ("hardware", "Hardware")) if card.get(key) not in (None, "")]
    if not facts and training:
        data = training.get("data")
        facts = [(label, value) for label, value in (
            ("Data", ", ".join(map(str, data)) if isinstance(data, list) else data), ("Steps", training.get("steps")),
            ("Epochs completed", training.get("epochs_completed")),
            ("Training minutes", round(training["train_seconds"] / 60, 1) if _number(training.get("train_seconds")) else None))
            if value not in (None, "")]
    if facts:
        lines += ["## Training", ""] + [f"- {label}: {value}" for label, value in facts] + [""]
    if isinstance(card.get("command"), str):
        lines += ["```bash", card["command"], "```", ""]
    table = _scores_table(card.get("evaluation") if isinstance(card.get("evaluation"), dict) else {})
    if table:
        lines += ["## Scores", "", "KID×1000 (mean ± std over subsets) and FID of the translated test photos against the "
                  "real photos of the target domain, beside the same for the untranslated photos (\"do nothing\", the "
                  "baseline a translator must beat); lower is better. A key reads direction/resize convention[@strength].",
                  ""] + table + [""]
    if isinstance(card.get("notes"), str) and card["notes"].strip():
        lines += ["## Notes", "", card["notes"].strip(), ""]
    files = ["config.json", *(f"{s}.safetensors" for s in slots), *([figure] if figure else [])]
    lines += ["## Files", "", f"{', '.join(f'`{f}`' for f in files)}: the generators' weights as safetensors (nothing "
              "is unpickled) and the config that rebuilds them; pocketgan exports ONNX/LiteRT files from them where "
              "they are used.", ""]
    return "\n".join(lines)


def upload(folder: Path, repo_id: str, private: bool = False, revision: str | None = None,
           message: str = "pocketgan push") -> tuple[str | None, str]:
    """Upload ``folder`` to ``repo_id`` in one commit (repository and branch created if missing);
    returns (commit sha, URL). The library's errors are one line saying what to do."""
    from ..errors import PocketganError
    from ..models.hub import FIGURES, HUB_URL, _errors, hub_error, is_network_error

    hub, errors = _errors()
    try:
        api = hub.HfApi(library_name="pocketgan", library_version=_version())
        repo_url = api.create_repo(repo_id, repo_type="model", private=True if private else None, exist_ok=True)
        if revision and revision != "main":
            api.create_branch(repo_id, branch=revision, repo_type="model", exist_ok=True)
        info = api.upload_folder(repo_id=repo_id, folder_path=str(folder), repo_type="model", revision=revision,
                                 commit_message=message, delete_patterns=["G_*.safetensors", *FIGURES])
    except PocketganError:
        raise
    except Exception as e:
        mapped = hub_error(e, repo_id, errors)
        if mapped is None and is_network_error(e):
            raise PocketganError(f"{repo_id}: cannot reach the Hugging Face Hub ({_first(e)}); nothing was "
                                 "uploaded, run the command again when connected") from None
        if mapped is None:
            raise
        raise PocketganError(f"{mapped}; nothing was uploaded") from None
    commit = getattr(info, "oid", None)
    url = str(repo_url) if isinstance(repo_url, str) and repo_url.startswith("http") else f"{HUB_URL}/{repo_id}"
    return (commit if isinstance(commit, str) else None), url


def _first(e: BaseException) -> str:
    from ..errors import first_line

    return first_line(e, 160)


def _version() -> str:
    from .. import __version__

    return __version__

