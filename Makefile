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

test-sdk: install
	$(BIN)/pytest protocol/tests sdk/tests

test-server: install system-deps
	@if find server/tests -name 'test_*.py' 2>/dev/null | grep -q .; then $(BIN)/pytest server/tests tests_e2e; \
	else echo "server: no tests yet"; fi

test: lint typecheck test-sdk test-server

demo:
	@echo "HiveBoard (the server and dashboard) is not built yet, so there is no demo to run."
	@echo "Track progress in the server issue; the HiveLoop SDK is usable today (see sdk/README.md)."
	@exit 1

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache
