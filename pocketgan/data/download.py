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

# Limits of what an archive may unpack to (a download is a stranger's file until proven otherwise).
# Photos hardly compress (the standard datasets unpack to 1.0-1.3x their archive), so a high ratio
# is a decompression bomb or a damaged download, never a dataset.
MAX_UNPACKED_BYTES = 64 * 1024 ** 3  # the largest standard dataset (edges2handbags) unpacks to ~9 GB
MAX_RATIO = 20                        # unpacked bytes per archive byte, checked once past RATIO_FREE
RATIO_FREE = 16 * 1024 ** 2           # a small archive (a few MB of text) may compress better
MAX_MEMBERS = 1_000_000
MAX_DOWNLOAD_BYTES = 32 * 1024 ** 3


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
          hint: str = "download it by hand and pass the folder with --data instead",
          max_bytes: int = MAX_DOWNLOAD_BYTES) -> Path:
    """Download ``url`` to ``dest`` (resuming ``dest.part``); verify size and optional SHA-256.
    ``hint`` ends the error message when the server cannot be reached. A download larger than
    ``max_bytes`` (announced, or as it arrives) is refused and its partial file removed."""
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
            if total is not None and total > max_bytes:
                part.unlink(missing_ok=True)
                raise DataError(f"{url}: the server announces {total:,} bytes, more than the {max_bytes:,} "
                                "expected of this download; refusing it")
            with open(part, "ab" if resumed else "wb") as f, \
                    tqdm(total=total, initial=have, unit="B", unit_scale=True, desc=dest.name, disable=not progress) as bar:
                try:
                    while chunk := response.read(CHUNK):
                        f.write(chunk)
                        bar.update(len(chunk))
                        if f.tell() > max_bytes:
                            f.close()
                            part.unlink(missing_ok=True)
                            raise DataError(f"{url}: more than {max_bytes:,} bytes arrived, more than expected "
                                            "of this download; refusing it")
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


class UnpackBudget:
    """Counts what an archive would unpack to, member by member, and refuses (DataError) past
    ``max_bytes`` in all, ``max_ratio`` unpacked bytes per archive byte (beyond ``RATIO_FREE``),
    ``MAX_MEMBERS`` members, or the free space of the target folder."""

    def __init__(self, archive: Path, into: Path, max_bytes: int, max_ratio: float) -> None:
        self.archive, self.max_bytes, self.max_ratio = archive, max_bytes, max_ratio
        self.size = max(archive.stat().st_size, 1)
        self.free = shutil.disk_usage(into).free
        self.total = self.count = 0

    def add(self, name: str, size: int) -> None:
        self.total += max(size, 0)
        self.count += 1
        a = self.archive
        if self.count > MAX_MEMBERS:
            raise DataError(f"{a}: more than {MAX_MEMBERS:,} members; refusing to unpack")
        if self.total > self.max_bytes:
            raise DataError(f"{a}: unpacks to more than {self.max_bytes:,} bytes (at {name!r}); refusing to unpack")
        if self.total > RATIO_FREE and self.total > self.max_ratio * self.size:
            raise DataError(f"{a}: unpacks to over {self.total:,} bytes from {self.size:,} (more than "
                            f"{self.max_ratio:g}x: a decompression bomb or a damaged download); refusing to unpack")
        if self.total > self.free:
            raise DataError(f"{a}: unpacks to over {self.total:,} bytes, but only {self.free:,} are free in "
                            f"{self.archive.parent}; free some space and run the command again")


def unpack(archive: str | Path, into: str | Path, max_bytes: int = MAX_UNPACKED_BYTES,
           max_ratio: float = MAX_RATIO) -> Path:
    """Unpack a .zip / .tar(.gz) archive into ``into`` (a temp folder first, renamed when complete).

    Refused before anything is written (one DataError line): members that would land outside the
    folder, links and devices, and archives that would unpack to more than ``max_bytes``, to more
    than ``max_ratio`` times their own size, or to more than the disk has free (sizes as the
    archive declares them: zipfile and tarfile never write more than that)."""
    archive, into = Path(archive), Path(into)
    into.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=into))
    try:
        budget = UnpackBudget(archive, into, max_bytes, max_ratio)
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                infos = z.infolist()
                _safe_members([i.filename for i in infos], tmp)
                for i in infos:
                    budget.add(i.filename, i.file_size)
                bad = z.testzip()
                if bad:
                    raise DataError(f"{archive}: corrupt member {bad}")
                z.extractall(tmp)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as t:
                members = []
                for m in t:  # one at a time: a bomb is refused before the rest of it is decompressed
                    if m.issym() or m.islnk() or m.isdev():
                        raise DataError(f"{archive}: contains links or device files; refusing to unpack")
                    budget.add(m.name, m.size if m.isfile() else 0)
                    members.append(m)
                _safe_members([m.name for m in members], tmp)
                if hasattr(tarfile, "data_filter"):  # Python 3.10.12+ / 3.11.4+: a second safety net
                    t.extractall(tmp, members=members, filter="data")
                else:  # pragma: no cover - older Pythons
                    t.extractall(tmp, members=members)
        else:
            raise DataError(f"{archive}: not a zip or tar archive (a truncated or wrong download?)")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DataError(f"{archive}: damaged archive ({e})") from None
    except DataError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def extract_member(archive: str | Path, suffix: str, dest: str | Path) -> Path:
    """Copy the one regular file of a .tar(.gz) / .zip ``archive`` whose path ends with ``suffix``
    (whole path components: ``a/b.pth`` matches ``x/a/b.pth``, not ``xa/b.pth``) to ``dest``.

    Nothing else is unpacked and the member's own path is never used to write, so a hostile name
    (``../x``, an absolute path) cannot escape; links and device files are not regular files and
    are refused. The copy goes to ``dest.part`` first and is renamed when complete. Tar is tried
    first: an uncompressed tar of .pth files (which are zips) ends like a zip and fools
    ``zipfile.is_zipfile``."""
    archive, dest = Path(archive), Path(dest)
    suffix = suffix.strip("/")

    def matches(name: str) -> bool:
        name = name.replace("\\", "/")
        return name == suffix or name.endswith("/" + suffix)

    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    budget = UnpackBudget(archive, dest.parent, MAX_UNPACKED_BYTES, MAX_RATIO)  # the same limits as unpack()
    try:
        if tarfile.is_tarfile(archive):
            with tarfile.open(archive) as t:
                found = [m for m in t if matches(m.name)]
                _one_member(archive, suffix, found)
                if not found[0].isfile():
                    raise DataError(f"{archive}: {found[0].name} is not a regular file (a link or device?); "
                                    "refusing to extract it")
                budget.add(found[0].name, found[0].size)
                src = t.extractfile(found[0])
                with src, open(part, "wb") as out:
                    shutil.copyfileobj(src, out, CHUNK)
        elif zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                found = [i for i in z.infolist() if matches(i.filename) and not i.is_dir()]
                _one_member(archive, suffix, found)
                budget.add(found[0].filename, found[0].file_size)
                with z.open(found[0]) as src, open(part, "wb") as out:
                    shutil.copyfileobj(src, out, CHUNK)
        else:
            raise DataError(f"{archive}: not a zip or tar archive (a truncated or wrong download?)")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as e:
        part.unlink(missing_ok=True)
        raise DataError(f"{archive}: damaged archive ({e})") from None
    except DataError:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, dest)
    return dest


def _one_member(archive: Path, suffix: str, found: list) -> None:
    if not found:
        raise DataError(f"{archive}: holds no file */{suffix}")
    if len(found) > 1:
        raise DataError(f"{archive}: holds {len(found)} files */{suffix}; cannot tell which one is meant")


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
