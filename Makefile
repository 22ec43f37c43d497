# gopro-manager: `make demo` and `make test` are all a new user needs.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: demo test lint unit e2e bench bench-telemetry soak system-test clean venv sdk-venv install uninstall

# The pins come from the requirements files (what the Pi install uses too); then the project
# itself, editable, for the `gopro-manager` command (python gopro_manager.py needs no install).
$(VENV)/.installed: requirements.txt requirements-dev.txt requirements-clients.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt -r requirements-clients.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

venv: $(VENV)/.installed

# GoPro's SDK (open-gopro) in a test-only venv of its own: it pins bleak==0.22.3, the daemon needs
# bleak>=3 (requirements-sdk.txt). tests/clients/test_open_gopro_sdk.py runs it; skipped without it.
SDK_VENV := .venv-sdk
# A failed install does not stop `make test`: the SDK test then skips and says why.
$(SDK_VENV)/.installed: requirements-sdk.txt
	@if $(PYTHON) -m venv $(SDK_VENV) && $(SDK_VENV)/bin/python -m pip install --quiet -r requirements-sdk.txt; \
	then touch $@; else echo "WARNING: .venv-sdk (open-gopro) not installed; tests/clients/test_open_gopro_sdk.py will skip" >&2; fi

sdk-venv: $(SDK_VENV)/.installed

# Test files run in parallel (pytest-xdist, one file per worker at a time: a file's rig fixtures
# stay together); every namespace rig has a prefix of its own, so workers never meet.
# TEST_JOBS=0 runs them one after the other.
TEST_JOBS ?= 3
test: lint $(SDK_VENV)/.installed
	$(PY) -m pytest -ra $(if $(filter 0,$(TEST_JOBS)),,-n $(TEST_JOBS) --dist loadfile) tests

# ruff (style, imports, likely bugs) on everything, mypy on the package (pyproject.toml).
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check camrig tests bench gopro_manager.py
	$(VENV)/bin/mypy

unit: $(VENV)/.installed
	$(PY) -m pytest -ra tests/unit

e2e: $(VENV)/.installed
	$(PY) -m pytest -ra tests/e2e

# Soak (root): 4 emulated cameras, random trigger and faults; SOAK_ARGS="--minutes 5 -v".
soak: $(VENV)/.installed
	$(PY) -m tests.soak $(SOAK_ARGS)

# Benchmark (root, ~8 min, not part of `make test`): trigger → recording for 1–8 emulated cameras,
# skew, recovery, wake, CPU/RSS, and the original sequential handling as a baseline.
# Prints a table, writes bench/results.json; BENCH_ARGS="--flips 10 --skip baseline" for a quick look.
# Then the MQTT part (~4 min, needs mosquitto; bench/mqtt.py): trigger → recording with the broker up,
# down and blackholed, and 20 daemons × 8 cameras against one broker; writes bench/results-mqtt.json.
bench: $(VENV)/.installed
	$(PY) -m bench $(BENCH_ARGS)
	$(PY) -m bench.telemetry $(TELEMETRY_BENCH_ARGS)
	$(PY) -m bench.mqtt $(MQTT_BENCH_ARGS)

# Telemetry alone (no root, ~30 s): GPMF → GPX on a sparse 4 GB MP4, against ffmpeg when installed.
bench-telemetry: $(VENV)/.installed
	$(PY) -m bench.telemetry $(TELEMETRY_BENCH_ARGS)

# System test (root, ~2 min; ~2 more the first time: debootstrap, cached in
# /var/cache/gopro-manager-systemtest): install.sh and the hardened unit under a real
# systemd in a systemd-nspawn container joined to the emulated car, for a Bookworm and a
# Trixie root, route and bind mode (SYSTEM_TEST_ARGS="--suite trixie --mode route").
system-test: $(VENV)/.installed
	$(PY) -m tests.system.run $(SYSTEM_TEST_ARGS)

# Install on the Pi (root; README "Install in the car"): the same install.sh the system test runs.
install:
	bash ./install.sh

uninstall:
	bash ./install.sh --uninstall

demo: $(VENV)/.installed
	$(PY) gopro_manager.py demo

clean:
	rm -rf $(VENV) $(SDK_VENV) .pytest_cache .hypothesis
