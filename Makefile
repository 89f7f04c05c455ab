# hongguan: `make run` starts everything on embedded defaults; `make test` runs the whole suite.
# Both create .venv and install what they need, so they work on a fresh clone.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Reinstall whenever pyproject.toml changes.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint format bench venv postgres system-packages screenshots clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $@

venv: $(STAMP)

# Debian packages the tests drive for real: PostgreSQL for the concurrency tests and the backup/restore check,
# nginx and systemd-analyze for the deploy/ files, chromium and chromium-driver for the console's browser tests.
# Installed only when missing; services are not started (policy-rc.d answers 101, "action forbidden", while apt runs).
SYSTEM_TOOLS := initdb:postgresql nginx:nginx-light systemd-analyze:systemd chromium:chromium chromedriver:chromium-driver

system-packages:
	@missing=""; for pair in $(SYSTEM_TOOLS); do tool=$${pair%%:*}; pkg=$${pair#*:}; \
		if command -v $$tool >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/$$tool /usr/sbin/$$tool >/dev/null 2>&1; \
		then :; else missing="$$missing $$pkg"; fi; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq; \
		if [ -e /usr/sbin/policy-rc.d ]; then keep=1; else keep=; \
			printf '#!/bin/sh\nexit 101\n' | $$SUDO tee /usr/sbin/policy-rc.d >/dev/null; $$SUDO chmod +x /usr/sbin/policy-rc.d; fi; \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql-contrib $$missing >/dev/null; \
		[ -n "$$keep" ] || $$SUDO rm -f /usr/sbin/policy-rc.d; \
	fi

# Kept as a name of its own for `make bench`.
postgres: system-packages

# `make run PORT=18000 SANDBOX_PORT=18100 HOST=0.0.0.0`: each is optional (defaults 5000, 5100, 127.0.0.1).
run: venv
	$(BIN)/hongguan run $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT)) $(if $(SANDBOX_PORT),--sandbox-port $(SANDBOX_PORT))

test: venv system-packages
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: venv postgres
	$(BIN)/python bench/webhook.py
	$(BIN)/python bench/nlp.py
	$(BIN)/python bench/appeals.py
	$(BIN)/python bench/miniapp.py
	$(BIN)/python bench/wechat_client.py

# PNGs of the console's main pages at 360 px and 1280 px under docs/console/ (shown in the README), taken in
# Debian's headless chromium; a CJK font is installed when missing so Chinese does not render as boxes.
screenshots: venv system-packages
	@fc-list :lang=zh | grep -q . || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq fonts-wqy-microhei >/dev/null; }
	CONSOLE_SCREENSHOTS=$(CURDIR)/docs/console $(BIN)/python -m pytest -q tests/console/pages/test_screenshots.py \
		tests/console/pages/test_screenshots_volunteers.py \
		tests/console/pages/test_cobuilding_browser.py::test_screenshots_of_the_cobuilding_pages

clean:
	rm -rf $(VENV) instance *.egg-info
