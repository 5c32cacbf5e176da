"""`pocketgan data download NAME`: the standard CycleGAN / pix2pix datasets, fetched for real.

Downloads go to ``<file>.part`` and resume from there with an HTTP Range request after an
interruption; the finished file is checked against the size the server announced (and a SHA-256
when the catalogue knows one), renamed into place, then unpacked safely (no member may escape the
target folder) into the layout the trainer expects: ``ROOT/NAME/trainA``, ``testB``, ... for
CycleGAN sets, ``ROOT/NAME/train``, ``val``, ... (A|B side by side) for pix2pix sets.
"""
from __future__ import annotations

import http.client
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..home import file_digest
from .images import DataError

CYCLEGAN_URL = "http://efrosgans.eecs.berkeley.edu/cyclegan/datasets/{name}.zip"
PIX2PIX_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/{name}.tar.gz"
CHUNK = 1 << 16


@dataclass(frozen=True)
class DatasetSource:
    name: str
    url: str
    kind: str  # "cyclegan" (trainA/trainB/testA/testB) or "pix2pix" (aligned train/val/test)
    sha256: str | None = None


CATALOGUE: dict[str, DatasetSource] = {
    **{n: DatasetSource(n, CYCLEGAN_URL.format(name=n), "cyclegan") for n in (
        "apple2orange", "summer2winter_yosemite", "horse2zebra", "monet2photo", "cezanne2photo", "ukiyoe2photo",
        "vangogh2photo", "maps", "facades", "iphone2dslr_flower")},
    **{f"pix2pix/{n}": DatasetSource(n, PIX2PIX_URL.format(name=n), "pix2pix") for n in (
        "facades", "maps", "edges2shoes", "edges2handbags", "night2day")},
}
# not redistributable: the authors' scripts refuse them too
LICENSED = {"cityscapes": "Cityscapes may not be redistributed; download gtFine_trainvaltest.zip and "
                          "leftImg8bit_trainvaltest.zip from https://www.cityscapes-dataset.com and build the pairs "
                          "with `pocketgan data pair`"}


def fetch(url: str, dest: str | Path, sha256: str | None = None, progress: bool = True, timeout: float = 30,
          hint: str = "download it by hand and pass the folder with --data instead") -> Path:
    """Download ``url`` to ``dest`` (resuming ``dest.part``); verify size and optional SHA-256.
    ``hint`` ends the error message when the server cannot be reached."""
    from tqdm import tqdm

    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # the partial file is already complete
            response = None
        else:
            raise DataError(f"{url}: download failed (HTTP {e.code} {e.reason})") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise DataError(f"{url}: cannot download ({reason}); are you offline? {hint[:1].upper()}{hint[1:]}") from None
    if response is not None:
        with response:
            resumed = have and response.status == 206
            if not resumed:
                have = 0  # the server ignored the Range header: start over
            length = response.headers.get("Content-Length")
            total = have + int(length) if length and length.isdigit() else None
            with open(part, "ab" if resumed else "wb") as f, \
                    tqdm(total=total, initial=have, unit="B", unit_scale=True, desc=dest.name, disable=not progress) as bar:
                try:
                    while chunk := response.read(CHUNK):
                        f.write(chunk)
                        bar.update(len(chunk))
                except (OSError, urllib.error.URLError, http.client.HTTPException) as e:
                    raise DataError(f"{url}: download interrupted at {f.tell():,} bytes ({e}); run the command "
                                    "again to resume") from None
        size = part.stat().st_size
        if total is not None and size != total:
            raise DataError(f"{url}: download incomplete ({size:,} of {total:,} bytes); run the command again to resume")
    if sha256:
        digest = file_digest(part)
        if digest != sha256:
            part.unlink()
            raise DataError(f"{url}: checksum mismatch (sha256 {digest}, expected {sha256}); "
                            "the partial file was removed, run the command again")
    os.replace(part, dest)
    return dest


def _safe_members(names: list[str], root: Path) -> None:
    base = root.resolve()
    for name in names:
        target = (root / name).resolve()
        if target != base and base not in target.parents:
            raise DataError(f"archive member {name!r} would be written outside {root}; refusing to unpack")


def unpack(archive: str | Path, into: str | Path) -> Path:
    """Unpack a .zip / .tar(.gz) archive into ``into`` (a temp folder first, renamed when complete)."""
    archive, into = Path(archive), Path(into)
    into.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=into))
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                _safe_members(z.namelist(), tmp)
                bad = z.testzip()
                if bad:
                    raise DataError(f"{archive}: corrupt member {bad}")
                z.extractall(tmp)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as t:
                members = t.getmembers()
                _safe_members([m.name for m in members], tmp)
                if any(m.issym() or m.islnk() or m.isdev() for m in members):
                    raise DataError(f"{archive}: contains links or device files; refusing to unpack")
                t.extractall(tmp)
        else:
            raise DataError(f"{archive}: not a zip or tar archive (a truncated or wrong download?)")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DataError(f"{archive}: damaged archive ({e})") from None
    except DataError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def download_dataset(name: str, root: str | Path = "datasets", progress: bool = True,
                     catalogue: dict[str, DatasetSource] | None = None) -> Path:
    """Fetch and unpack dataset ``name`` into ``root/name``; returns that folder."""
    catalogue = CATALOGUE if catalogue is None else catalogue
    if name.removeprefix("pix2pix/") in LICENSED:
        raise DataError(f"{name}: {LICENSED[name.removeprefix('pix2pix/')]}")
    if name not in catalogue:
        raise DataError(f"unknown dataset {name!r}; choose one of: {', '.join(sorted(catalogue))}")
    src = catalogue[name]
    root = Path(root)
    final = root / name  # pix2pix/facades and facades (the CycleGAN version) do not collide
    if final.is_dir() and any(final.iterdir()):
        return final
    suffix = ".zip" if src.url.endswith(".zip") else ".tar.gz"
    archive = fetch(src.url, root / ".downloads" / f"{src.name}{suffix}", src.sha256, progress)
    tmp = unpack(archive, root)
    inner = tmp / src.name if (tmp / src.name).is_dir() else tmp  # archives hold NAME/... at the top
    expected = ("trainA", "trainB") if src.kind == "cyclegan" else ("train",)
    missing = [d for d in expected if not (inner / d).is_dir()]
    if missing:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DataError(f"{archive}: unpacked, but {', '.join(missing)} is missing: not a {src.kind} dataset")
    if final.exists():
        final.rmdir()  # empty, checked above
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(inner, final)
    shutil.rmtree(tmp, ignore_errors=True)
    return final
