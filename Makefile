# The workbook's commands. Quick start: `make lab` (work) and `make test` (check everything).
# Both create .venv with the dependencies from pyproject.toml first; no root needed.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: help setup lab test check bench stubs stubs-check nbval nbval-reference notebooks \
        redis-start redis-stop redis-status lint format clean

help:
	@echo "make lab           set up, start Redis, open JupyterLab at notebooks/00_setup.ipynb"
	@echo "make test          set up, then every test and every notebook (nbval)"
	@echo "make check         your progress: each step's tests on your lab/"
	@echo "make bench         measure notebook 04's strategies side by side (python -m lab bench)"
	@echo "make nbval         nbval on the notebooks against your lab/ (instructors: a learner's copy)"
	@echo "make redis-start | redis-stop | redis-status"
	@echo "maintainers (python -m lab dev --help): make stubs | stubs-check | notebooks |"
	@echo "                                         nbval-reference | lint | format | clean"

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python 3.10 or newer is needed (found " + sys.version.split()[0] + "); run: make PYTHON=python3.12 ...")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@# setuptools explains its editable-install mode in a warning that reads like an error
	PYTHONWARNINGS="ignore:Editable installation" $(PY) -m pip install --quiet -e .
	@touch $(STAMP)

lab: setup
	$(PY) -m lab redis start
	$(PY) -m jupyter lab --LabApp.default_url=/lab/tree/notebooks/00_setup.ipynb

# The workbook's own suite: it checks solutions/, stubs and notebooks, never your lab/
# files (`make check` does), so it passes on a learner's copy. CI adds STRICT=--strict:
# then a stub edited by hand fails it.
test: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m lab dev stubs --check $(STRICT)
	$(PY) -m pytest --impl=solutions
	$(PY) -m lab dev nbval

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

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: setup
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

clean:
	-$(PY) -m lab redis stop
	rm -rf $(VENV) .backups build *.egg-info
