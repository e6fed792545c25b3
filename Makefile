# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
DEMO_DIR := runs/demo

.PHONY: demo test test-slow bench venv clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

## Train a beta-VAE on the built-in digits, write pictures and a report, print where.
## A fixed-sigma Gaussian decoder (sigma 0.1): with a Bernoulli decoder on 8x8 grey levels, beta=4 collapses every
## latent (KL ~ 0), because the 64 pixels carry too few nats of reconstruction to pay for 4x the KL.
demo: $(STAMP)
	$(VENV)/bin/shadowplay train --data digits --model beta_vae --beta 4 --latent-dim 8 \
		--likelihood gaussian model.scale=0.1 --epochs 100 --name demo --runs-dir runs --overwrite
	@echo "demo run: $(DEMO_DIR)"
	$(VENV)/bin/shadowplay report $(DEMO_DIR)

## The layer contract (import-linter, see pyproject.toml), then the whole test suite (slow quality runs are shortened
## unless SHADOWPLAY_SLOW=1).
## compileall: where PYTHONDONTWRITEBYTECODE is set (as on this project's machines) Python never caches the package's
## bytecode, and every CLI child process of the suite compiled ~110 modules again (~0.7 s each); it still reads a .pyc
## that compileall wrote, and recompiles any file changed since.
test: $(STAMP)
	$(VENV)/bin/lint-imports
	$(PY) -m compileall -q src > /dev/null
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m compileall -q src > /dev/null
	SHADOWPLAY_SLOW=1 $(PY) -m pytest -q

## Benchmarks need the `bench` extra (pythae, psutil).
bench: $(STAMP)
	$(PIP) install --quiet -c constraints.txt -e ".[dev,bench]"
	$(PY) benchmarks/train_throughput.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
