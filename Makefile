# The two commands of the README: `make demo` and `make test`.
# Everything they need is installed here, from PyPI (and npm for the Azure emulator).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint check-types unit ray-tests chaos clean bench

AZURITE := .cache/azurite/node_modules/azurite/package.json

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP)-examples: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[examples]"
	touch $@

$(STAMP)-test: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

$(STAMP)-bench: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	touch $@

# The test extra includes the examples extra: after `make test`, `make demo` installs nothing.
DEMO_STAMP := $(if $(wildcard $(STAMP)-test),$(STAMP)-test,$(STAMP)-examples)

## make demo: batch inference over the bundled MNIST digits with an ONNX model.
demo: $(DEMO_STAMP)
	$(BIN)/python examples/mnist/demo.py

## make test: linters, type checks and the whole test suite (the chaos tests at small
## scale, the Ray tests in their own network namespace).
test: $(STAMP)-test lint check-types unit ray-tests

lint: $(STAMP)-test
	$(BIN)/ruff check src tests examples bench
	$(BIN)/ruff format --check src tests examples bench

check-types: $(STAMP)-test
	$(BIN)/mypy

# Chromium for the dashboard's browser tests (tests/ui): Debian's package, driven by
# Playwright (never `playwright install`, which downloads a browser). CI runs as root;
# elsewhere apt-get runs through sudo. The unit tests need it.
.PHONY: chromium
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
		$$SUDO apt-get update && $$SUDO apt-get install -y chromium; }
unit: chromium

# Azurite, the Azure Blob emulator the service tests start on 127.0.0.1 (npm, pinned).
$(AZURITE):
	npm install --prefix .cache/azurite azurite@3.37.0 --no-audit --no-fund

# pytest exits 5 when it collects no test: that is not a failure of the suite.
unit: $(STAMP)-test $(AZURITE)
	$(BIN)/python -m pytest -m "not ray"; status=$$?; [ $$status -eq 5 ] && exit 0; exit $$status

# The Ray tests (tests/cluster) start a real two-node cluster on 127.0.0.1. Ray probes cloud
# metadata addresses and, in the machine's own network namespace, swaps 127.0.0.1 for the
# external address; so they run in a private network and PID namespace (needs root, as CI
# has), where only `lo` exists and every Ray process ends with the command. HOME is a fresh
# folder holding an empty ray_bootstrap_config.yaml (it stops the metadata probe).
ray-tests: $(STAMP)-test $(AZURITE)
	unshare -n -p -f --mount-proc bash -c ' \
	  ip link set lo up; \
	  export RAY_USAGE_STATS_ENABLED=0 RAY_AUTH_MODE=disabled SHARDRUN_RAY_TESTS=1; \
	  export HOME="$$(mktemp -d)"; echo "{}" > "$$HOME/ray_bootstrap_config.yaml"; \
	  $(BIN)/python -m pytest -m ray; status=$$?; rm -rf "$$HOME"; \
	  [ $$status -eq 5 ] && exit 0; exit $$status'

## make bench: shardrun against a Pool, Ray Data and Dask (SCALE=0.1 for a quick look).
# Prints the targets table; writes bench/results/latest.json and latest.png.
bench: $(STAMP)-bench
	SCALE=$${SCALE:-1} $(BIN)/python -m bench

## make chaos: the chaos tests at soak scale (thousands of kills, 20+ minutes), then the
## figure line: runs, worker kills, driver kills, rows lost, rows duplicated, orphans.
## (`make test` plays them once each, in under two minutes.)
CHAOS_SCALE ?= 40
chaos: $(STAMP)-test
	SHARDRUN_CHAOS_SCALE=$(CHAOS_SCALE) $(BIN)/python -m pytest -m chaos tests/chaos -q

clean:
	rm -rf $(VENV) .cache .mypy_cache .ruff_cache .pytest_cache examples/mnist/build bench/results bench/.data
