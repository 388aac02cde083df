# smpp - the two commands: `make repro` (whole study on the default profile) and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# dvc.yaml commands call `python`: the project's venv comes first on PATH
export PATH := $(abspath $(VENV))/bin:$(PATH)
export DVC_NO_ANALYTICS := 1
export PYTHONHASHSEED := 0
export TOKENIZERS_PARALLELISM := false
export MPLBACKEND := Agg
# OpenMP threads that busy-wait make LightGBM/CatBoost 10-30x slower when the 2 cores are
# shared with torch; passive waiting costs nothing measurable on an idle machine.
export OMP_WAIT_POLICY := PASSIVE

help:
	@echo "make setup   create $(VENV) from requirements.lock and install smpp_utils (editable)"
	@echo "make repro   setup, then 'dvc repro': every table/figure of the active profile (params.yaml)"
	@echo "make test    setup, then pytest (unit tests) and nbval over every notebook under profile ci"
	@echo "make lab     setup, then JupyterLab on notebooks/ with the project kernel (python3)"

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --progress-bar off -r requirements.lock 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e . 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
	$(VENV)/bin/dvc config --local core.analytics false 2>/dev/null || true
	$(VENV)/bin/nbstripout --install 2>/dev/null || true   # strip outputs on commit (git filter)
	touch $(STAMP)

setup: $(STAMP)

repro: setup
	$(VENV)/bin/dvc repro

test: setup
	SMPP_PROFILE=ci $(PY) -m pytest -q tests
	SMPP_PROFILE=ci $(PY) -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env notebooks

lab: setup
	$(VENV)/bin/jupyter lab notebooks/

clean-ci:
	rm -rf data/ci models/ci reports/ci

.PHONY: help setup repro test lab clean-ci
