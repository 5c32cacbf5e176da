"""Build hook: every wheel carries the web app that `pocketgan serve` serves.

Everything else about the package is in pyproject.toml. The web app (pocketgan/app/static/) is built
from web/ with npm (`make web`) and is not in git, so a wheel built from a fresh clone would lack it.
Before the package files are copied, this build_py step checks that the built app is there and matches
web/ (see ``stale_reason``); when it is missing or out of date it runs the web build
(``npm ci && npm run build`` in web/) if Node.js 18+ and npm are on PATH, and otherwise stops the
build with one line saying how to build the app. Editable installs (``pip install -e .``) are not
checked: they serve the checkout's static/ folder, and `pocketgan serve` says when it is not built.

Sdists carry web/ (MANIFEST.in) and, when it was built, the app, so a wheel can be built from either.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.errors import SetupError

ROOT = Path(__file__).resolve().parent
WEB = ROOT / "web"
STATIC = ROOT / "pocketgan" / "app" / "static"
MARKER = STATIC / "build.json"  # written last by web/build.mjs: marks a complete build
HOW = ("build it first with `make web` (runs `npm ci && npm run build` in web/; needs Node.js 18+ and npm), "
       "then build the wheel again")
_SW_PLACEHOLDER = re.compile(r"/\*BUILD\*/[^;]*;")  # web/build.mjs fills this in sw.js


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _pinned_ort() -> str | None:
    try:
        lock = json.loads((WEB / "package-lock.json").read_text(encoding="utf-8"))
        return lock["packages"]["node_modules/onnxruntime-web"]["version"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def stale_reason() -> str | None:
    """Why static/ is not a complete, current build of web/, or None when it is.

    Compared by content, not by file times (an unpacked sdist's times need not be in order): every
    file of web/src/ is copied as it is by the build (sw.js but for its filled-in placeholder), every
    file build.json lists must be there at its recorded size, and build.json's onnxruntime-web must
    be the one package-lock.json pins. In a git checkout build.mjs, icons.mjs and the package files
    must also be older than build.json, as `make web` requires."""
    if not MARKER.is_file():
        return f"{_rel(MARKER)} is missing"
    try:
        info = json.loads(MARKER.read_text(encoding="utf-8"))
        files = dict(info["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return f"{_rel(MARKER)} is unreadable"
    for name, size in sorted(files.items()):
        path = STATIC / name
        if not path.is_file() or path.stat().st_size != size:
            return f"{_rel(path)} is missing or not the size {_rel(MARKER)} records"
    for source in sorted((WEB / "src").glob("*")):
        built = STATIC / source.name
        if not built.is_file():
            return f"{_rel(built)} is missing"
        a, b = source.read_bytes(), built.read_bytes()
        if source.name == "sw.js":
            a, b = (_SW_PLACEHOLDER.sub("", x.decode("utf-8", "replace")) for x in (a, b))
        if a != b:
            return f"{_rel(built)} differs from {_rel(source)}"
    pinned = _pinned_ort()
    if pinned and info.get("onnxruntime_web") != pinned:
        return f"it was built with onnxruntime-web {info.get('onnxruntime_web')}, web/package-lock.json pins {pinned}"
    if (ROOT / ".git").exists():
        built_at = MARKER.stat().st_mtime
        for name in ("build.mjs", "icons.mjs", "package.json", "package-lock.json", ".npmrc"):
            if (WEB / name).is_file() and (WEB / name).stat().st_mtime > built_at:
                return f"web/{name} is newer than {_rel(MARKER)}"
    return None


def _node_major() -> int | None:
    node = shutil.which("node")
    if node is None:
        return None
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout
        return int(out.strip().lstrip("v").split(".")[0])
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def build_web_app(reason: str) -> None:
    """Run the web build, or raise SetupError with one line saying how to build it."""
    if not (WEB / "package.json").is_file():
        raise SetupError(f"pocketgan's web app is missing or out of date ({reason}) and web/ is missing, so it cannot be "
                         "built here: build the wheel from a source checkout or a complete sdist")
    npm, major = shutil.which("npm"), _node_major()
    if npm is None or major is None or major < 18:
        found = "no npm on PATH" if npm is None else "no node on PATH" if major is None else f"Node.js {major}"
        raise SetupError(f"pocketgan's web app is missing or out of date ({reason}) and cannot be built here ({found}): {HOW}")
    print(f"building pocketgan's web app with npm ({reason})", flush=True)
    for command in ([npm, "ci", "--no-audit", "--no-fund"], [npm, "run", "build"]):
        done = subprocess.run(command, cwd=WEB)
        if done.returncode:
            raise SetupError(f"pocketgan's web app build failed (`{' '.join(command[1:])}` in web/ exited "
                             f"{done.returncode}; see above): {HOW}")
    still = stale_reason()
    if still:
        raise SetupError(f"pocketgan's web app build finished but {still}: {HOW}")


class build_py_with_web_app(build_py):
    """build_py that makes sure pocketgan/app/static/ holds a current web build before copying it."""

    def run(self) -> None:
        if not self.editable_mode:
            reason = stale_reason()
            if reason:
                build_web_app(reason)
                self.__dict__.pop("data_files", None)  # the file list may have been computed before the build
        super().run()


if __name__ == "__main__":  # as setuptools' build backend runs it; tests import stale_reason()
    setup(cmdclass={"build_py": build_py_with_web_app})
