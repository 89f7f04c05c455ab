# hongguan: `make run` starts everything on embedded defaults; `make test` runs the whole suite.
# Both create .venv and install what they need, so they work on a fresh clone.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Reinstall whenever pyproject.toml changes.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint format bench venv postgres clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $@

venv: $(STAMP)

# The concurrency tests need a real PostgreSQL server; install Debian's package if initdb is missing.
postgres:
	@if command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then :; else \
		echo "installing PostgreSQL (initdb not found)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql postgresql-contrib >/dev/null; \
	fi

# `make run PORT=18000 SANDBOX_PORT=18100 HOST=0.0.0.0`: each is optional (defaults 5000, 5100, 127.0.0.1).
run: venv
	$(BIN)/hongguan run $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT)) $(if $(SANDBOX_PORT),--sandbox-port $(SANDBOX_PORT))

test: venv postgres
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: venv postgres
	$(BIN)/python bench/webhook.py
	$(BIN)/python bench/nlp.py
	$(BIN)/python bench/appeals.py
	$(BIN)/python bench/miniapp.py
	$(BIN)/python bench/wechat_client.py

clean:
	rm -rf $(VENV) instance *.egg-info
