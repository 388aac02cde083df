# smpp - the two commands: `make repro` (whole study on the default profile) and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# requirements.lock (default; torch's Linux wheel brings its CUDA runtime wheels) or
# requirements-cpu.lock (CPU-only torch build, no CUDA wheels): make setup LOCK=requirements-cpu.lock
LOCK ?= requirements.lock
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
	@echo "make setup   create $(VENV) from requirements.lock (LOCK=requirements-cpu.lock: CPU-only torch) and install smpp_utils (editable)"
	@echo "make repro   setup, pre-flight check, then 'dvc repro': every output of the active profile"
	@echo "             (the alias on the last line of params.yaml) and the results page <reports>/index.md"
	@echo "make test    setup, then pytest (unit tests) and nbval over every notebook under profile ci"
	@echo "make lab     setup, then JupyterLab on notebooks/ with the project kernel (python3)"
	@echo "make bench   benchmarks (not in make test): bench_jrpp (retrieval 10k/100k/1M), bench_scale (20k/80k/305k posts), bench_embed (extraction vs forward; needs the data stage) -> reports/metrics/"
	@echo "make gpu-check   on a CUDA machine: device/autocast, JRPP steps, faiss GPU index vs CPU -> reports/metrics/gpu_check.json"
	@echo "make check-determinism   two clean ci runs in temp copies, compared byte for byte (slow)"
	@echo "make normalize-notebooks rewrite notebooks/*.ipynb in the nbstripout filter's canonical form"

$(STAMP): $(LOCK) pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --progress-bar off -r $(LOCK) 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e . 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
	$(VENV)/bin/dvc config --local core.analytics false 2>/dev/null || true
	$(VENV)/bin/nbstripout --install 2>/dev/null || true   # strip outputs on commit (git filter)
	touch $(STAMP)

setup: $(STAMP)

repro: setup
	$(PY) -m smpp_utils check
	$(VENV)/bin/dvc repro

test: setup
	SMPP_PROFILE=ci $(PY) -m pytest -q tests
	SMPP_PROFILE=ci $(PY) -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env notebooks

lab: setup
	$(VENV)/bin/jupyter lab notebooks/

# Speed/memory benchmarks (minutes to tens of minutes on 2 cores; JSON under reports/metrics/).
bench: setup
	$(PY) benchmarks/bench_jrpp.py --queries 16 --approx-from 2000000
	$(PY) benchmarks/bench_scale.py --sizes 20000,80000,305613
	$(PY) benchmarks/bench_embed.py

# GPU smoke check (CUDA, autocast, faiss GPU vs CPU); exits 0 with a message where there is no GPU.
gpu-check: setup
	$(PY) benchmarks/gpu_check.py

clean-ci:
	rm -rf data/ci models/ci reports/ci

# The committed notebooks must be byte-identical to what the git filter (nbstripout, installed
# by `make setup`) makes of them, or a fresh clone shows them modified: nbstripout renumbers
# cell ids ("0", "1", ...) and strips outputs. Run this after editing notebooks with nbformat.
normalize-notebooks: setup
	$(VENV)/bin/nbstripout notebooks/*.ipynb

# Two clean runs of the ci pipeline (`dvc repro` with `profile: *ci`) in fresh copies of the
# tracked tree (sharing this venv), then every output under data/ci models/ci reports/ci is
# compared byte for byte (timings and executed notebooks are listed as skipped). Not in `make test`.
check-determinism: setup
	d=$${DET_DIR:-$$(mktemp -d -t smpp-determinism-XXXXXX)}; echo "runs in $$d"; \
	for run in a b; do \
	  mkdir -p $$d/$$run && git ls-files -z | xargs -0 cp --parents -t $$d/$$run && \
	  ln -s $(abspath $(VENV)) $$d/$$run/.venv && \
	  sed -i 's/^profile: \*[a-z]*/profile: *ci/' $$d/$$run/params.yaml && \
	  ( cd $$d/$$run && git init -q && git add -A && git -c user.name=d -c user.email=d@d commit -qm run && \
	    SMPP_ROOT=$$d/$$run PYTHONPATH=$$d/$$run $(abspath $(VENV))/bin/dvc repro -q ) || exit 1; \
	done; \
	$(PY) -m smpp_utils.core.determinism $$d/a $$d/b

.PHONY: help setup repro test lab bench gpu-check clean-ci normalize-notebooks check-determinism
