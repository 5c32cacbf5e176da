"""The built front end: ``pocketgan/app/static/``, produced by ``web/build.mjs`` (``make web``).

The static files are built from ``web/`` with npm (onnxruntime-web comes from the npm registry at
build time, never from a CDN at run time) and are not committed, so a fresh clone must build them
before ``pocketgan serve`` has a page to show. ``build.json`` is written last by the build and
marks a complete build. Wheels carry the built app (``setup.py`` builds it, or stops the wheel build
saying how); an installed package without it was built some other way, and the message says so.
The build also writes NAME.br and NAME.gz beside each compressible file (listed under ``compressed``
in build.json), which the server sends in place of NAME to browsers that accept them.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import PocketganError
from ..fileio import read_json

STATIC_DIR = Path(__file__).resolve().parent / "static"
BUILD_MARKER = "build.json"
# Running from a source checkout (web/ beside the package) the app is built in place; an installed
# package cannot build it, so its user is told to get a complete package instead.
SOURCE_CHECKOUT = (Path(__file__).resolve().parents[2] / "web" / "package.json").is_file()
BUILD_HINT = "build it with `make web` (or `cd web && npm ci && npm run build`; needs Node.js 18+)"
INSTALLED_HINT = ("this installed pocketgan package is incomplete (built without its web app): install a complete "
                  "wheel, or build one from a source checkout with Node.js 18+ (`make web`, then `pip wheel .`)")


class AssetsMissing(PocketganError):
    """The web app has not been built (one line, with the command that builds it)."""


def find_static(folder: str | Path | None = None) -> Path:
    """The folder of a complete build of the web app, or raise AssetsMissing."""
    folder = Path(folder) if folder is not None else STATIC_DIR
    if not (folder / BUILD_MARKER).is_file() or not (folder / "index.html").is_file():
        hint = BUILD_HINT if SOURCE_CHECKOUT else INSTALLED_HINT
        raise AssetsMissing(f"the web app is not built ({folder.name}/{BUILD_MARKER} missing): {hint}")
    return folder


def build_info(folder: Path) -> dict:
    """What the build recorded (version hash, onnxruntime-web version, file list); {} if unreadable."""
    try:
        info = read_json(folder / BUILD_MARKER)
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    return info if isinstance(info, dict) else {}
