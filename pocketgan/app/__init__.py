"""`pocketgan serve`: an installable web app that translates photos on the phone itself.

The browser runs the exported ONNX graph with onnxruntime-web (WebGPU or WebAssembly), so photos
never leave the device; the server only hands out the static app and the model files, plus a
server-side ``POST /api/translate`` for clients that cannot run the model.

Modules: ``model`` (what is served: ONNX exports of a model folder, cached), ``assets`` (the
built front end in ``static/``), ``uploads`` (checks and decodes uploaded photos: allowed formats
by their bytes, a decoding budget), ``pool`` (the bounded worker pool and the memory budget its
workers share), ``guard`` (per-client caps and deadlines for uploads and connections, uploads cut
short, and the Host check that keeps DNS rebinding out), ``server``
(the FastAPI app factory ``create_app``). Importing this package
does not import FastAPI, so the CLI can say what to install when it is missing.
"""
from __future__ import annotations

from ..errors import MissingDependency, PocketganError

# module names; python-multipart is `python_multipart` (new releases) or `multipart` (old ones)
APP_DEPENDENCIES = ("fastapi", "uvicorn", ("python_multipart", "multipart"))
INSTALL_HINT = "pocketgan serve needs fastapi, uvicorn and python-multipart: pip install 'pocketgan[app]'"


class ServeError(PocketganError):
    """A `pocketgan serve` option the server cannot work with (port, host, limits); one line."""


def require_app_dependencies() -> None:
    """Raise a one-line MissingDependency naming the install command when a server dependency is missing."""
    import importlib

    for names in APP_DEPENDENCIES:
        for name in (names,) if isinstance(names, str) else names:
            try:
                importlib.import_module(name)
                break
            except ImportError:
                continue
        else:
            raise MissingDependency(INSTALL_HINT)
