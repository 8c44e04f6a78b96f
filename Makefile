# The two commands a new machine needs: `make run` (the demo) and `make test`.
# Everything else they need is installed from here: the venv from the lock
# file, and the Debian packages the tests use (espeak-ng, sox, prometheus).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.lotse-installed

.PHONY: run test lint typecheck unit system-deps venv bench clean deploy-check

venv: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	# setuptools from the lock builds the editable install (pyproject needs >= 77).
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

system-deps:
	@bash .ci/system-deps

run: venv
	$(BIN)/lotse demo

test: venv system-deps lint typecheck unit

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy .

unit: venv
	$(BIN)/pytest -q

# The wheel installed into a fresh venv outside the checkout, run from an
# empty directory as an operator would (CI runs it after the tests).
deploy-check: venv
	bash .ci/deploy-check

bench: venv
	$(BIN)/python bench/routing.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
