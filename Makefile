# The two front doors: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint typecheck test-sdk test-server demo install system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Reinstall only when a distribution's metadata changes.
$(STAMP): $(BIN)/python sdk/pyproject.toml server/pyproject.toml
	$(BIN)/pip install -q -e 'sdk[test]' -e 'server[test]' ruff opentelemetry-sdk
	touch $(STAMP)

install: $(STAMP)

system-deps:
	bash scripts/install-system-deps.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy sdk/src
	$(BIN)/mypy server/src

test-sdk: install
	$(BIN)/pytest protocol/tests sdk/tests

test-server: install system-deps
	@if find server/tests -name 'test_*.py' 2>/dev/null | grep -q .; then $(BIN)/pytest server/tests tests_e2e; \
	else echo "server: no tests yet"; fi

test: lint typecheck test-sdk test-server

# HiveBoard on SQLite in .demo-data plus a simulated fleet; Ctrl-C stops both (demo/run.py).
# DEMO_PORT (8080), DEMO_SPEED (1), DEMO_DURATION (seconds, default: until Ctrl-C).
demo: install
	$(BIN)/python -m demo.run

.PHONY: demo-reset
demo-reset:
	rm -rf .demo-data

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache
