# flopsight — `make demo` and `make test` set everything up on a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
PIP    := $(PY) -m pip --disable-pip-version-check -q

.PHONY: demo test lint pytest client-test jupyterlab-test labextension vsix e2e jupyterlab-e2e bench zoo install dev clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

# torch first, pinned: the CPU wheel on disk satisfies it; any other version pulls CUDA.
$(VENV)/.installed: $(PY) pyproject.toml
	$(PIP) install torch==2.13.0
	$(PIP) install torchvision==0.28.0 -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed pyproject.toml
	$(PIP) install -e ".[dev]"
	touch $@

install: $(VENV)/.installed
dev: $(VENV)/.installed-dev

demo: install
	@$(BIN)/flopsight report examples/seed_mlp.py --convention ptflops
	@$(BIN)/flopsight report examples/seed_densenet.py --convention ptflops --depth 1
	@$(BIN)/flopsight annotate examples/transformer_block.py
	@$(BIN)/flopsight report examples/llama.py --depth 3

lint: dev
	$(BIN)/ruff check server tests bench examples
	$(BIN)/ruff format --check server tests bench examples
	$(BIN)/mypy --strict server/

pytest: dev
	$(BIN)/pytest -q

client-test:
	$(MAKE) -C client/vscode test

# The JupyterLab extension: type-check, unit tests, and its committed build not stale.
jupyterlab-test:
	$(MAKE) -C client/jupyterlab test

# Rebuilds the prebuilt JupyterLab extension that pip installs (commit the result).
labextension: dev
	$(MAKE) -C client/jupyterlab labextension JUPYTER=$(abspath $(BIN))/jupyter

test: lint pytest client-test jupyterlab-test

vsix:
	$(MAKE) -C client/vscode vsix

e2e: dev vsix
	$(MAKE) -C client/vscode e2e
	$(MAKE) jupyterlab-e2e

# A real JupyterLab (the wheel's prebuilt extension) in Debian's Chromium: ~30 s.
jupyterlab-e2e: dev
	$(MAKE) -C client/jupyterlab e2e FLOPSIGHT_PYTHON=$(abspath $(PY))

bench: dev
	$(PIP) install -e ".[bench]"
	$(PY) -m bench.run_all

# Every timm, torchvision and transformers architecture, a forked child each (about an hour;
# resumes from bench/results/zoo.json: ZOO_ARGS="--rerun ." runs everything again).
zoo: dev
	$(PY) -m bench.zoo $(ZOO_ARGS)

clean:
	rm -rf $(VENV) client/*/node_modules client/*/dist client/jupyterlab/lib client/jupyterlab/out-test
