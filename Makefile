# LayerForge: `make run` opens the app, `make test` runs the whole suite.
# Both create .venv on first use. Python 3.12+ is preferred (PySide6 6.12 aborts 3.11).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
export LAYERFORGE_CACHE_DIR ?= $(CURDIR)/.cache/layerforge

# The first interpreter that actually runs (pyenv shims exist for versions that are not active).
PYTHON ?= $(shell for p in python3.13 python3.12 \
	$$(ls -d $$HOME/.pyenv/versions/3.13*/bin/python3 2>/dev/null) \
	$$(ls -d $$HOME/.pyenv/versions/3.12*/bin/python3 2>/dev/null) \
	python3; do if $$p -c 'import sys; assert sys.version_info >= (3, 11)' >/dev/null 2>&1; \
	then echo $$p; break; fi; done)

QT_LIBS := libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 \
	libxcb-render-util0 libxcb-shape0 libegl1 libgl1 libfontconfig1 libdbus-1-3

.PHONY: run test test-slow lint bench screenshots clean venv qt-libs system-deps postgres bytecode

# Debian packages the tests use: Graphviz's `dot` renders PNG/SVG diagrams.
TEST_DEBS := graphviz

$(VENV)/bin/python:
	@test -n "$(PYTHON)" || { echo "No Python 3.11+ found: install python3.12 or newer."; exit 1; }
	@echo "Creating $(VENV) with $(PYTHON) ($$($(PYTHON) --version))"
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[deploy,dashboard]'
	@touch $@

$(TEST_STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP) $@

venv: $(STAMP)

# An editable install leaves our own modules uncompiled. Where PYTHONDONTWRITEBYTECODE is set
# (as in the sandbox this project is built in) every process would compile them again as it
# starts: the window, each training child, the Keras worker. compileall writes them once, and
# again only for the files changed since.
bytecode: | $(VENV)/bin/python
	@$(PY) -m compileall -q core gui templates >/dev/null

# A real window on Linux needs Qt's xcb plugin and these system libraries.
qt-libs:
	@missing=$$(for p in $(QT_LIBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ] && command -v dpkg >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "Installing Qt's system libraries: $$missing"; \
			apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; \
		else \
			echo "Qt needs these system libraries for a window (xcb plugin): $$missing"; \
			echo "Install them with: sudo apt-get install $$missing"; \
		fi; \
	fi

# Installed when running as root on Debian (CI); otherwise the tests that need them skip,
# saying which package is missing.
system-deps:
	@missing=$$(for p in $(TEST_DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ] && command -v dpkg >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "Installing test packages: $$missing"; \
			apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; \
		else \
			echo "Tests that need these Debian packages will skip: $$missing"; \
			echo "Install them with: sudo apt-get install $$missing"; \
		fi; \
	fi

# A throwaway PostgreSQL server for the shared-study test (scripts/test-postgres.sh); the
# Debian package is installed when running as root, otherwise that test skips and says why.
postgres:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "Installing test packages: postgresql"; \
			apt-get update -qq && apt-get install -y -qq postgresql >/dev/null; \
		else \
			echo "The PostgreSQL study test will skip: install it with sudo apt-get install postgresql"; \
		fi; }
	@bash scripts/test-postgres.sh start >/dev/null || echo "The PostgreSQL study test will skip"

run: $(STAMP) bytecode qt-libs
	$(VENV)/bin/layerforge

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check core gui templates tests bench
	$(VENV)/bin/lint-imports

test: $(TEST_STAMP) bytecode system-deps lint postgres
	LAYERFORGE_TEST_POSTGRES_URL=$$(bash scripts/test-postgres.sh url 2>/dev/null) \
		QT_QPA_PLATFORM=offscreen $(VENV)/bin/python -m pytest -q; \
		status=$$?; bash scripts/test-postgres.sh stop; exit $$status

test-slow: $(TEST_STAMP) bytecode
	QT_QPA_PLATFORM=offscreen $(VENV)/bin/python -m pytest -q -m slow

# Every bench runs; the ones that missed a target (or failed) are named at the end.
bench: $(STAMP) bytecode
	@missed=""; for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || missed="$$missed $$b"; \
	done; if [ -n "$$missed" ]; then echo "missed a target or failed:$$missed"; exit 1; fi

screenshots: $(STAMP) bytecode
	QT_QPA_PLATFORM=offscreen $(PY) scripts/screenshots.py

clean:
	rm -rf $(VENV) .cache build *.egg-info
