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
	@echo "             (the alias on the last line of params.yaml) and the results page <reports>/index.{md,html}"
	@echo "             PROFILE=ci|default|paper|rehearsal|... switches the profile first (python -m smpp_utils profile)"
	@echo "make rehearsal   the paper profile's code path on a simulated official-format folder, CPU sizes (docs/rehearsal.md)"
	@echo "make plots   dvc plots show, offline (vega bundle installed once into .vega/) -> dvc_plots/index.html"
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

# PROFILE=name switches params.yaml's last line first; dvc.yaml is regenerated for the active
# profile's data source (the same file for ci and default), then DVC runs what is stale.
repro: setup
	$(if $(PROFILE),$(PY) -m smpp_utils profile $(PROFILE))
	$(PY) -m smpp_utils check
	$(PY) -m smpp_utils dvc-yaml
	$(VENV)/bin/dvc repro

# The paper profile's code path (official-format reader, every applicable stage, the results
# page) on a folder the simulator writes, at CPU sizes; params.yaml, dvc.yaml and dvc.lock are
# put back afterwards, the results stay in reports/rehearsal/ (git-ignored).
REHEARSAL_DIR := data/smpd_e2e
rehearsal: setup
	test -f $(REHEARSAL_DIR)/sim_config.json || $(PY) -m smpp_utils.data.sim --out $(REHEARSAL_DIR) \
	    --posts 1500 --users 200 --image-size 32 --seed 1 --test-ratio 0.1
	mkdir -p .rehearsal && cp params.yaml dvc.yaml dvc.lock .rehearsal/
	$(MAKE) repro PROFILE=rehearsal; rc=$$?; cp .rehearsal/params.yaml .rehearsal/dvc.yaml .rehearsal/dvc.lock . \
	    && rm -r .rehearsal; exit $$rc

# dvc plots show without the network: vega, vega-lite and vega-embed installed once into
# .vega/ (npm; git- and dvc-ignored) and inlined into the page's template (docs/dvc_views.md).
plots: setup
	test -f .vega/node_modules/vega-embed/build/vega-embed.min.js || npm install --prefix .vega \
	    --no-audit --no-fund vega@5.21.0 vega-lite@5.2.0 vega-embed@6.18.2
	$(PY) -m smpp_utils.analysis.plots_offline .vega
	$(VENV)/bin/dvc plots show --html-template .vega/template.html -o dvc_plots

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

.PHONY: help setup repro rehearsal plots test lab bench gpu-check clean-ci normalize-notebooks check-determinism
