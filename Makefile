# The two commands: `make run` and `make test`. Everything else is set up from this repository's own files.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed

.PHONY: run test test-unit test-integration setup lock lint bench fuzz validate images clean

setup: $(STAMP)

# A virtualenv with exactly the locked dependencies, then this package (editable).
$(STAMP): requirements/lock.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements/lock.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $@

run: setup
	scripts/run.sh

test: setup
	scripts/test.sh

test-unit: setup
	$(BIN)/python -m pytest -m "not integration" -q

# What `make test` checks first: ruff on the repository, mypy (strict, pyproject.toml) on the provider.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy provider/airflow_taskspec

validate: setup
	$(BIN)/taskspec validate dags

# Bytecode first, as `pip install` writes it (uv and PYTHONDONTWRITEBYTECODE=1 leave it out): otherwise every
# process, both sides alike, recompiles what it imports and the figures measure the compiler.
bench: setup
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib provider
	$(BIN)/python bench/all.py

# A long fuzzing run of the front end (the suite runs a short one): TASKSPEC_FUZZ_EXAMPLES per property.
fuzz: setup
	TASKSPEC_FUZZ_EXAMPLES=$${TASKSPEC_FUZZ_EXAMPLES:-3000} $(BIN)/python -m pytest tests/test_fuzz.py -q -p no:cacheprovider \
		-W ignore::hypothesis.errors.HypothesisWarning --hypothesis-show-statistics

# The executor and filer images for the container tests, built locally (no registry needed).
images:
	scripts/build-test-images.sh

# Re-resolve the lock file after changing dependencies in pyproject.toml.
lock:
	$(BIN)/uv pip compile --quiet pyproject.toml --extra test --extra dev --python-version 3.11 -o requirements/lock.txt

clean:
	rm -rf $(VENV) .airflow .cache
