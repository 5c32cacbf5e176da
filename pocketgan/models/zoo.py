"""The model zoo: models by name instead of by path.

Three kinds of names, looked up after an existing model path (see :func:`resolve_model`), and
models on the Hugging Face Hub, ``hf://ORG/NAME[@REVISION]`` (:mod:`.hub`: fetched into the
library's cache, usable offline from there, shared with `pocketgan push`):
  * bundled  - small models shipped inside the package (``pocketgan/pretrained/NAME/``), usable with
               no download: ``pocketgan translate photo.jpg`` uses ``summer2winter``;
  * imported - published CycleGAN/pix2pix checkpoints fetched with ``pocketgan import --published
               NAME`` into the model home (:func:`pocketgan.home.pocketgan_home`: ``$POCKETGAN_HOME``,
               else ``$XDG_CACHE_HOME/pocketgan``, else ``~/.cache/pocketgan``), under ``models/NAME``;
  * published - the catalogue of checkpoints junyanz/pytorch-CycleGAN-and-pix2pix publishes
               (resnet_9blocks CycleGAN generators, unet_256 pix2pix ones) and those
               taesungp/contrastive-unpaired-translation publishes (``cut/NAME``, ``fastcut/NAME``:
               cut_resnet_9blocks generators), each one direction.
The .pth is downloaded with the dataset downloader's machinery (resume, size check), read with
``torch.load(weights_only=True)``, converted to safetensors, and deleted. The CUT authors publish
all six of their generators in one archive: it is downloaded once into ``<model home>/downloads``,
only the asked ``latest_net_G.pth`` is taken out of it (nothing else is unpacked), and the archive
is kept until every model it holds has been imported, then deleted.

Where commands write for a model: a command given a model *name* never writes next to the caller
(no ``./NAME/...`` appears because a name was typed). What belongs to a model goes beside the
*resolved* model when that folder is the user's own (a model or run folder given by path, or an
imported model in the model home): ``MODEL/export/``, ``MODEL/eval.json``. A bundled model lives
inside the installed package (possibly read-only, or a source checkout), so its exports go to
``<model home>/exports/NAME/`` (:func:`export_dir`) and its evaluations to
``<model home>/evaluations/NAME/eval.json`` (:func:`evaluation_file`). A Hub model is treated the
same way (its snapshot lives in the library's cache, which is not the user's folder either), one
place per commit so that files made from different weights never mix:
``<model home>/exports/hf/ORG/NAME/<commit>/`` and ``<model home>/evaluations/hf/ORG/NAME/<commit>/eval.json``.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ..directions import DIRECTIONS
from ..errors import ModelFolderError
from ..fileio import atomic_write_json
from ..home import pocketgan_home
from . import hub
from .config import CONFIG_NAME, read_model_config

BUNDLED_DIR = Path(__file__).resolve().parent.parent / "pretrained"
DEFAULT_MODEL = "summer2winter"

CYCLEGAN_CKPT_URL = "http://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models/{name}.pth"
PIX2PIX_CKPT_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch/{name}.pth"
RESNET = {"arch": "resnet_9blocks", "ngf": 64, "norm": "instance", "use_dropout": False}
UNET = {"arch": "unet_256", "ngf": 64, "norm": "batch", "use_dropout": True}
# all six CUT / FastCUT generators, as <dataset>_<mode>_pretrained/latest_net_G.pth (README of
# taesungp/contrastive-unpaired-translation; trained with its defaults: anti-aliased resnet_9blocks)
CUT_ARCHIVE_URL = "http://efrosgans.eecs.berkeley.edu/CUT/pretrained_models.tar"
CUT_RESNET = {"arch": "cut_resnet_9blocks", "ngf": 64, "norm": "instance", "use_dropout": False}
CYCLEGAN_REPO, CUT_REPO = "junyanz/pytorch-CycleGAN-and-pix2pix", "taesungp/contrastive-unpaired-translation"
# our name -> the reference's experiment folder; Cityscapes was trained BtoA (label maps -> photos)
CUT_MODELS = {"horse2zebra": "horse2zebra", "cat2dog": "cat2dog", "cityscapes_label2photo": "cityscapes"}


@dataclass(frozen=True)
class PublishedCheckpoint:
    """One published generator: where it is and the architecture it was trained with. ``member``:
    the .pth's path inside the archive at ``url`` (matched on its last components), when the
    authors publish an archive of several models rather than the .pth itself."""

    name: str
    url: str
    generator: dict = field(default_factory=lambda: dict(RESNET))
    sha256: str | None = None
    member: str | None = None
    by: str = CYCLEGAN_REPO


PUBLISHED: dict[str, PublishedCheckpoint] = {
    **{n: PublishedCheckpoint(n, CYCLEGAN_CKPT_URL.format(name=n)) for n in (
        "apple2orange", "orange2apple", "summer2winter_yosemite", "winter2summer_yosemite", "horse2zebra",
        "zebra2horse", "monet2photo", "style_monet", "style_cezanne", "style_ukiyoe", "style_vangogh", "sat2map",
        "map2sat", "cityscapes_photo2label", "cityscapes_label2photo", "facades_photo2label", "facades_label2photo",
        "iphone2dslr_flower")},
    **{f"pix2pix/{n}": PublishedCheckpoint(f"pix2pix/{n}", PIX2PIX_CKPT_URL.format(name=n), dict(UNET)) for n in (
        "edges2shoes", "sat2map", "map2sat", "facades_label2photo", "day2night")},
    **{f"{mode}/{n}": PublishedCheckpoint(f"{mode}/{n}", CUT_ARCHIVE_URL, dict(CUT_RESNET), by=CUT_REPO,
                                          member=f"{folder}_{mode}_pretrained/latest_net_G.pth")
       for mode in ("cut", "fastcut") for n, folder in CUT_MODELS.items()},
}


EXPORTED_SUFFIXES = (".onnx", ".tflite")


def _folders(root: Path) -> dict[str, Path]:
    """name -> folder for every model folder under ``root`` (names may hold one '/', e.g. pix2pix/x)."""
    if not root.is_dir():
        return {}
    configs = sorted([*root.glob(f"*/{CONFIG_NAME}"), *root.glob(f"*/*/{CONFIG_NAME}")])
    return {p.parent.relative_to(root).as_posix(): p.parent for p in configs}


def bundled_models() -> dict[str, Path]:
    return _folders(BUNDLED_DIR)


def imported_models() -> dict[str, Path]:
    return _folders(pocketgan_home() / "models")


def bundled_name(model: str | Path) -> str | None:
    """The name of ``model`` if it is a bundled model's folder (inside the package), else None."""
    model, root = Path(model).resolve(), BUNDLED_DIR.resolve()
    return model.relative_to(root).as_posix() if model != root and model.is_relative_to(root) else None


def export_dir(model: Path) -> Path:
    """Where exports of ``model`` go by default: ``MODEL/export/``, except for a bundled model,
    whose exports go to the model home (the package folder may be read-only, or a source checkout),
    and a Hub snapshot, whose exports go there under ``hf/ORG/NAME/<commit>``."""
    name = bundled_name(model) or hub.home_folder(model)
    return pocketgan_home() / "exports" / name if name else Path(model).resolve() / "export"


def evaluation_file(model: Path) -> Path:
    """Where `pocketgan evaluate` writes by default: ``MODEL/eval.json`` for the user's own model
    (or ``eval.json`` beside an exported file), ``<model home>/evaluations/NAME/eval.json`` for a
    bundled one, ``<model home>/evaluations/hf/ORG/NAME/<commit>/eval.json`` for a Hub snapshot.
    ``model`` is a resolved model (:func:`resolve_model`), never a bare name."""
    model = Path(model)
    name = bundled_name(model) or hub.home_folder(model)
    if name:
        return pocketgan_home() / "evaluations" / name / "eval.json"
    return (model.parent if model.suffix.lower() in EXPORTED_SUFFIXES else model) / "eval.json"


def is_model_path(path: Path) -> bool:
    """A folder with a config.json (model or run folder) or an exported .onnx/.tflite file."""
    return (path.is_dir() and (path / CONFIG_NAME).is_file()) or (
        path.is_file() and path.suffix.lower() in EXPORTED_SUFFIXES)


def resolve_model(spec: str | Path | None) -> Path:
    """The model folder or exported file ``spec`` means; ``None`` is the default bundled model
    (folders in the current directory play no part then).

    Names and paths can collide (``summer2winter`` is a bundled name and may also be a folder in the
    current directory). The rule, in order:
      1. an existing path that IS a model (a folder with config.json: model or run folder; or an
         exported .onnx/.tflite file) wins: it is returned as given;
      2. a known name (bundled, then imported) comes next, even if a path of that name exists but is
         not a model (e.g. an unrelated ``./summer2winter/`` folder): the name wins, with a one-line
         warning that the path was ignored;
      3. any other existing path is returned as given (a training checkpoint for `info`; the
         loaders' own errors name what is missing from a folder that is no model);
      4. an exported-file suffix or an absolute path is returned as given (the loader's error names
         the missing file); a published name not imported yet, or an unknown name, is a one-line
         :class:`ModelFolderError` saying what to do / what exists.
    Before all of these, ``hf://ORG/NAME[@REVISION]`` is a model on the Hugging Face Hub: its
    snapshot folder in the library's cache (:func:`.hub.resolve`; one-line errors).
    """
    if spec is None:  # no name was typed: the bundled default, whatever folders are around
        spec = DEFAULT_MODEL
        if spec in bundled_models():
            return bundled_models()[spec]
    spec = str(spec)
    if hub.is_hub_spec(spec):
        return hub.resolve(spec)
    path = Path(spec)
    if is_model_path(path):
        return path
    for table in (bundled_models(), imported_models()):
        if spec in table:
            if path.exists():
                warnings.warn(f"{spec}: {'a folder' if path.is_dir() else 'a file'} of that name here is not a model; "
                              f"using the model named {spec} ({table[spec]})", stacklevel=2)
            return table[spec]
    if path.exists() or path.suffix.lower() in EXPORTED_SUFFIXES or path.is_absolute():
        return path  # clearly a path: the loader's own error names what is missing
    if spec in PUBLISHED:
        raise ModelFolderError(f"{spec}: a published model that is not downloaded yet; "
                               f"run `pocketgan import --published {spec}` first")
    known = sorted(bundled_models()) + sorted(imported_models())
    raise ModelFolderError(f"{spec}: no such model folder or model name (known names: {', '.join(known) or 'none'}; "
                           "`pocketgan models` lists them)")


def import_published(name: str, progress: bool = True) -> Path:
    """Download published checkpoint ``name`` and convert it into ``<model home>/models/name``."""
    from ..data.download import extract_member, fetch
    from ..data.images import DataError
    from .importing import import_reference

    if name not in PUBLISHED:
        raise ModelFolderError(f"unknown published model {name!r}; choose one of: {', '.join(sorted(PUBLISHED))}")
    src = PUBLISHED[name]
    out = pocketgan_home() / "models" / name
    if (out / CONFIG_NAME).is_file():
        read_model_config(out)  # a damaged folder is an error, not a silent success
        return out
    gen = dict(src.generator)
    arch = gen.pop("arch")
    pth = pocketgan_home() / "downloads" / f"{name.replace('/', '--')}.pth"
    if src.member is None:
        fetch(src.url, pth, src.sha256, progress,
              hint="download the .pth by hand and convert it with `pocketgan import FILE --out FOLDER`")
        where = src.url
    else:
        archive = _fetch_archive(src, arch, progress)
        try:
            extract_member(archive, src.member, pth)
        except DataError as e:
            archive.unlink(missing_ok=True)  # damaged or not what the catalogue expects: fetch it anew next time
            raise DataError(f"{e}; the archive was removed, run the command again") from None
        where = f"{src.url} ({src.member})"
    try:
        import_reference(pth, out, arch, "G_A", **gen)
    except ModelFolderError as e:
        pth.unlink(missing_ok=True)  # a broken download: fetch it anew next time
        if src.member is not None:
            _archive_path(src.url).unlink(missing_ok=True)
        raise ModelFolderError(f"{where}: {e}") from None
    config = read_model_config(out)
    config["source"] = {"G_A": where}
    config["published"] = {"name": name, "url": src.url, "by": src.by, **({"member": src.member} if src.member else {})}
    atomic_write_json(out / CONFIG_NAME, config)
    pth.unlink()
    if src.member is not None:
        _drop_archive_when_done(src)
    return out


def _archive_path(url: str) -> Path:
    """Where a shared archive is kept while models are imported from it (named after its URL path)."""
    return pocketgan_home() / "downloads" / "--".join(urlsplit(url).path.strip("/").split("/"))


def _fetch_archive(src: PublishedCheckpoint, arch: str, progress: bool) -> Path:
    from ..data.download import fetch

    archive = _archive_path(src.url)
    if archive.is_file():  # complete (fetch renames it into place only when it is): shared by several models
        return archive
    return fetch(src.url, archive, src.sha256, progress,
                 hint=f"download the archive by hand, take {src.member} out of it and convert that with "
                      f"`pocketgan import FILE --arch {arch} --out FOLDER`")


def _drop_archive_when_done(src: PublishedCheckpoint) -> None:
    """Delete the shared archive once every catalogue model it holds has been imported."""
    siblings = [n for n, c in PUBLISHED.items() if c.url == src.url and c.member is not None]
    if all((pocketgan_home() / "models" / n / CONFIG_NAME).is_file() for n in siblings):
        _archive_path(src.url).unlink(missing_ok=True)


def _describe(name: str, folder: Path, kind: str) -> dict | None:
    """The row of one model folder, or None (with a one-line warning) for a folder that is not a
    usable model: one damaged folder must not hide the others."""
    try:
        config = read_model_config(folder)  # checks the schema: the fields read below are there
        gens = config["generators"]
        first = next(iter(gens.values()))
        arch = f"{first['name']}(ngf={first.get('ngf', '?')})" + (" residual" if first.get("residual") else "")
        about = config.get("description") or (config.get("published") or {}).get("url") or str(folder)
        size = sum(p.stat().st_size for p in folder.glob("G_*.safetensors"))
    except (ModelFolderError, OSError) as e:
        warnings.warn(f"skipped {kind} model {name}: {e}", stacklevel=3)
        return None
    return {"name": name, "kind": kind, "directions": [name for name, d in DIRECTIONS.items() if d.slot in gens],
            "generator": arch, "bytes": size, "path": str(folder), "about": about}


def list_models(include_published: bool = False) -> list[dict]:
    """Rows for `pocketgan models`: bundled, then imported, then (optionally) published but not imported.
    A folder that is not a usable model is left out, with a warning naming it and the problem."""
    rows = [r for n, p in bundled_models().items() if (r := _describe(n, p, "bundled"))]
    imported = imported_models()
    rows += [r for n, p in imported.items() if (r := _describe(n, p, "imported"))]
    if include_published:
        for name, src in sorted(PUBLISHED.items()):
            if name not in imported:
                g = src.generator
                rows.append({"name": name, "kind": "published", "directions": ["AtoB"],
                             "generator": f"{g['arch']}(ngf={g['ngf']})", "bytes": None, "path": None,
                             "about": f"`pocketgan import --published {name}` ({src.url})"})
    return rows
