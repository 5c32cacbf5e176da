"""Models on the Hugging Face Hub: ``hf://ORG/NAME[@REVISION]`` wherever a model is taken.

:func:`resolve` turns a spec into a local folder with ``huggingface_hub.snapshot_download``: only
pocketgan's files are fetched (:data:`MODEL_FILES`: config.json, the G_A/G_B safetensors, the
README.md model card and its figure; never .pth/.bin/.pt pickles, never anything else), into the
library's own cache (``HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``),
as ``models--ORG--NAME/snapshots/<commit>/``. ``REVISION`` is a branch, tag or commit (default:
the repository's default branch). It works offline from that cache: with ``HF_HUB_OFFLINE=1`` the
library looks only there, and when the Hub cannot be reached the cached snapshot of the revision
is used (the library falls back to it; so does :func:`resolve` when a download breaks off). Every
failure is one line saying what to do (a :class:`ModelFolderError`).

What a command writes records the commit it used: :func:`provenance` of a resolved folder gives
the repository, the revision asked for and the commit, read from the snapshot's place in the
cache; :func:`source_of` gives the pinned spec ``hf://ORG/NAME@<commit>`` that evaluations, export
cards and training configs name (run again, it fetches exactly those files). A snapshot is not the
user's folder: what commands write beside a model goes to the model home for it, under
``hf/ORG/NAME/<commit>/`` (:func:`home_folder`; see :mod:`pocketgan.models.zoo`).

Torch-free, and ``huggingface_hub`` is imported only when a spec is resolved: `translate`'s ONNX
fast path (:mod:`pocketgan.inference.onnx_cache`) resolves Hub specs through this module without
importing PyTorch, and parsing the command line imports nothing of it.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any, TypeGuard

from .. import __version__
from ..directions import SLOTS
from ..errors import MissingDependency, ModelFolderError, first_line
from ..fileio import read_json
from .config import CONFIG_NAME, FORMAT as MODEL_FORMAT

SCHEME = "hf://"
FIGURES = ("figure.png", "figure.jpg")
# the only files fetched from (and pushed to) a repository: safetensors weights, never pickles
MODEL_FILES = (CONFIG_NAME, *(f"{slot}.safetensors" for slot in SLOTS), "README.md", *FIGURES)
LOGIN = "run `hf auth login` (or set HF_TOKEN)"
HUB_URL = "https://huggingface.co"
INSTALL = "pip install 'huggingface-hub>=0.34'"

# the Hub's rules for a user/organisation and a repository name: letters, digits, '-', '_', '.',
# not starting or ending with '-' or '.', no '--' or '..', 96 characters at most
_PART = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?")
_COMMIT = re.compile(r"[0-9a-f]{40}")
_EXAMPLE = "e.g. hf://your-name/summer2winter or hf://your-name/summer2winter@main"

# resolved snapshot folder -> the revision it was asked for (None: the default branch), in this process
_ASKED: dict[str, str | None] = {}


def is_hub_spec(spec: object) -> TypeGuard[str]:
    """True for a string that starts with ``hf://`` (well formed or not: :func:`parse_spec` says)."""
    return isinstance(spec, str) and spec.startswith(SCHEME)


def check_repo_id(repo_id: str, shown: str | None = None) -> str:
    """``repo_id`` ("ORG/NAME") when the Hub would accept it, else a one-line ModelFolderError
    naming ``shown`` (what the user typed)."""
    shown = shown or repo_id
    parts = repo_id.split("/")
    if len(parts) != 2 or not all(parts):
        raise ModelFolderError(f"{shown}: a Hub model is ORG/NAME, a user or organisation and a repository name "
                               f"({_EXAMPLE})")
    for part in parts:
        if not _PART.fullmatch(part) or "--" in part or ".." in part:
            raise ModelFolderError(f"{shown}: {part[:60]!r} is not a Hub name (letters, digits, '-', '_' and '.', "
                                   "at most 96, not starting or ending with '-' or '.', no '--' or '..')")
    return repo_id


def parse_spec(spec: str) -> tuple[str, str | None]:
    """(repo id, revision or None) of ``hf://ORG/NAME[@REVISION]``; one-line ModelFolderError when
    it is malformed (``hf://``, ``hf://onlyname``, ``hf://a/b@``)."""
    if not is_hub_spec(spec):
        raise ModelFolderError(f"{spec}: not a Hub model (those are hf://ORG/NAME[@REVISION])")
    body = spec[len(SCHEME):]
    repo_id, at, revision = body.partition("@")
    if not repo_id:
        raise ModelFolderError(f"{spec}: no repository named; write hf://ORG/NAME[@REVISION] ({_EXAMPLE})")
    check_repo_id(repo_id, spec)
    if at and not revision:
        raise ModelFolderError(f"{spec}: nothing after '@'; give a branch, tag or commit (hf://{repo_id}@main), "
                               "or leave out the '@' for the default branch")
    if at and (not revision.isprintable() or any(c.isspace() for c in revision) or ".." in revision
               or revision.startswith(("/", "\\")) or len(revision) > 200):
        raise ModelFolderError(f"{spec}: {revision[:60]!r} is not a revision (a branch, tag or commit)")
    return repo_id, revision or None


def _hub():
    try:
        import huggingface_hub
    except ImportError:
        raise MissingDependency(f"hf:// models need the huggingface_hub package: {INSTALL}") from None
    return huggingface_hub


_ERROR_NAMES = ("RepositoryNotFoundError", "GatedRepoError", "RevisionNotFoundError", "LocalEntryNotFoundError",
                "IncompleteSnapshotError", "OfflineModeIsEnabled", "HfHubHTTPError", "LocalTokenNotFoundError",
                "DisabledRepoError")


class _NeverRaised(Exception):
    """Stands in for an error class the installed huggingface_hub does not have."""


def _errors() -> tuple[Any, dict[str, type[BaseException]]]:
    """(the library, its error classes by name): from ``huggingface_hub.errors``, or
    ``huggingface_hub.utils`` where an older release keeps one; :class:`_NeverRaised` for a class
    the installed release lacks (IncompleteSnapshotError is recent)."""
    import importlib

    hub = _hub()
    found: dict[str, type[BaseException]] = {}
    for module in ("huggingface_hub.errors", "huggingface_hub.utils"):
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        for name in _ERROR_NAMES:
            if name not in found and isinstance(getattr(mod, name, None), type):
                found[name] = getattr(mod, name)
    return hub, {name: found.get(name, _NeverRaised) for name in _ERROR_NAMES}


def offline_mode() -> bool:
    """Whether the library is in offline mode (``HF_HUB_OFFLINE``, as it read it)."""
    constants = _hub().constants
    check = getattr(constants, "is_offline_mode", None)
    return bool(check() if callable(check) else getattr(constants, "HF_HUB_OFFLINE", False))


def cache_root() -> str:
    """The library's cache folder (where snapshots go)."""
    return str(_hub().constants.HF_HUB_CACHE)


def is_network_error(e: BaseException) -> bool:
    """A connection that failed (refused, reset, timed out, no route, DNS), whichever HTTP library
    the installed huggingface_hub uses (requests, httpx); not an HTTP answer from the Hub."""
    for cls in type(e).__mro__:
        if cls.__module__.split(".")[0] in ("httpx", "httpx2", "httpcore", "httpcore2", "requests", "urllib3") and \
                any(word in cls.__name__ for word in ("Connect", "Timeout", "Network", "Transport", "Protocol")):
            return True
    return isinstance(e, (ConnectionError, TimeoutError))


def status_of(e: BaseException) -> int | None:
    """The HTTP status of a library error, when it carries a response."""
    response = getattr(e, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def hub_error(e: BaseException, what: str, errors: dict) -> ModelFolderError | None:
    """One line for a library error about ``what`` (a spec or ORG/NAME), or None when ``e`` is not
    one this knows: repository missing, private or gated; revision missing; not logged in; refused."""
    if isinstance(e, errors["GatedRepoError"]):
        repo = what.removeprefix(SCHEME).partition("@")[0]
        return ModelFolderError(f"{what}: a gated repository on the Hugging Face Hub: ask for access on "
                                f"{HUB_URL}/{repo}, then {LOGIN}")
    if isinstance(e, errors["RevisionNotFoundError"]):
        return ModelFolderError(f"{what}: the repository has no such revision (a branch, tag or commit); check the "
                                "name after '@', or leave it out for the default branch")
    if isinstance(e, errors["RepositoryNotFoundError"]):
        return ModelFolderError(f"{what}: no such model repository on the Hugging Face Hub, or it is private and "
                                f"needs a token that can read it: check the name, or {LOGIN}")
    if isinstance(e, errors["DisabledRepoError"]):
        return ModelFolderError(f"{what}: the repository is disabled on the Hugging Face Hub")
    if isinstance(e, errors["LocalTokenNotFoundError"]) or status_of(e) == 401:
        return ModelFolderError(f"{what}: the Hugging Face Hub wants a login (no token, or an invalid one): {LOGIN}")
    if status_of(e) == 403:
        return ModelFolderError(f"{what}: the Hugging Face Hub refused: your token has no access to this repository "
                                f"(a read-only token, or a namespace you are not a member of); {LOGIN} with a "
                                "token that has it")
    if isinstance(e, errors["HfHubHTTPError"]):
        return ModelFolderError(f"{what}: the Hugging Face Hub answered: {first_line(e)}")
    return None


def resolve(spec: str) -> Path:
    """The local folder of ``hf://ORG/NAME[@REVISION]``: its snapshot in the Hub cache, downloaded
    (pocketgan's files only) when missing or when the branch moved; from the cache alone when
    offline. Checked to be a pocketgan model folder whose generators are all there as safetensors."""
    repo_id, revision = parse_spec(spec)
    hub, errors = _errors()
    kwargs = dict(repo_id=repo_id, revision=revision, allow_patterns=list(MODEL_FILES),
                  library_name="pocketgan", library_version=__version__)
    try:
        try:
            folder = hub.snapshot_download(**kwargs)
        except (errors["LocalEntryNotFoundError"], errors["RevisionNotFoundError"], errors["RepositoryNotFoundError"],
                errors["HfHubHTTPError"]):
            raise
        except Exception as e:  # a connection lost after the file listing: the cached snapshot, if there is one
            if not is_network_error(e):
                raise
            try:
                folder = hub.snapshot_download(**kwargs, local_files_only=True)
            except errors["IncompleteSnapshotError"]:
                raise
            except errors["LocalEntryNotFoundError"]:
                raise _unreachable(spec, e) from None
            warnings.warn(f"{spec}: cannot reach the Hugging Face Hub ({first_line(e)}); using the cached snapshot "
                          f"{Path(folder).name[:12]}", stacklevel=2)
    except errors["IncompleteSnapshotError"] as e:
        offline = " (with HF_HUB_OFFLINE unset)" if offline_mode() else ""
        raise ModelFolderError(f"{spec}: the cached snapshot is incomplete ({_missing(e)}) and the Hugging Face Hub "
                               f"cannot be reached; connect and run again{offline} to complete it") from None
    except errors["LocalEntryNotFoundError"] as e:
        if offline_mode() or isinstance(e.__cause__, errors["OfflineModeIsEnabled"]):
            raise ModelFolderError(f"{spec}: not in the Hugging Face cache ({cache_root()}) and HF_HUB_OFFLINE is "
                                   "set; connect and set HF_HUB_OFFLINE=0 (or unset it) to download it") from None
        raise _unreachable(spec, e.__cause__ or e) from None
    except ModelFolderError:
        raise
    except Exception as e:
        mapped = hub_error(e, spec, errors)
        if mapped is None:
            if is_network_error(e):
                raise _unreachable(spec, e) from None
            raise
        raise mapped from None
    folder = Path(folder)
    _ASKED[str(folder.resolve())] = revision
    check_snapshot(folder, spec)
    return folder


def _unreachable(spec: str, cause: BaseException) -> ModelFolderError:
    return ModelFolderError(f"{spec}: cannot reach the Hugging Face Hub ({first_line(cause, 120)}) and the model is "
                            f"not in the cache ({cache_root()}); connect and run again (with HF_HUB_OFFLINE=1 only "
                            "cached models are used)")


def _missing(e: BaseException) -> str:
    text = first_line(e, 400)
    found = re.search(r"\d+ file\(s\) are missing \(([^)]*)\)", text)
    return f"missing {found.group(1)}" if found else "files missing"


def check_snapshot(folder: Path, spec: str) -> None:
    """One ModelFolderError line unless ``folder`` holds a pocketgan config.json and a safetensors
    file for every generator it lists (a repository of .pth/.bin pickles is refused: never loaded)."""
    config_path = folder / CONFIG_NAME
    pickles = sorted(p.name for p in folder.glob("*") if p.suffix.lower() in (".pth", ".pt", ".bin", ".ckpt", ".pkl"))
    if not config_path.is_file():
        raise ModelFolderError(f"{spec}: not a pocketgan model (the repository has no {CONFIG_NAME}; pocketgan models "
                               "are config.json + G_A/G_B.safetensors, shared with `pocketgan push`)")
    try:
        config = read_json(config_path)
    except (OSError, ValueError, UnicodeDecodeError, RecursionError) as e:
        raise ModelFolderError(f"{spec}: unreadable {CONFIG_NAME} ({first_line(e)})") from None
    if not isinstance(config, dict) or config.get("format") != MODEL_FORMAT:
        raise ModelFolderError(f"{spec}: not a pocketgan model (its {CONFIG_NAME} has no \"format\": \"{MODEL_FORMAT}\"; "
                               "pocketgan models are shared with `pocketgan push`)")
    gens = config.get("generators")
    slots = [s for s in gens if isinstance(s, str)] if isinstance(gens, dict) else []
    missing = [f"{s}.safetensors" for s in slots if not (folder / f"{s}.safetensors").is_file()]
    if missing:
        held = f" (it holds {', '.join(pickles)})" if pickles else ""
        raise ModelFolderError(f"{spec}: has no {', '.join(missing)}{held}; pocketgan loads weights only from "
                               "safetensors files, never .pth/.bin pickles: convert a .pth with `pocketgan import FILE "
                               "--out FOLDER` and share that folder with `pocketgan push`")


def snapshot_of(folder: str | Path) -> tuple[str, str] | None:
    """(repo id, commit) when ``folder`` is a model snapshot in a Hub cache
    (``.../models--ORG--NAME/snapshots/<commit>``), else None. Read from the path alone."""
    folder = Path(folder)
    if not _COMMIT.fullmatch(folder.name) or folder.parent.name != "snapshots":
        return None
    repo = folder.parent.parent.name
    if not repo.startswith("models--"):
        return None
    parts = repo[len("models--"):].split("--")
    if len(parts) != 2 or not all(_PART.fullmatch(p) for p in parts):
        return None
    return "/".join(parts), folder.name


def provenance(folder: str | Path) -> dict | None:
    """Where a resolved Hub model came from: ``{"repo_id", "revision", "commit", "spec"}`` (revision:
    what was asked for, None for the default branch or when this process did not resolve it;
    spec: the pinned ``hf://ORG/NAME@<commit>``), or None for any other folder."""
    found = snapshot_of(folder)
    if found is None:
        return None
    repo_id, commit = found
    return {"repo_id": repo_id, "revision": _ASKED.get(str(Path(folder).resolve())), "commit": commit,
            "spec": f"{SCHEME}{repo_id}@{commit}"}


def source_of(folder: str | Path) -> str:
    """How records name a model: the pinned ``hf://ORG/NAME@<commit>`` for a Hub snapshot, else the
    path as given."""
    found = provenance(folder)
    return found["spec"] if found else str(folder)


def home_folder(folder: str | Path) -> Path | None:
    """``hf/ORG/NAME/<commit>``, the place under the model home's ``exports/`` and ``evaluations/``
    for a Hub snapshot (one per commit: files made from other weights never mix), else None."""
    found = snapshot_of(folder)
    if found is None:
        return None
    repo_id, commit = found
    return Path("hf", *repo_id.split("/"), commit)


def display_name(folder: str | Path) -> str | None:
    """A Hub snapshot's repository name (``NAME`` of ORG/NAME) for file names and titles, else None."""
    found = snapshot_of(folder)
    return found[0].split("/")[1] if found else None
