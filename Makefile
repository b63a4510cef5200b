# Two entry points: `make demo` runs the product offline, `make test` installs and checks everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo chat serve test install browser lint typecheck imports pytest conversations compose bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/causette demo

chat: install
	$(BIN)/causette chat examples/flows/appointment.yaml --contact first_name=Ana

serve: install
	$(BIN)/causette serve --config examples/bots.yaml

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

imports: install
	$(BIN)/lint-imports

# The phone simulator's browser test drives Debian's Chromium (root installs it; Playwright
# never downloads a browser).
CHROMIUM := /usr/bin/chromium

$(CHROMIUM):
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y chromium

browser: $(CHROMIUM)

pytest: install browser
	$(BIN)/pytest

# docker-compose.yml is checked by Debian's docker-compose (root installs it), which parses and
# resolves the file without a Docker engine: this machine has none to run it.
DOCKER_COMPOSE := /usr/bin/docker-compose

$(DOCKER_COMPOSE):
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y docker-compose

compose: $(DOCKER_COMPOSE)
	$(DOCKER_COMPOSE) -f docker-compose.yml config -q

conversations: install
	$(BIN)/causette validate examples/flows
	$(BIN)/causette test examples/tests

test: lint typecheck imports conversations compose pytest

bench: install
	$(BIN)/python benchmarks/flow_step.py
	$(BIN)/python benchmarks/store.py --quick

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
