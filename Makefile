# The workbook's commands. Quick start: `make lab` (work) and `make test` (check everything).
# Both install into .venv exactly the versions pinned in uv.lock; no root needed.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# uv installs the lock. Where it is not on PATH, the version uv.lock names is put into
# .venv with pip (no root). INSTALL=pip installs the same pins with pip alone instead.
INSTALL ?= uv
UV_ON_PATH := $(shell command -v uv 2>/dev/null)
UV      := $(if $(UV_ON_PATH),$(UV_ON_PATH),$(VENV)/uv/bin/uv)
UV_PIN  := $(shell sed -n '/^name = "uv"$$/{n;s/^version = "\(.*\)"$$/\1/p;}' uv.lock)
# uv never downloads a Python of its own here: .venv is made from $(PYTHON). It trusts the
# system's certificates too (a proxy of a school or company may add one).
export UV_PYTHON_DOWNLOADS := never
export UV_SYSTEM_CERTS := 1
export UV_NATIVE_TLS := 1
export UV_PROJECT_ENVIRONMENT := $(VENV)
LATEST := .venv-latest

.PHONY: help setup setup-dev peers lab test suite test-latest lock lock-upgrade check bench stubs \
        stubs-check nbval nbval-reference notebooks redis-start redis-stop redis-status \
        lint format clean

help:
	@echo "make lab           set up, start Redis, open JupyterLab at notebooks/00_setup.ipynb"
	@echo "make test          set up, then every test and every notebook (nbval)"
	@echo "make check         your progress: each step's tests on your lab/"
	@echo "make bench         measure notebook 04's strategies side by side (python -m lab bench)"
	@echo "make peers         install RQ's peers (Celery, Dramatiq, arq, taskiq, huey, saq) for"
	@echo "                   python -m lab bench peers (notebook 13)"
	@echo "make nbval         nbval on the notebooks against your lab/ (instructors: a learner's copy)"
	@echo "make redis-start | redis-stop | redis-status"
	@echo "maintainers (python -m lab dev --help): make stubs | stubs-check | notebooks |"
	@echo "                   nbval-reference | lint | format | clean"
	@echo "                   lock (after editing pyproject.toml) | lock-upgrade (newest pins)"
	@echo "                   test-latest (the suite on the newest releases pyproject.toml allows)"
	@echo "add INSTALL=pip to install with pip instead of uv (slower; the same pins)"

# The learner's set (make lab) and the maintainers' (make test: also the dev group, and
# the peers, which the suite measures). `make peers` adds RQ's peers to the learner's set.
setup: $(VENV)/.lab-$(INSTALL)
setup-dev: $(VENV)/.dev-$(INSTALL) $(VENV)/.peers-$(INSTALL)
peers: $(VENV)/.peers-$(INSTALL)

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python 3.10 or newer is needed (found " + sys.version.split()[0] + "); run: make PYTHON=python3.12 ...")'
ifeq ($(INSTALL),pip)
	$(PYTHON) -m venv $(VENV)
else
	$(PYTHON) -m venv --without-pip $(VENV)
endif

# uv, where it is not on PATH: into .venv/uv with this Python's pip, or else with a pip
# of the environment's own (slower: ensurepip takes some seconds).
$(VENV)/uv/bin/uv: | $(PY)
	@if $(PYTHON) -m pip --version >/dev/null 2>&1; then pip="$(PYTHON) -m pip"; \
	else $(PY) -m ensurepip --default-pip >/dev/null && pip="$(PY) -m pip"; fi; \
	echo "$$pip install uv==$(UV_PIN) --target $(VENV)/uv"; \
	$$pip install --quiet --disable-pip-version-check --root-user-action=ignore --target $(VENV)/uv "uv==$(UV_PIN)"

$(VENV)/.lab-uv: uv.lock pyproject.toml | $(PY) $(UV)
	$(UV) sync --quiet --frozen --inexact --no-dev
	@touch $@

# The maintainers' set in one sync (dev and peers), compiled to bytecode once: where
# PYTHONDONTWRITEBYTECODE is set (CI machines often set it), Python would otherwise compile
# every imported module again in each of the suite's hundreds of processes.
$(VENV)/.dev-uv: uv.lock pyproject.toml | $(PY) $(UV)
	$(UV) sync --quiet --frozen --inexact --group peers --compile-bytecode
	@touch $@ $(VENV)/.lab-uv $(VENV)/.peers-uv

$(VENV)/.lab-pip: requirements.txt | $(PY)
	@$(PY) -m pip --version >/dev/null 2>&1 || $(PY) -m ensurepip --default-pip >/dev/null
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

$(VENV)/.dev-pip: requirements-dev.txt | $(PY)
	@$(PY) -m pip --version >/dev/null 2>&1 || $(PY) -m ensurepip --default-pip >/dev/null
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@ $(VENV)/.lab-pip

# The peers group on top of the learner's set. With pip: --no-deps, since arq's cap on
# redis-py is overridden in the lock (pyproject.toml); requirements-peers.txt pins them all.
$(VENV)/.peers-uv: uv.lock pyproject.toml | $(VENV)/.lab-uv
	$(UV) sync --quiet --frozen --inexact --no-dev --group peers
	@touch $@

$(VENV)/.peers-pip: requirements-peers.txt | $(VENV)/.lab-pip
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-peers.txt
	@touch $@

lab: setup
	$(PY) -m lab redis start
	$(PY) -m jupyter lab --LabApp.default_url=/lab/tree/notebooks/00_setup.ipynb

# The workbook's own suite: it checks solutions/, stubs and notebooks, never your lab/
# files (`make check` does), so it passes on a learner's copy. CI adds STRICT=--strict:
# then a stub edited by hand fails it.
test: setup-dev
	$(MAKE) --no-print-directory suite

# pytest shares the tests out among 3 processes (pytest-xdist; 4 overloaded 2 cores), without
# nbval's plugin (1-2 s of each start; the notebooks' run below loads it); then the tests
# that measure times or run many processes run one at a time (tests/plugins/groups.py).
suite:
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(dir $(PY))lint-imports --no-cache
	$(PY) -m lab dev stubs --check $(STRICT)
	$(PY) -m pytest --impl=solutions -p no:nbval --numprocesses=3 --dist=loadgroup -m "not serial"
	$(PY) -m pytest --impl=solutions -p no:nbval --numprocesses=0 -m serial
	$(PY) -m lab dev nbval

# The canary: the suite in a throw-away environment with the newest releases that
# pyproject.toml's ranges allow (not the lock), listing what differs from the lock first.
# Not part of CI: an upstream release must not block a landing; run it before a release.
test-latest: | $(UV)
	rm -rf $(LATEST)
	$(UV) venv --quiet --python $(PYTHON) $(LATEST)
	$(UV) pip install --quiet --refresh --python $(LATEST)/bin/python -e . --group dev --group peers
	$(LATEST)/bin/python -m lab dev newer-than-lock requirements-dev.txt
	$(MAKE) --no-print-directory suite PY=$(LATEST)/bin/python

# After editing pyproject.toml's ranges: pin them (uv.lock) and export the pins for pip
# and conda (requirements*.txt). lock-upgrade moves every pin to the newest release.
lock: | $(UV)
	$(UV) lock --quiet
	$(MAKE) --no-print-directory requirements

lock-upgrade: | $(UV)
	$(UV) lock --quiet --upgrade
	$(MAKE) --no-print-directory requirements

requirements: | $(UV)
	$(UV) export --quiet --frozen --no-dev --no-hashes -o requirements.txt
	$(UV) export --quiet --frozen --no-hashes -o requirements-dev.txt
	$(UV) export --quiet --frozen --no-hashes --only-group peers -o requirements-peers.txt

check: setup
	$(PY) -m lab check

bench: setup
	$(PY) -m lab bench

nbval: setup
	$(PY) -m lab nbval

nbval-reference: setup
	$(PY) -m lab dev nbval

stubs: setup
	$(PY) -m lab dev stubs

stubs-check: setup
	$(PY) -m lab dev stubs --check

notebooks: setup
	$(PY) -m lab dev execute

redis-start: setup
	$(PY) -m lab redis start

redis-stop: setup
	$(PY) -m lab redis stop

redis-status: setup
	$(PY) -m lab redis status

lint: setup-dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: setup-dev
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

clean:
	-$(PY) -m lab redis stop
	rm -rf $(VENV) $(LATEST) .backups build *.egg-info
