# gopro-manager: `make demo` and `make test` are all a new user needs.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: demo test unit e2e bench soak clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

test: $(VENV)/.installed
	$(PY) -m pytest -ra tests

unit: $(VENV)/.installed
	$(PY) -m pytest -ra tests/unit

e2e: $(VENV)/.installed
	$(PY) -m pytest -ra tests/e2e

# Soak (root): 4 emulated cameras, random trigger and faults; SOAK_ARGS="--minutes 5 -v".
soak: $(VENV)/.installed
	$(PY) tests/soak.py $(SOAK_ARGS)

demo: $(VENV)/.installed
	$(PY) gopro_manager.py demo

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
