# Set-up is part of every target: a fresh machine needs only Python 3.10+ (and apt for graphviz's dot).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

EPOCHS ?= 10
# where torch 2.13.0 comes from: empty uses pip's configured indexes (the CPU build on the project's
# machines); e.g. https://download.pytorch.org/whl/cu128 for a CUDA build, .../whl/cpu for the CPU one
TORCH_INDEX ?=

.PHONY: train test lint setup clean graphviz

setup: $(STAMP)

$(STAMP): pyproject.toml requirements-dev.txt
	@command -v dot >/dev/null || $(MAKE) --no-print-directory graphviz
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(if $(TORCH_INDEX),$(PY) -m pip install -q torch==2.13.0 --index-url $(TORCH_INDEX))
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip install -q -e . --no-deps
	touch $(STAMP)

# the main job: train the Noise2Noise seed model on the built-in photo crops (made on first use)
train: setup
	$(PY) -m examples.noise2noise train --epochs $(EPOCHS) --out runs/seed --graph runs/seed/graph.svg

test: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(PY) -m pytest

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

clean:
	rm -rf $(VENV) build *.egg-info

# graphviz's `dot` renders graphs; best effort here (tests that need it skip), required in .ci/run
graphviz:
	@if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq graphviz >/dev/null; \
	elif command -v sudo >/dev/null; then sudo apt-get update -qq && sudo apt-get install -y -qq graphviz >/dev/null; \
	else echo "note: graphviz's dot is missing; install the graphviz package to render graphs"; fi || \
	echo "note: could not install graphviz; graph rendering tests will be skipped"
