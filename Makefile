# nnrep-lite: two commands to remember, `make lab` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# The CPU-only torch wheel used where no NVIDIA GPU is present (a plain `torch` requirement
# would pull a multi-GB CUDA build). Override TORCH_CPU_INDEX for a private mirror.
TORCH_VERSION ?= 2.13.0
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
NB ?= notebooks/00_tour.ipynb
PORT ?= 8888
PYTEST_ARGS ?=
# Notebooks at the default profile run this many at a time (one kernel a core; pytest-xdist,
# each notebook's cells stay together in one worker).
NOTEBOOK_WORKERS ?= 2
# The unit tests and ci-profile notebooks likewise, a test file to a worker. The browser tests
# run on their own afterwards: they time what a user sees, and a page under two other kernels'
# load is slower than any lecturer's.
TEST_WORKERS ?= 2
# JupyterLab refuses to start as root unless told: containers, cloud VMs and CI run as root,
# a Binder or workstation user does not. Only uid 0 gets --allow-root.
ALLOW_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)
# Allocator settings (see nnrep_lite/_utils.py ALLOCATOR_ENV; README "Performance"): glibc malloc
# keeps freed memory for reuse in one arena, MKL keeps no private buffer cache. Kernels, tests and benchmarks
# started from here inherit them.
export MALLOC_MMAP_THRESHOLD_ ?= 268435456
export MALLOC_TRIM_THRESHOLD_ ?= 1073741824
export MALLOC_TOP_PAD_ ?= 67108864
export MALLOC_ARENA_MAX ?= 1
export MKL_DISABLE_FAST_MM ?= 1

.PHONY: help venv lab test unit notebooks-test report clean-notebooks bench present browser-deps

help:
	@echo "make lab              set up .venv and launch JupyterLab on notebooks/00_tour.ipynb"
	@echo "make test             set up .venv; ruff, unit tests, every notebook at NNREP_PROFILE=ci, then at default (lecture size)"
	@echo "make report           execute every notebook (papermill) and render build/site/"
	@echo "make bench            ratio benchmarks -> build/bench.json"
	@echo "make present NB=...   serve one notebook with voila (lecture mode)"
	@echo "make clean-notebooks  clear notebook outputs"

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Torch first: the CPU build where there is no NVIDIA GPU.
$(VENV)/.torch: | $(VENV)/bin/python
	@if $(PY) -c "import torch" 2>/dev/null; then \
	  echo "torch already installed: $$($(PY) -c 'import torch; print(torch.__version__)')"; \
	elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then \
	  echo "NVIDIA GPU found: installing the CUDA build of torch"; \
	  $(PIP) install "torch==$(TORCH_VERSION)"; \
	elif $(PIP) install --quiet --no-deps --no-index "torch==$(TORCH_VERSION)" 2>/dev/null; then \
	  echo "installed a local CPU build of torch $(TORCH_VERSION); now its dependencies"; \
	  $(PIP) install --quiet "torch==$(TORCH_VERSION)"; \
	else \
	  echo "no NVIDIA GPU: installing the CPU build of torch"; \
	  $(PIP) install "torch==$(TORCH_VERSION)" --index-url $(TORCH_CPU_INDEX) --extra-index-url https://pypi.org/simple; \
	fi
	@touch $@

$(VENV)/.installed-lab: pyproject.toml $(VENV)/.torch
	$(PIP) install --quiet -e ".[lab]"
	@touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.torch
	$(PIP) install --quiet -e ".[lab,test,dev]"
	@touch $@

venv: $(VENV)/.installed-test

lab: $(VENV)/.installed-lab
	$(VENV)/bin/jupyter lab --ip=127.0.0.1 --port=$(PORT) $(ALLOW_ROOT) $(NB)

browser-deps:
	@bash scripts/ensure_browser.sh

# Exit code is pytest's (ruff runs first and stops the build on lint errors).
# One OpenMP thread per process: kernels, servers and pytest share the cores, and torch's
# spinning threads slow small tensor ops by orders of magnitude under contention.
# The notebooks run twice: at the ci profile with the unit tests, then at the default profile
# (the lecture size: every check cell must hold there too).
test: $(VENV)/.installed-test browser-deps
	$(VENV)/bin/ruff check nnrep_lite tests benchmarks
	OMP_NUM_THREADS=1 NNREP_PROFILE=ci $(VENV)/bin/python -m pytest tests notebooks --nbval-lax \
	  --ignore=tests/test_browser.py \
	  -p no:cacheprovider --durations=15 -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)
	OMP_NUM_THREADS=1 NNREP_PROFILE=ci $(VENV)/bin/python -m pytest tests/test_browser.py \
	  -p no:cacheprovider --durations=5 $(PYTEST_ARGS)
	OMP_NUM_THREADS=1 NNREP_PROFILE=default $(VENV)/bin/python -m pytest notebooks --nbval-lax \
	  -p no:cacheprovider --durations=10 --nbval-cell-timeout=900 \
	  -n $(NOTEBOOK_WORKERS) --dist loadfile $(PYTEST_ARGS)

unit: $(VENV)/.installed-test
	$(VENV)/bin/python -m pytest tests $(PYTEST_ARGS)

report: $(VENV)/.installed-test
	$(PY) -m nnrep_lite report --out build/site --notebooks-out build/notebooks

bench: $(VENV)/.installed-test
	$(PY) -m benchmarks --json build/bench.json

present: $(VENV)/.installed-lab
	$(PY) -m nnrep_lite present $(NB) --port $(PORT)

clean-notebooks: $(VENV)/.installed-test
	$(VENV)/bin/jupyter nbconvert --clear-output --inplace notebooks/*.ipynb
